"""An entitlement's owner (who gets the renewal alerts) through the API and the CSV import:
one valid email address or a 422 naming the field (or the line and column), nothing
written; a seat edit of a contract in term is kept as a change of committed spend."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from shelfware.accounts.roles import Role
from shelfware.models import CommitmentChange, Entitlement
from tests.api.conftest import Api, Synced, error_of

pytestmark = pytest.mark.store

CSV = "text/csv"


async def test_owner_through_the_api_and_the_import(
    api: Api, client: httpx.AsyncClient, synced: Synced
) -> None:
    manager = api.auth(Role.SAM_MANAGER)
    bad = (
        "model,seats,unit_cost,notice_date,owner\n"
        f"{synced.model},10,100,2027-01-31,it@corp.test\n"
        f"{synced.model},5,100,2027-01-31,Boss <boss@corp.test>\n"
    )
    refused = await client.post(
        "/entitlements/import", headers={**manager, "content-type": CSV}, content=bad
    )
    assert refused.status_code == 422, refused.text
    message = error_of(refused)["message"]
    assert "line 3" in message and "owner" in message and "Boss" not in message
    with api.db.sessions() as s:
        assert s.scalars(select(Entitlement)).all() == []
    good = bad.replace("Boss <boss@corp.test>", "Boss@Corp.test")
    imported = await client.post(
        "/entitlements/import", headers={**manager, "content-type": CSV}, content=good
    )
    assert imported.status_code == 201, imported.text
    first, second = imported.json()
    assert (first["owner"], second["owner"]) == ("it@corp.test", "Boss@corp.test")

    wrong = await client.post(
        "/entitlements",
        headers=manager,
        json={"model": synced.model, "seats": 1, "unit_cost": 1, "owner": "a@x.test, b@x.test"},
    )
    assert wrong.status_code == 422 and "owner" in wrong.text
    moved = await client.patch(
        f"/entitlements/{first['id']}", headers=manager, json={"owner": "fin@corp.test", "seats": 8}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["owner"] == "fin@corp.test"
    listed = await client.get("/entitlements", headers=manager)
    assert {e["owner"] for e in listed.json()} == {"fin@corp.test", "Boss@corp.test"}
    with api.db.sessions() as s:
        [change] = s.scalars(select(CommitmentChange)).all()
        assert (change.entitlement_id, change.annual_delta) == (first["id"], Decimal(-200))
