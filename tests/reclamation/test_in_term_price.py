"""Candidates carry the seat price of the entitlements in term (issue 15, money): an expired
cheap contract does not lower the savings of the seats owned now."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from shelfware.licensing.schemas import EntitlementCreate
from shelfware.licensing.service import add_entitlement, reconcile
from shelfware.models import RemovalCandidate
from shelfware.reclamation.service import list_candidates
from tests.reclamation.conftest import MODEL, World

pytestmark = pytest.mark.store


async def test_open_candidates_are_priced_by_the_entitlements_in_term(world: World) -> None:
    with world.db.transaction() as s:
        add_entitlement(  # last contract: many cheap seats, ended last year
            s,
            world.clock,
            EntitlementCreate(
                model=MODEL,
                seats=1000,
                unit_cost=1,
                term_start=date(2024, 1, 1),
                term_end=date(2025, 6, 30),
            ),
        )
    world.clock.advance(timedelta(minutes=5))
    await world.sync()  # the evaluation reprices open candidates
    with world.db.sessions() as s:
        stored = {c.unit_cost for c in s.query(RemovalCandidate).filter_by(state="ready")}
        shown = {c.potential_savings for c in list_candidates(s, now=world.clock.now())}
        [row] = reconcile(s, world.clock.now())
    # 100 seats at 30 a month in term; with the expired ones it was (36,000 + 1,000) / 1,100
    assert stored == {Decimal(360)}
    assert shown == {360.0}
    assert row.unit_cost == 360.0
