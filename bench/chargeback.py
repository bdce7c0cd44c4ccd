"""Benchmark: the chargeback report over 1,000,000 subscriptions, 20,000 people (with
departments, cost centres and some overrides) and 1,000 software models.

Builds a synthetic organisation straight into a fresh store (SQLite file, and PostgreSQL at
``--pg-url`` whose public schema it DROPS), then measures in a separate process the report
(by department and by cost centre): first run and best of three, and the Python heap peak.

Target: under 2 s on each store.

    python bench/chargeback.py [--subscriptions 1000000] [--people 20000] [--models 1000]
                               [--pg-url URL] [--sqlite-only]

Prints a Markdown table (docs/benchmarks.md, section "Chargeback").
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from vendor_common import child as run_child  # bench/ is on sys.path when run as a script
from vendor_common import stores

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HERE = Path(__file__).resolve()
PROFILES = 10
CHUNK = 100_000
DEPARTMENTS = [f"Department {d:02d}" for d in range(20)]
ON = (True, True, NOW, NOW, NOW, NOW)  # a profile's flags and instants


def build(url: str, subscriptions: int, people: int, models: int, seed: int = 1) -> dict[str, Any]:
    """A fresh store holding the synthetic organisation."""
    from shelfware.kit.db import Database, bulk_insert
    from shelfware.models import (
        Entitlement,
        IntegrationProfile,
        Person,
        SoftwareModel,
        Subscription,
    )
    from shelfware.store import upgrade

    rng = random.Random(seed)
    db = Database.from_url(url)
    upgrade(db.engine)
    started = time.perf_counter()
    with db.engine.begin() as conn:
        bulk_insert(
            conn,
            SoftwareModel.__table__,
            ["id", "publisher", "product", "edition", "list_price", "currency", "created_at"],
            [
                (m, f"Pub{m % 50}", f"Product{m}", "Pro", "120" if m % 3 == 0 else None, "USD", NOW)
                for m in range(1, models + 1)
            ],
            instants=frozenset({6}),
        )
        ents = []
        for m in range(1, models + 1):
            for k in range(rng.randint(1, 3)):
                ends = NOW.date() - timedelta(days=30) if k == 2 else date(2027, 6, 30)
                ents.append(
                    (
                        m,
                        rng.randint(200, 1500),
                        str(Decimal(rng.randint(100, 9000)) / 100),
                        "EUR" if m % 10 == 0 else "USD",
                        "monthly" if k == 1 else "annual",
                        date(2026, 1, 1),
                        ends,
                        NOW,
                    )
                )
        bulk_insert(
            conn,
            Entitlement.__table__,
            [
                "software_model_id",
                "seats",
                "unit_cost",
                "currency",
                "billing_period",
                "term_start",
                "term_end",
                "created_at",
            ],
            ents,
            instants=frozenset({7}),
        )
        bulk_insert(
            conn,
            IntegrationProfile.__table__,
            [
                "id",
                "name",
                "kind",
                "status",
                "url",
                "auth",
                "options",
                "process_activity",
                "process_reclaim",
                "analyze_activity_from",
                "created_at",
                "updated_at",
                "connection_changed_at",
            ],
            [
                (p, f"p{p}", "rally", "published", "https://x.example", "api-token", "{}", *ON)
                for p in range(1, PROFILES + 1)
            ],
            instants=frozenset({9, 10, 11, 12}),
        )
        person_rows = []
        for i in range(1, people + 1):
            has = rng.random() < 0.9  # one in ten has no department: the "unknown" row
            dept = rng.choice(DEPARTMENTS) if has else None
            cost = f"CC-{rng.randint(100, 199)}" if has and rng.random() < 0.95 else None
            override = rng.choice(DEPARTMENTS) if rng.random() < 0.03 else None
            person_rows.append((i, f"u{i}@example.com", NOW, dept, cost, override))
        bulk_insert(
            conn,
            Person.__table__,
            ["id", "email", "created_at", "department", "cost_center", "department_override"],
            person_rows,
            instants=frozenset({2}),
        )
        for start in range(0, subscriptions, CHUNK):
            rows = []
            for i in range(start, min(subscriptions, start + CHUNK)):
                rows.append(
                    (
                        i % PROFILES + 1,
                        i % models + 1,
                        str(i),
                        rng.random() < 0.95,
                        "Pro",
                        NOW - timedelta(days=rng.randint(0, 200)),
                        NOW - timedelta(days=900),
                        NOW - timedelta(days=1) if rng.random() < 0.02 else None,
                        rng.randint(1, people) if rng.random() < 0.85 else None,
                        False,
                    )
                )
            bulk_insert(
                conn,
                Subscription.__table__,
                [
                    "profile_id",
                    "software_model_id",
                    "external_id",
                    "active",
                    "edition",
                    "last_activity_at",
                    "first_seen_at",
                    "gone_at",
                    "person_id",
                    "admin",
                ],
                rows,
                instants=frozenset({5, 6, 7}),
            )
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    db.dispose()
    return {"build_seconds": time.perf_counter() - started}


def measure(url: str) -> dict[str, Any]:
    """In its own process: chargeback timings and memory."""
    from shelfware.kit.db import Database
    from shelfware.reports import service

    db = Database.from_url(url)
    result: dict[str, Any] = {}
    for by in ("department", "cost_center"):
        times = []
        for _ in range(3):
            with db.sessions() as session:
                started = time.perf_counter()
                report = service.chargeback(session, NOW, by)  # type: ignore[arg-type]
                times.append(time.perf_counter() - started)
        result[by] = {"first": times[0], "best": min(times), "rows": len(report.rows)}
    tracemalloc.start()
    with db.sessions() as session:
        service.chargeback(session, NOW)
    _, heap = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    db.dispose()
    result["heap_mb"] = heap / 2**20
    return result


def child(mode: str, *args: str) -> dict[str, Any]:
    return run_child(HERE, mode, *args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--pg-url", default="")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    measured = stores(Path(tmp.name), "" if args.sqlite_only else args.pg_url)
    print(
        "| store | subscriptions | people | models | build | by department (first / best of 3) "
        "| by cost centre (first / best of 3) | rows | Python heap peak |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, url in measured:
        built = child("build", url, str(args.subscriptions), str(args.people), str(args.models))
        got = child("measure", url)
        dept, cost = got["department"], got["cost_center"]
        print(
            f"| {name} | {args.subscriptions:,} | {args.people:,} | {args.models:,} | "
            f"{built['build_seconds']:.1f} s | {dept['first']:.3f} s / **{dept['best']:.3f} s** | "
            f"{cost['first']:.3f} s / **{cost['best']:.3f} s** | {dept['rows']:,} | "
            f"{got['heap_mb']:.1f} MB |",
            flush=True,
        )
    tmp.cleanup()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "build":
        print(json.dumps(build(sys.argv[2], *(int(a) for a in sys.argv[3:6]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "measure":
        print(json.dumps(measure(sys.argv[2])))
    else:
        main()
