"""Benchmark: reconciliation of 1,000,000 subscriptions across 1,000 software models.

Builds a synthetic organisation straight into a fresh store (SQLite file, and PostgreSQL at
``--pg-url`` whose public schema it DROPS), then measures in a separate process:

- ``reconcile``: the position per model (no write), first run and best of three;
- ``record``: reconcile and store the run with its 1,000 positions, committed;
- peak memory: the Python heap during one reconcile (tracemalloc) and the measuring
  process's peak RSS (``ru_maxrss``, interpreter and libraries included).

Target: under 1 s on each store.

    python bench/reconcile.py [--subscriptions 1000000] [--models 1000] [--pg-url URL]

Prints a Markdown table (docs/benchmarks.md, section "Reconciliation").
"""

from __future__ import annotations

import argparse
import json
import random
import resource
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


def build(
    url: str, subscriptions: int, models: int, seed: int = 1, *, rules: bool = True
) -> dict[str, Any]:
    """A fresh store holding the synthetic organisation (``rules``: a reclamation rule per
    model; the same data otherwise)."""
    from shelfware.kit.db import Database, bulk_insert
    from shelfware.models import (
        Entitlement,
        IntegrationProfile,
        Person,
        ReclamationRule,
        RemovalCandidate,
        SoftwareModel,
        Subscription,
    )
    from shelfware.store import upgrade

    rng = random.Random(seed)
    db = Database.from_url(url)
    upgrade(db.engine)
    started = time.perf_counter()
    people = subscriptions * 2 // 5
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
        if rules:
            bulk_insert(
                conn,
                ReclamationRule.__table__,
                [
                    "id",
                    "software_model_id",
                    "threshold_days",
                    "notify",
                    "auto_reclaim_days",
                    "approval_required",
                    "exclude_admins",
                    "excluded_users",
                    "excluded_domains",
                    "excluded_groups",
                    "service_account_patterns",
                    "approvers",
                    "new_account_grace",
                    "keep_days",
                    "active",
                    "created_at",
                    "updated_at",
                ],
                [
                    (
                        m,
                        m,
                        (30, 60, 90)[m % 3],
                        False,
                        7,
                        False,
                        True,
                        "[]",
                        "[]",
                        "[]",
                        "[]",
                        "[]",
                        m % 7 != 0,
                        90,
                        True,
                        NOW,
                        NOW,
                    )
                    for m in range(1, models + 1)
                ],
                instants=frozenset({15, 16}),
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
                        ends,
                        ends - timedelta(days=60),
                        f"C-{m}-{k}",
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
                "renewal_date",
                "notice_date",
                "contract_ref",
                "created_at",
            ],
            ents,
            instants=frozenset({10}),
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
                (
                    p,
                    f"p{p}",
                    "rally",
                    "published",
                    "https://x.example",
                    "api-token",
                    "{}",
                    True,
                    True,
                    NOW,
                    NOW,
                    NOW,
                    NOW,
                )
                for p in range(1, PROFILES + 1)
            ],
            instants=frozenset({9, 10, 11, 12}),
        )
        for start in range(0, people, CHUNK):
            bulk_insert(
                conn,
                Person.__table__,
                ["id", "email", "created_at"],
                [
                    (i, f"u{i}@example.com", NOW)
                    for i in range(start + 1, min(people, start + CHUNK) + 1)
                ],
                instants=frozenset({2}),
            )
        for start in range(0, subscriptions, CHUNK):
            rows = []
            for i in range(start, min(subscriptions, start + CHUNK)):
                idle = rng.random()
                rows.append(
                    (
                        i % PROFILES + 1,
                        i % models + 1,
                        str(i),
                        rng.random() < 0.95,
                        "Pro",
                        NOW - timedelta(days=rng.randint(0, 800)),
                        None if idle < 0.1 else NOW - timedelta(days=rng.randint(0, 200)),
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
                    "created_in_app_at",
                    "last_activity_at",
                    "first_seen_at",
                    "gone_at",
                    "person_id",
                    "admin",
                ],
                rows,
                instants=frozenset({5, 6, 7, 8}),
            )
        closed = min(20_000, subscriptions)
        bulk_insert(
            conn,
            RemovalCandidate.__table__,
            [
                "subscription_id",
                "profile_id",
                "software_model_id",
                "state",
                "justification",
                "created_at",
                "updated_at",
                "closed_at",
            ],
            [
                (
                    i + 1,
                    i % PROFILES + 1,
                    i % models + 1,
                    "closed_complete",
                    "low_usage",
                    NOW,
                    NOW,
                    NOW - timedelta(days=rng.randint(0, 400)),
                )
                for i in range(closed)
            ],
            instants=frozenset({5, 6, 7}),
        )
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
    if db.engine.dialect.name == "postgresql":
        # What autovacuum does after a bulk load: statistics, and the visibility map that
        # lets the covering index answer without reading the table.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    db.dispose()
    return {"build_seconds": time.perf_counter() - started}


def measure(url: str) -> dict[str, Any]:
    """In its own process: reconcile timings and memory."""
    from shelfware.kit.clock import FrozenClock
    from shelfware.kit.db import Database
    from shelfware.licensing import service

    db = Database.from_url(url)
    times = []
    rows: list[Any] = []
    for _ in range(3):
        with db.sessions() as session:
            started = time.perf_counter()
            rows = service.reconcile(session, NOW)
            times.append(time.perf_counter() - started)
    with db.transaction() as session:
        started = time.perf_counter()
        service.record_reconciliation(session, FrozenClock(NOW), NOW)
        session.flush()
    record = time.perf_counter() - started
    tracemalloc.start()
    with db.sessions() as session:
        service.reconcile(session, NOW)
    _, heap = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    db.dispose()
    return {
        "first": times[0],
        "best": min(times),
        "record": record,
        "heap_mb": heap / 2**20,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "models": len(rows),
        "seats_used": sum(r.rights_used for r in rows),
        "stale": sum(r.stale for r in rows),
    }


def child(mode: str, *args: str) -> dict[str, Any]:
    return run_child(HERE, mode, *args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--pg-url", default="")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    measured = stores(Path(tmp.name), "" if args.sqlite_only else args.pg_url)
    print(
        "| store | subscriptions | models | build | reconcile (first) | reconcile (best of 3) "
        "| reconcile + store | Python heap peak | peak RSS |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, url in measured:
        built = child("build", url, str(args.subscriptions), str(args.models))
        got = child("measure", url)
        print(
            f"| {name} | {args.subscriptions:,} | {got['models']:,} | "
            f"{built['build_seconds']:.1f} s | {got['first']:.3f} s | **{got['best']:.3f} s** | "
            f"{got['record']:.3f} s | {got['heap_mb']:.1f} MB | {got['rss_mb']:.0f} MB |",
            flush=True,
        )
    tmp.cleanup()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "build":
        print(json.dumps(build(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "measure":
        print(json.dumps(measure(sys.argv[2])))
    else:
        main()
