"""The overview services over a synced Rally sandbox: the stale filter of the subscription
pages agrees with reconciliation, and the dashboard adds up."""

from __future__ import annotations

from typing import Any

import pytest

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.licensing import service as licensing
from shelfware.overview import service as overview
from shelfware.profiles import service as profiles
from shelfware.subscriptions.schemas import SubscriptionPageQuery, SubscriptionQuery
from shelfware.subscriptions.service import list_subscriptions, page_people, page_subscriptions
from shelfware.sync.service import sync_profile
from tests.helpers import published_rally


def every_page(db: Database, clock: FrozenClock, **wanted: Any) -> list[int]:
    ids: list[int] = []
    cursor = None
    with db.sessions() as session:
        while True:
            page = page_subscriptions(
                session, SubscriptionPageQuery(cursor=cursor, limit=7, **wanted)
            )
            ids += [row.id for row in page.items]
            if page.next_cursor is None:
                return ids
            cursor = page.next_cursor


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
        people = page_people(session, limit=500).items
        runs = profiles.list_runs(session, None)

    ids = every_page(db, clock)
    assert ids == sorted(s.id for s in seats)  # every seat once, in id order
    stale = every_page(db, clock, stale_at=clock.now())
    assert len(stale) == sum(r.stale for r in rows) > 0
    admins = every_page(db, clock, admin=True)
    assert set(admins) == {s.id for s in seats if s.admin}

    assert board.subscriptions == sum(r.rights_used for r in rows) == len(seats)
    assert board.stale == sum(r.stale for r in rows)
    assert sum(board.activity_buckets.values()) == len(seats)
    assert board.activity_buckets["never"] == sum(1 for s in seats if s.last_activity_at is None)
    assert sum(p.stale for p in board.profiles) == board.stale
    assert sum(p.subscriptions for p in people) == sum(1 for s in seats if s.person_id is not None)
    assert runs[0].status == "succeeded" and runs[0].accounts == 90
    assert board.leavers_seats == 0  # no identity provider: nobody has left
    assert board.trend == []
    with db.transaction() as session:
        licensing.record_reconciliation(session, clock, clock.now())
    with db.sessions() as session:
        trend = overview.dashboard(session, clock.now()).trend
    assert [(t.assigned, t.stale) for t in trend] == [(board.subscriptions, board.stale)]
    assert trend[0].active == board.subscriptions - board.stale
