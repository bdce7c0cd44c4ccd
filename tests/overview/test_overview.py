"""The overview services over a synced Rally sandbox: keyset pages cover every seat exactly
once, filters agree with reconciliation, and the dashboard adds up."""

from __future__ import annotations

from typing import Any

import pytest

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.licensing import service as licensing
from shelfware.overview import service as overview
from shelfware.overview.lists import list_people, list_runs
from shelfware.subscriptions.paging import SubscriptionFilter, page_subscriptions
from shelfware.subscriptions.schemas import SubscriptionQuery
from shelfware.subscriptions.service import list_subscriptions
from shelfware.sync.service import sync_profile
from tests.helpers import published_rally


def every_page(db: Database, clock: FrozenClock, **wanted: Any) -> list[int]:
    ids: list[int] = []
    after = 0
    with db.sessions() as session:
        while True:
            page = page_subscriptions(
                session, SubscriptionFilter(after=after, limit=7, **wanted), clock.now()
            )
            ids += [row.id for row in page.rows]
            if page.next_after is None:
                return ids
            after = page.next_after


@pytest.mark.store
async def test_pages_filters_and_dashboard_agree_with_reconciliation(
    db: Database, keys: KeyRing, clock: FrozenClock, rally_factory: Any
) -> None:
    rally = rally_factory(users=90, seed=4)
    await published_rally(db, keys, clock, rally.url, rally.org.api_key)
    await sync_profile(db, keys, clock, "rally")
    with db.sessions() as session:
        seats = list_subscriptions(session, SubscriptionQuery())
        rows = licensing.reconcile(session, clock.now())
        board = overview.dashboard(session, clock.now())
        people, _ = list_people(session, limit=500)
        runs = list_runs(session)

    ids = every_page(db, clock)
    assert ids == sorted(s.id for s in seats)  # every seat once, in id order
    stale = every_page(db, clock, stale=True)
    assert len(stale) == sum(r.stale for r in rows) > 0
    admins = every_page(db, clock, admin=True)
    assert set(admins) == {s.id for s in seats if s.admin}
    first = seats[0]
    prefix = (first.username or "")[:4]
    found = every_page(db, clock, search=prefix.upper())
    assert found == sorted(
        s.id
        for s in seats
        if (s.username or "").lower().startswith(prefix.lower())
        or (s.email or "").lower().startswith(prefix.lower())
    )
    assert every_page(db, clock, search="%") == []  # wildcards are text, not patterns

    assert board.subscriptions == sum(r.rights_used for r in rows) == len(seats)
    assert board.stale == sum(r.stale for r in rows)
    assert sum(board.activity_buckets.values()) == len(seats)
    assert board.activity_buckets["never"] == sum(1 for s in seats if s.last_activity_at is None)
    assert sum(p.stale for p in board.profiles) == board.stale
    assert sum(p.seats for p in people) == sum(1 for s in seats if s.person_id is not None)
    assert runs[0].status == "succeeded" and runs[0].accounts == 90
