"""The overview's savings tiles: cost avoidance (the former "realised" figure) and realised
savings, this year and to date, as ``report savings`` counts them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from shelfware.licensing import service as licensing
from shelfware.licensing.schemas import EntitlementUpdate
from tests.licensing.test_savings import freed, organisation
from tests.web.conftest import Web, signed_in

pytestmark = pytest.mark.store


def tile(html: str, css: str) -> str:
    found = re.search(rf'class="{css}">([^<]+)</strong>', html)
    assert found, css
    return found.group(1)


def test_the_overview_shows_cost_avoidance_and_realised(web: Web) -> None:
    db, clock = web.store.db, web.clock
    first = organisation(db, clock)
    freed(db, clock, 3, datetime(2026, 2, 10, tzinfo=UTC))
    with db.transaction() as s:  # two seats fewer on the contract: 200 a year realised
        licensing.edit_entitlement(s, clock, EntitlementUpdate(id=first, seats=8))
    client, _ = signed_in(web, "viewer")
    page = client.get("/")
    assert page.status_code == 200, page.text
    assert "Cost avoidance this year (USD)" in page.text
    assert "Realised savings this year (USD)" in page.text
    assert "100.00" in tile(page.text, "m-avoided")
    assert "200.00" in tile(page.text, "m-realised")
