"""Bench: the listings that read every row before slicing, against their keyset pages (issue 17).

Fills a store as ``web_pages.py`` does (three profiles, N subscriptions in bulk), then adds
people (a tenth of them left the organisation, imported from an identity provider) holding
half of the accounts, and an access review whose reviewer has ``--items`` items. Times, in
process, each listing read whole (what the faces did: ``unmatched_accounts``,
``leavers_holding_seats``, ``rules.dry_run`` with its counts, ``reviews.my_items``) against its
first page and a page deep in the list (``--limit`` rows; the counts shown with a page in SQL).

    python bench/listing_pages.py --sqlite /tmp/listings.db --rows 200000
    python bench/listing_pages.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/x

Quote the figures with the machine's load average (printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import text
from web_pages import NOW, fill  # bench/ is on sys.path when run as a script

from shelfware.directory import service as directory
from shelfware.kit import keyset
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database, bulk_insert, refresh_statistics
from shelfware.models import Person, ReviewCampaign, ReviewItem
from shelfware.reclamation import rules
from shelfware.reviews import service as reviews
from shelfware.store import upgrade

REVIEWER = "boss@example.com"
MODEL = "Broadcom Rally Unlimited"


def add_people_and_review(db: Database, rows: int, items: int) -> int:
    people = max(rows // 4, 1)
    with db.engine.begin() as conn:
        bulk_insert(
            conn,
            Person.__table__,
            ["email", "created_at", "idp_status", "idp_user_id"],
            [
                (f"p{i}@example.com", NOW, "DEPROVISIONED" if i % 10 == 0 else "ACTIVE", f"u{i}")
                for i in range(people)
            ],
            instants=frozenset({1}),
        )
        conn.execute(
            text(f"UPDATE subscription SET person_id = (id % {people}) + 1 WHERE id % 2 = 0")
        )
        campaign = ReviewCampaign.__table__
        conn.execute(
            campaign.insert().values(
                name="bench",
                scope_kind="profile",
                scope_value="rally-bench",
                reviewer_policy="email",
                reviewer_email=REVIEWER,
                owner=REVIEWER,
                created_by="bench",
                created_at=NOW,
                due_at=NOW,
            )
        )
        campaign_id = int(conn.execute(text("SELECT max(id) FROM review_campaign")).scalar_one())
        bulk_insert(
            conn,
            ReviewItem.__table__,
            ["campaign_id", "holder", "username", "app", "edition", "reviewer"],
            [
                (
                    campaign_id,
                    f"p{i % 5000}@example.com",
                    f"u{i}",
                    ["Rally", "Asana", "Roadmunk"][i % 3],
                    "x",
                    REVIEWER if i % 4 else "other@example.com",
                )
                for i in range(items)
            ],
        )
        refresh_statistics(conn, "subscription", "person", "review_item")
    return campaign_id


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    seconds, found = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        found = call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg-url", help="PostgreSQL URL; its public schema is DROPPED")
    parser.add_argument(
        "--sqlite", default="/tmp/listing_pages.db", help="a SQLite file (replaced)"
    )
    args = parser.parse_args()
    if args.pg_url:
        db = Database.from_url(args.pg_url)
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    else:
        Path(args.sqlite).unlink(missing_ok=True)
        db = Database.from_url(f"sqlite:///{args.sqlite}")
    upgrade(db.engine)
    clock = FrozenClock(NOW)
    fill(db, KeyRing([Fernet.generate_key()]), clock, args.rows)
    campaign = add_people_and_review(db, args.rows, args.items)
    n = args.limit

    def whole_and_pages(
        name: str,
        whole: Callable[[Any], list[Any]],
        page: Callable[[Any, str | None], tuple[list[Any], str | None]],
        middle: Callable[[Any], str],
    ) -> None:
        with db.sessions() as session:
            took, everything = timed(lambda: whole(session), args.repeat)
            first, _ = timed(lambda: page(session, None), args.repeat)
            cursor = middle(everything[len(everything) // 2])
            deep, found = timed(lambda: page(session, cursor), args.repeat)
        assert found[0][0] == everything[len(everything) // 2 + 1]
        print(
            f"| {name} | {len(everything):,} | {took * 1000:,.0f} ms | {first * 1000:,.1f} ms |"
            f" {deep * 1000:,.1f} ms |"
        )

    print(f"\nload average before: {os.getloadavg()}; page = {n} rows")
    print("| listing | rows | whole (before) | first page | middle page |")
    print("| --- | ---: | ---: | ---: | ---: |")
    whole_and_pages(
        "directory unmatched",
        directory.unmatched_accounts,
        lambda s, c: directory.unmatched_page(s, c, n),
        lambda r: keyset.encode(directory.UNMATCHED_CURSOR, [r.profile, r.external_id]),
    )
    whole_and_pages(
        "directory leavers",
        directory.leavers_holding_seats,
        lambda s, c: directory.leavers_page(s, c, n),
        lambda r: keyset.encode(directory.LEAVERS_CURSOR, [r.email, r.profile, r.external_id]),
    )
    whole_and_pages(
        "rule dry run (+ counts)",
        lambda s: rules.dry_run(s, clock, MODEL),
        lambda s, c: (
            rules.dry_run_page(s, clock, MODEL, c, n)
            if rules.dry_run_counts(s, clock, MODEL)
            else ([], None)
        ),
        lambda r: keyset.encode(rules.DRY_RUN_CURSOR, [r.profile, r.external_id]),
    )
    whole_and_pages(
        "reviewer's items (+ counts)",
        lambda s: reviews.my_items(s, campaign, REVIEWER),
        lambda s, c: (
            reviews.my_items_page(s, campaign, REVIEWER, cursor=c, limit=n)
            if reviews.my_counts(s, campaign, REVIEWER)
            else ([], None)
        ),
        lambda r: keyset.encode(reviews.MINE_CURSOR, [r.holder or "", r.app, r.id]),
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
