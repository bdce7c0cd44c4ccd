"""The offboarding plan and its refusals, on the store (SQLite, or PostgreSQL when
configured): a person's seats priced and each one's fate named; a profile whose reclaim is
off leaves its seats to a person; a confirmation for other seats than the plan's, or over
the cap, writes nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import IntegrationProfile, RemovalCandidate
from shelfware.reclamation import offboarding
from shelfware.reclamation.service import CapExceeded, Limits, ReclaimError
from shelfware.settings import Settings
from tests.web.ops_seed import seed_seats

pytestmark = pytest.mark.store
WIDE = Limits(max_percent=100, max_accounts=1000, window=timedelta(hours=24))


def _candidates(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(RemovalCandidate)) or 0)


def test_the_plan_names_each_seat_and_its_money(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    seeded = seed_seats(db, keys, clock)
    with db.sessions() as session:
        plan = offboarding.offboard_plan(session, seeded.person_id, clock.now(), WIDE)
    assert plan.email == "ada@example.com"
    assert [s.username for s in plan.seats] == ["idle0", "busy0"]
    assert all(s.reclaim for s in plan.seats) and len(plan.reclaimable) == 2
    assert plan.annual == {"USD": 240.0} and plan.over_cap is None
    one = Limits(max_percent=10, max_accounts=1, window=timedelta(hours=24))
    with db.sessions() as session:
        capped = offboarding.offboard_plan(session, seeded.person_id, clock.now(), one)
    assert capped.over_cap and "2 accounts of Broadcom Rally Unlimited" in capped.over_cap

    with db.transaction() as session:
        session.scalars(select(IntegrationProfile)).one().process_reclaim = False
    with db.sessions() as session:
        off = offboarding.offboard_plan(session, seeded.person_id, clock.now(), WIDE)
    assert not off.reclaimable and off.annual == {}
    assert all("reclaim process of profile rally is off" in s.note for s in off.seats)
    with pytest.raises(LookupError), db.sessions() as session:
        offboarding.offboard_plan(session, 999_999, clock.now(), WIDE)


def test_a_confirmation_that_does_not_match_the_plan_writes_nothing(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    seeded = seed_seats(db, keys, clock)
    with db.sessions() as session:
        seats = offboarding.offboard_plan(session, seeded.person_id, clock.now(), WIDE).reclaimable

    def run(chosen: list[int], settings: Settings) -> object:
        return asyncio.run(
            offboarding.offboard(
                db, keys, clock, seeded.person_id, chosen, actor="test", settings=settings
            )
        )

    wide = Settings(reclaim_max_percent=100, reclaim_max_accounts=1000)
    with pytest.raises(ReclaimError, match="changed since the preview"):
        run(seats[:1], wide)
    with pytest.raises(CapExceeded, match="stopped before the first reclaim"):
        run(seats, Settings(reclaim_max_percent=10, reclaim_max_accounts=1))
    assert _candidates(db) == 0
