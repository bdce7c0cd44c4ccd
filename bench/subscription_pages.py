"""Benchmark: one page of the subscriptions listing (the API's GET /subscriptions) at scale.

Loads ``--rows`` subscriptions into a fresh store (it DROPs the schema of a PostgreSQL URL),
then times the median of five reads of: the first and the 21st page of each sort, both
directions; a search by the start of a user name or email (frequent, rare, absent); idle
accounts; admins. Every one is keyset paging over an index, so none should grow with the rows.

    python bench/subscription_pages.py --url sqlite:////tmp/pages.db [--rows 1000000]
    python bench/subscription_pages.py --url postgresql+psycopg://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import text

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database, bulk_insert, refresh_statistics
from shelfware.models import Subscription
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.store import upgrade
from shelfware.subscriptions import service
from shelfware.subscriptions.schemas import SubscriptionPage, SubscriptionPageQuery

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
COLUMNS = [
    "profile_id", "software_model_id", "external_id", "username", "email", "active", "admin",
    "edition", "last_activity_at", "first_seen_at",
]  # fmt: skip


def load(db: Database, rows: int) -> None:
    clock, keys = FrozenClock(NOW), KeyRing([Fernet.generate_key()])
    with db.transaction() as session:
        model = profiles.ensure_software_model(session, clock, "Broadcom", "Rally", "Unlimited")
        profile = profiles.create_profile(
            session,
            keys,
            clock,
            ProfileCreate(
                kind="rally",
                name="rally",
                url="https://rally1.rallydev.com/slm/webservice",
                secrets={"api_key": "k"},
            ),
        )
        model_id, profile_id = model.id, profile.id
    rng = random.Random(1)
    with db.engine.begin() as conn:
        for start in range(0, rows, 100_000):
            batch = [
                (
                    profile_id,
                    model_id,
                    f"u{i}",
                    f"user{rng.randrange(10**7):07d}",
                    f"u{i}@x.test",
                    rng.random() > 0.05,
                    rng.random() < 0.01,
                    "Unlimited",
                    None if rng.random() < 0.2 else NOW - timedelta(days=rng.randrange(400)),
                    NOW,
                )
                for i in range(start, min(rows, start + 100_000))
            ]
            bulk_insert(conn, Subscription.__table__, COLUMNS, batch, instants=frozenset({8, 9}))
        refresh_statistics(conn, "subscription")


def timed(db: Database, **query: Any) -> tuple[SubscriptionPage, float]:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        with db.sessions() as session:
            page = service.page_subscriptions(session, SubscriptionPageQuery(limit=50, **query))
        times.append((time.perf_counter() - start) * 1000)
    return page, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    db = Database.from_url(args.url)
    if args.url.startswith("postgresql"):
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(db.engine)
    started = time.perf_counter()
    load(db, args.rows)
    print(f"{args.rows:,} subscriptions loaded in {time.perf_counter() - started:.0f} s\n")
    print("| listing | ms (median of 5) |\n| --- | ---: |")
    for sort in ("id", "username", "last_activity_at"):
        for descending in (False, True):
            page, first = timed(db, sort=sort, descending=descending)
            cursor = page.next_cursor
            for _ in range(20):
                with db.sessions() as session:
                    cursor = service.page_subscriptions(
                        session,
                        SubscriptionPageQuery(
                            limit=50, sort=sort, descending=descending, cursor=cursor
                        ),
                    ).next_cursor
            _, deep = timed(db, sort=sort, descending=descending, cursor=cursor)
            order = f"{sort}{' desc' if descending else ''}"
            print(f"| {order}: page 1 | {first:.1f} |\n| {order}: page 21 | {deep:.1f} |")
    for label, query in (
        ("q=user1 (frequent)", {"q": "user1"}),
        ("q=user12345 (rare)", {"q": "user12345"}),
        ("q=nobody (absent)", {"q": "nobody"}),
        ("idle 300 days, by last activity", {"idle_since": NOW - timedelta(days=300),
                                             "sort": "last_activity_at"}),
        ("admins", {"admin": True}),
    ):  # fmt: skip
        print(f"| {label} | {timed(db, **query)[1]:.1f} |")
    db.dispose()


if __name__ == "__main__":
    main()
