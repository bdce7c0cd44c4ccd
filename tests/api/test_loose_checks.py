"""Input the API used to take too loosely: JSON booleans as numbers, `-0` money, any three
letters as a currency, NUL in a password (the same schemas serve the CLI and the web)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from shelfware.accounts.roles import Role
from shelfware.models import AuditEvent
from shelfware.profiles import service as profiles
from tests.api.conftest import Api, error_of

pytestmark = pytest.mark.store

MODEL = "Broadcom Rally Unlimited"


@pytest.fixture
def model(api: Api) -> str:
    with api.db.transaction() as session:
        profiles.ensure_software_model(session, api.clock, "Broadcom", "Rally", "Unlimited")
    return MODEL


def entitlement(**changes: Any) -> dict[str, Any]:
    return {"model": MODEL, "seats": 5, "unit_cost": "10"} | changes


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (entitlement(seats=True), "seats"),
        (entitlement(seats=False), "seats"),
        (entitlement(unit_cost=True), "unit_cost"),
        (entitlement(currency="ABC"), "currency"),
        (entitlement(currency="QQQ"), "currency"),
    ],
)
async def test_booleans_are_not_numbers_and_currencies_are_iso_4217(
    api: Api, client: httpx.AsyncClient, model: str, body: dict[str, Any], field: str
) -> None:
    refused = await client.post("/entitlements", headers=api.auth(Role.SAM_MANAGER), json=body)
    assert refused.status_code == 422, refused.text
    assert field in error_of(refused)["message"] or error_of(refused).get("field") == field
    listed = await client.get("/entitlements", headers=api.auth(Role.VIEWER))
    assert listed.json() == []


async def test_an_entitlement_edit_refuses_a_boolean_too(
    api: Api, client: httpx.AsyncClient, model: str
) -> None:
    manager = api.auth(Role.SAM_MANAGER)
    added = await client.post("/entitlements", headers=manager, json=entitlement())
    assert added.status_code == 201, added.text
    edit = await client.patch(
        f"/entitlements/{added.json()['id']}", headers=manager, json={"seats": True}
    )
    assert edit.status_code == 422, edit.text


@pytest.mark.parametrize("zero", [-0.0, "-0", "-0.00"])
async def test_minus_zero_is_stored_as_zero(
    api: Api, client: httpx.AsyncClient, model: str, zero: object
) -> None:
    manager = api.auth(Role.SAM_MANAGER)
    added = await client.post("/entitlements", headers=manager, json=entitlement(unit_cost=zero))
    assert added.status_code == 201, added.text
    [row] = (await client.get("/entitlements", headers=api.auth(Role.VIEWER))).json()
    with api.db.sessions() as session:
        audited = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "entitlement.add")
        ).one()
    # the answer, the stored row and the audit trail all say 0 (today the answer and the
    # audit trail said -0)
    for shown in (added.json()["unit_cost"], row["unit_cost"], audited["unit_cost"]):
        assert not str(shown).startswith("-") and float(shown) == 0, (shown, audited)


async def test_lower_case_currency_is_accepted_and_stored_upper(
    api: Api, client: httpx.AsyncClient, model: str
) -> None:
    added = await client.post(
        "/entitlements", headers=api.auth(Role.SAM_MANAGER), json=entitlement(currency="chf")
    )
    assert added.status_code == 201 and added.json()["currency"] == "CHF", added.text


async def test_a_password_with_nul_is_refused(api: Api, client: httpx.AsyncClient) -> None:
    admin = api.auth(Role.ADMIN)
    body = {"username": "ana", "password": "long enough\x00pw", "role": "viewer"}
    refused = await client.post("/users", headers=admin, json=body)
    assert refused.status_code == 422, refused.text
    assert "NUL" in error_of(refused)["message"]
    body["password"] = "long enough\tpw"  # other characters are the person's choice
    assert (await client.post("/users", headers=admin, json=body)).status_code == 201
