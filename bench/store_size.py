"""Benchmark: what the store weighs per subscription, on SQLite and PostgreSQL.

It builds the synthetic organisation of ``bench/reconcile.py`` (subscriptions over 10
profiles, two people per five seats, a rule, an entitlement and open candidates per model) and
reports each table's size with its indexes, and the bytes per subscription. docs/scaling.md
extrapolates from these figures.

    python bench/store_size.py [--subscriptions 200000] [--models 200] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from reconcile import build  # bench/ is on sys.path when run as a script
from sync_rally import pg_answers, reset_postgres

PG_SIZES = """
SELECT c.relname, pg_total_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r'
ORDER BY 2 DESC
"""
SQLITE_SIZES = """
SELECT coalesce(m.tbl_name, s.name), sum(s.pgsize)
FROM dbstat s LEFT JOIN sqlite_master m ON m.name = s.name
GROUP BY 1 ORDER BY 2 DESC
"""


def sizes(url: str) -> list[tuple[str, int]]:
    """(table, bytes with its indexes), largest first."""
    from shelfware.kit.db import Database

    db = Database.from_url(url)
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")
            rows = conn.exec_driver_sql(PG_SIZES).all()
        else:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            rows = conn.exec_driver_sql(SQLITE_SIZES).all()
    db.dispose()
    return [(str(name), int(size)) for name, size in rows]


def report(store: str, subscriptions: int, found: list[tuple[str, int]]) -> list[str]:
    total = sum(size for _, size in found)
    lines = [
        f"**{store}**, {subscriptions:,} subscriptions: {total / 2**20:,.0f} MiB in all, "
        f"{total / subscriptions:,.0f} bytes per subscription",
        "",
        "| table (with its indexes) | MiB | bytes per subscription |",
        "| --- | ---: | ---: |",
    ]
    for name, size in found[:8]:
        lines.append(f"| {name} | {size / 2**20:,.1f} | {size / subscriptions:,.0f} |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=200_000)
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'size.db'}"
        build(url, args.subscriptions, args.models)
        lines += report("SQLite", args.subscriptions, sizes(url))
    if pg_answers(args.pg_url):
        reset_postgres(args.pg_url)
        build(args.pg_url, args.subscriptions, args.models)
        lines += report("PostgreSQL", args.subscriptions, sizes(args.pg_url))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
