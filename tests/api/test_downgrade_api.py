"""Downgrade rules through the API: the rules schema takes `kind`, `to_model` and the
thresholds; the dry run says how many seats had no activity-intensity data; candidates carry
their action. Rally has activity on the account only (no events): nothing is proposed."""

from __future__ import annotations

import httpx
import pytest

from shelfware.accounts.roles import Role
from shelfware.profiles import service as profiles
from tests.api.conftest import Api, Synced

pytestmark = pytest.mark.store

BASIC = "Broadcom Rally Basic"


async def test_a_downgrade_rule_through_the_api(
    api: Api, client: httpx.AsyncClient, synced: Synced
) -> None:
    manager, viewer = api.auth(Role.SAM_MANAGER), api.auth(Role.VIEWER)
    with api.db.transaction() as s:
        profiles.ensure_software_model(s, api.clock, "Broadcom", "Rally", "Basic")
    change = {
        "model": synced.model,
        "kind": "downgrade",
        "to_model": BASIC,
        "max_active_days": 4,
        "max_events": 20,
        "window_days": 30,
        "notify": True,
    }
    assert (await client.patch("/rules", headers=viewer, json=change)).status_code == 403
    changed = await client.patch("/rules", headers=manager, json=change)
    assert changed.status_code == 200, changed.text
    rule = changed.json()["rule"]
    assert (rule["kind"], rule["target_model"], rule["max_active_days"]) == (
        "downgrade",
        BASIC,
        4,
    )
    assert (rule["max_events"], rule["window_days"], rule["notify"]) == (20, 30, True)
    kinds = sorted(r["kind"] for r in (await client.get("/rules", headers=viewer)).json())
    assert kinds == ["downgrade", "remove", "remove"]  # the removal rules are untouched

    dry = await client.get(f"/rules/{synced.model}/downgrade-dry-run", headers=viewer)
    assert dry.status_code == 200, dry.text
    body = dry.json()
    held = sum(1 for u in synced.sandbox.org.users if not u.disabled)
    # Rally's activity is a date on the account, not events: no intensity for anyone
    assert body["selections"] == [] and 0 < body["no_activity_data"] <= held
    assert body["target_model"] == BASIC

    # refusals name what was wrong, and write nothing
    for wrong, says in (
        ({"model": synced.model, "window_days": 3}, "belong to a downgrade rule"),
        ({**change, "to_model": synced.model}, "same edition"),
        ({**change, "to_model": "Asana Asana Business"}, "Asana Asana Business"),
        ({**change, "max_events": 0}, "max_events"),
    ):
        refused = await client.patch("/rules", headers=manager, json=wrong)
        assert refused.status_code in (404, 409, 422), refused.text
        assert says in refused.text
    again = (await client.get("/rules", headers=viewer)).json()
    assert next(r for r in again if r["kind"] == "downgrade")["target_model"] == BASIC
    cands = (await client.get("/candidates", headers=viewer)).json()
    items = cands["items"] if isinstance(cands, dict) else cands
    assert items and {c["action"] for c in items} == {"remove"}
