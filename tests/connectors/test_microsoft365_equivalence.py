"""Equivalence of the vendor's seats owned with reconciliation's (issue 21): after a sync, for
every SKU the vendor lists in `GET /subscribedSkus`, reconciliation's row for that SKU's model
owns exactly `prepaidUnits.enabled` seats and uses exactly `consumedUnits` (the licenses
assigned), and there is no other Microsoft 365 row. The vendor's numbers are read from the
sandbox over HTTP with a plain client, not restated from the generator: they are what Graph
says. Cases: plain tenants of several sizes, a SKU nobody holds yet, an over-assigned SKU (more
assigned than bought), disabled users (their licenses still count as used)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.licensing import service as licensing
from shelfware.sandbox.microsoft365 import M365Tenant, Sku, create_m365_app, generate_tenant
from shelfware.sandbox.server import serve_in_thread
from shelfware.sync.service import sync_profile

from ..conftest import NOW
from .test_microsoft365 import M365, publish


def nobody_holds_a_sku(t: M365Tenant) -> None:
    # Power BI Pro: bought, not yet assigned: a model and its seats all the same
    t.skus.append(Sku("f8a1db68-be16-40ed-86d5-cb42ce701560", "POWER_BI_PRO", 40))


def over_assigned(t: M365Tenant) -> None:
    t.skus[0] = replace(t.skus[0], prepaid=t.consumed(t.skus[0].sku_id) - 7)


def disabled_users(t: M365Tenant) -> None:
    for user in t.users[1::5]:
        user.enabled = False


CASES: dict[str, tuple[int, Callable[[M365Tenant], None] | None]] = {
    "small": (40, None),
    "several pages": (300, None),
    "a SKU nobody holds": (120, nobody_holds_a_sku),
    "over-assigned": (120, over_assigned),
    "disabled users": (120, disabled_users),
}


async def vendor_skus(m: M365) -> dict[str, tuple[int, int]]:
    """What Graph says: part number -> (prepaidUnits.enabled, consumedUnits)."""
    async with httpx.AsyncClient(base_url=f"{m.url}/v1.0") as client:
        headers = {"Authorization": f"Bearer {m.state.issue()}"}
        body = (await client.get("/subscribedSkus", headers=headers)).raise_for_status().json()
    return {
        s["skuPartNumber"]: (s["prepaidUnits"]["enabled"], s["consumedUnits"])
        for s in body["value"]
    }


@pytest.mark.parametrize("case", list(CASES))
async def test_reconciliation_owns_the_prepaid_units_and_uses_the_assigned_ones(
    db: Database, keys: KeyRing, clock: FrozenClock, case: str
) -> None:
    users, change = CASES[case]
    tenant = generate_tenant(users, 7, NOW)
    if change is not None:
        change(tenant)
    app = create_m365_app(tenant)
    with serve_in_thread(app) as server:
        m = M365(tenant, app.state.sandbox, server.url)
        await publish(db, keys, clock, m)
        await sync_profile(db, keys, clock, "m365")
        vendor = await vendor_skus(m)
    with db.sessions() as session:
        rows = [r for r in licensing.reconcile(session, NOW) if r.publisher == "Microsoft"]
    found = {r.edition: (r.rights_owned, r.rights_used) for r in rows}
    assert found == vendor  # every SKU, no other Microsoft row (no empty default model)
    assert len(rows) == len(found)
    if change is over_assigned:
        row = next(r for r in rows if r.edition == tenant.skus[0].part_number)
        assert row.rights_used - row.rights_owned == 7
    if change is nobody_holds_a_sku:
        assert found["POWER_BI_PRO"] == (40, 0)
