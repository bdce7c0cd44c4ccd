"""Benchmark: an access review campaign over 100,000 seats, and its evidence export.

Builds a synthetic organisation straight into a fresh store (SQLite file, and PostgreSQL at
``--pg-url`` whose public schema it DROPS): 100,000 seats of five apps in one profile, held by
60,000 people imported from an identity provider with managers (by id, by login, by email),
a model owner on some apps. Then measures:

- ``start``: ``reviews.create_campaign`` over every seat (snapshot and reviewer assignment,
  set-based), committed. Target: under 10 s.
- ``export``: the campaign's report streamed as CSV and as JSON (every row read, outcome
  computed, written to a sink). Target: at least 50,000 rows/s.

    python bench/reviews.py [--seats 100000] [--pg-url URL]

Prints a Markdown table (docs/benchmarks.md, section "Access reviews").
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vendor_common import stores  # bench/ is on sys.path when run as a script

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MODELS = 5
CHUNK = 50_000


def build(url: str, seats: int) -> float:
    from shelfware.kit.db import Database, bulk_insert
    from shelfware.models import (
        IntegrationProfile,
        Person,
        ReclamationRule,
        SoftwareModel,
        Subscription,
    )
    from shelfware.store import upgrade

    db = Database.from_url(url)
    upgrade(db.engine)
    started = time.perf_counter()
    people = seats * 3 // 5
    bosses = max(1, people // 50)
    with db.engine.begin() as conn:
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
                    name,
                    kind,
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
                for p, name, kind in ((1, "okta", "okta"), (2, "apps", "rally"))
            ],
            instants=frozenset({9, 10, 11, 12}),
        )
        bulk_insert(
            conn,
            SoftwareModel.__table__,
            ["id", "publisher", "product", "edition", "list_price", "currency", "created_at"],
            [(m, "Pub", f"App{m}", "Pro", "120", "USD", NOW) for m in range(1, MODELS + 1)],
            instants=frozenset({6}),
        )
        bulk_insert(
            conn,
            ReclamationRule.__table__,
            [
                "software_model_id",
                "approvers",
                "excluded_users",
                "excluded_domains",
                "excluded_groups",
                "service_account_patterns",
                "threshold_days",
                "notify",
                "auto_reclaim_days",
                "approval_required",
                "exclude_admins",
                "new_account_grace",
                "keep_days",
                "active",
                "created_at",
                "updated_at",
            ],
            [
                (
                    1,
                    '["owner@example.com"]',
                    "[]",
                    "[]",
                    "[]",
                    "[]",
                    60,
                    False,
                    7,
                    False,
                    True,
                    True,
                    90,
                    True,
                    NOW,
                    NOW,
                )
            ],
            instants=frozenset({14, 15}),
        )
        for start in range(0, people, CHUNK):
            rows = []
            for i in range(start + 1, min(people, start + CHUNK) + 1):
                boss = (i % bosses) + 1
                ref = (f"00u{boss}", f"u{boss}@example.com")[i % 2] if i > bosses else None
                rows.append(
                    (
                        i,
                        f"u{i}@example.com",
                        NOW,
                        1,
                        f"00u{i}",
                        f"u{i}@example.com",
                        "ACTIVE",
                        ref,
                        f"Dept{i % 20}",
                    )
                )
            bulk_insert(
                conn,
                Person.__table__,
                [
                    "id",
                    "email",
                    "created_at",
                    "idp_profile_id",
                    "idp_user_id",
                    "idp_login",
                    "idp_status",
                    "idp_manager_id",
                    "department",
                ],
                rows,
                instants=frozenset({2}),
            )
        for start in range(0, seats, CHUNK):
            rows = []
            for i in range(start, min(seats, start + CHUNK)):
                rows.append(
                    (
                        2,
                        i % MODELS + 1,
                        str(i),
                        f"u{i % people + 1}@example.com",
                        True,
                        "Pro",
                        NOW - timedelta(days=i % 700),
                        NOW - timedelta(days=i % 90),
                        NOW - timedelta(days=800),
                        i % people + 1,
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
                    "email",
                    "active",
                    "edition",
                    "created_in_app_at",
                    "last_activity_at",
                    "first_seen_at",
                    "person_id",
                    "admin",
                ],
                rows,
                instants=frozenset({6, 7, 8}),
            )
    with db.engine.begin() as conn:
        from shelfware.kit.db import refresh_statistics

        refresh_statistics(conn, "person", "subscription")
    db.dispose()
    return time.perf_counter() - started


def measure(url: str) -> dict[str, Any]:
    from shelfware.kit.clock import FrozenClock
    from shelfware.kit.db import Database
    from shelfware.reviews import export
    from shelfware.reviews import service as reviews
    from shelfware.reviews.schemas import CampaignCreate

    db = Database.from_url(url)
    clock = FrozenClock(NOW)
    started = time.perf_counter()
    with db.transaction() as session:
        view = reviews.create_campaign(
            session,
            clock,
            CampaignCreate(
                name="bench",
                scope="profile=apps",
                due=NOW + timedelta(days=14),
                owner="ciso@example.com",
            ),
        )
    start_seconds = time.perf_counter() - started
    rates = {}
    for fmt in ("csv", "json"):
        written = 0
        started = time.perf_counter()
        with db.sessions() as session:
            progress = reviews.progress(session, view.id)
            records = reviews.report_records(session, view.id)
            for chunk in export.chunks(fmt, view, progress, records, NOW):
                written += len(chunk)
        seconds = time.perf_counter() - started
        rates[fmt] = (view.items / seconds, written / seconds / 1e6)
    db.dispose()
    return {
        "items": view.items,
        "start": start_seconds,
        "rates": rates,
        "unassigned": view.unassigned,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seats", type=int, default=100_000)
    parser.add_argument("--pg-url", default="")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    measured = stores(Path(tmp.name), args.pg_url)
    print("| store | seats | build | campaign start | CSV export | JSON export |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, url in measured:
        built = build(url, args.seats)
        got = measure(url)
        csv_rate, json_rate = got["rates"]["csv"], got["rates"]["json"]
        print(
            f"| {name} | {got['items']:,} | {built:.1f} s | **{got['start']:.2f} s** | "
            f"**{csv_rate[0]:,.0f} rows/s** ({csv_rate[1]:.1f} MB/s) | "
            f"{json_rate[0]:,.0f} rows/s ({json_rate[1]:.1f} MB/s) |",
            flush=True,
        )
    tmp.cleanup()


if __name__ == "__main__":
    main()
