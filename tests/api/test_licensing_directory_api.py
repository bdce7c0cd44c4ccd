"""Entitlements (edit, end, strict CSV import), stored reconciliations and the directory
(aliases, unmatched accounts, leavers, same-app links) through the API, over a synced Rally
sandbox; every write audited by token; a refused file writes nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from shelfware.accounts.roles import Role
from shelfware.directory import service as directory
from shelfware.licensing import service as licensing
from shelfware.models import AuditEvent, Entitlement
from tests.api.conftest import Api, Synced, error_of

pytestmark = pytest.mark.store

CSV = "text/csv"


def count(api: Api, model: type) -> int:
    with api.db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def actions_by(api: Api, actor: str) -> list[str]:
    with api.db.sessions() as session:
        rows = session.scalars(
            select(AuditEvent.action).where(AuditEvent.actor == actor).order_by(AuditEvent.id)
        )
        return list(rows)


async def test_entitlements_and_reconciliations(
    api: Api, client: httpx.AsyncClient, synced: Synced
) -> None:
    manager, viewer = api.auth(Role.SAM_MANAGER), api.auth(Role.VIEWER)
    good = (
        "model,seats,unit_cost,currency,billing_period,term_start,contract_ref\n"
        f"{synced.model},40,12.5,USD,monthly,2026-01-01,C-1\n"
        f"{synced.model},10,100,EUR,annual,,C-2\n"
    )
    refused = await client.post(
        "/entitlements/import", headers={**viewer, "content-type": CSV}, content=good
    )
    assert refused.status_code == 403
    as_json = await client.post("/entitlements/import", headers=manager, json={"x": 1})
    assert as_json.status_code == 415 and "text/csv" in error_of(as_json)["message"]
    bad = good + f"{synced.model},-3,1,USD,annual,,C-3\n"
    wrong = await client.post(
        "/entitlements/import", headers={**manager, "content-type": CSV}, content=bad
    )
    assert wrong.status_code == 422, wrong.text
    assert "line 4" in error_of(wrong)["message"] and "seats" in error_of(wrong)["message"]
    assert count(api, Entitlement) == 0  # nothing written
    unknown = good.replace(f"{synced.model},10", "Acme Nothing Pro,10")
    nomodel = await client.post(
        "/entitlements/import", headers={**manager, "content-type": CSV}, content=unknown
    )
    assert nomodel.status_code == 422 and "line 3, column 'model'" in error_of(nomodel)["message"]
    imported = await client.post(
        "/entitlements/import", headers={**manager, "content-type": CSV}, content=good
    )
    assert imported.status_code == 201, imported.text
    first, second = imported.json()
    assert (first["seats"], first["billing_period"], second["currency"]) == (40, "monthly", "EUR")

    edited = await client.patch(
        f"/entitlements/{first['id']}", headers=manager, json={"seats": 45, "contract_ref": "C-9"}
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["seats"], edited.json()["contract_ref"]) == (45, "C-9")
    nothing = await client.patch(f"/entitlements/{first['id']}", headers=manager, json={})
    assert nothing.status_code == 422 and "nothing to change" in error_of(nothing)["message"]
    backwards = await client.patch(
        f"/entitlements/{first['id']}", headers=manager, json={"term_end": "2025-01-01"}
    )
    assert backwards.status_code == 422 and "before term start" in error_of(backwards)["message"]
    currency = await client.patch(
        f"/entitlements/{first['id']}", headers=manager, json={"currency": "dollars"}
    )
    assert currency.status_code == 422 and error_of(currency)["field"] == "currency"
    with_id = await client.patch(f"/entitlements/{first['id']}", headers=manager, json={"id": 9})
    assert with_id.status_code == 422 and error_of(with_id)["field"] == "id"
    missing = await client.patch("/entitlements/999999", headers=manager, json={"seats": 1})
    assert missing.status_code == 404 and "999999" in error_of(missing)["message"]

    ended = await client.post(
        f"/entitlements/{second['id']}/end", headers=manager, json={"on": "2026-11-19"}
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["term_end"] == "2026-11-19"
    today = await client.post(f"/entitlements/{first['id']}/end", headers=manager)
    assert today.json()["term_end"] == "2026-11-20" and today.json()["active"] is True
    early = await client.post(
        f"/entitlements/{first['id']}/end", headers=manager, json={"on": "2025-06-01"}
    )
    assert early.status_code == 409 and "cannot end" in error_of(early)["message"]

    assert (await client.get("/reconciliations", headers=viewer)).json() == []
    assert (await client.post("/reconciliations", headers=viewer)).status_code == 403
    stored = await client.post("/reconciliations", headers=manager)
    assert stored.status_code == 201, stored.text
    now = (await client.get("/reconciliation", headers=viewer)).json()
    assert stored.json()["rows"] == now
    dated = await client.post("/reconciliations", headers=manager, params={"date": "2026-11-01"})
    assert dated.json()["run"]["as_of"].startswith("2026-11-01T23:59:59")
    runs = (await client.get("/reconciliations", headers=viewer)).json()
    with api.db.sessions() as session:
        assert runs == [r.model_dump(mode="json") for r in licensing.reconciliation_runs(session)]
    assert len(runs) == 2
    assert actions_by(api, "token:sam_manager-token") == [
        "entitlement.add",
        "entitlement.add",
        "entitlement.edit",
        "entitlement.end",
        "entitlement.end",
        "reconciliation.record",
        "reconciliation.record",
    ]


async def test_the_directory(api: Api, client: httpx.AsyncClient, synced: Synced) -> None:
    integrator, viewer = api.auth(Role.SAM_INTEGRATOR), api.auth(Role.VIEWER)
    domain = next(u.email for u in synced.sandbox.org.users if u.email).split("@")[1]
    body = {"alias": "mail.other.test", "canonical": domain}
    assert (await client.post("/directory/aliases", headers=viewer, json=body)).status_code == 403
    added = await client.post("/directory/aliases", headers=integrator, json=body)
    assert added.status_code == 201 and added.json() == body, added.text
    again = await client.post("/directory/aliases", headers=integrator, json=body)
    assert again.status_code == 409 and "already an alias" in error_of(again)["message"]
    bad = {"alias": "not a domain", "canonical": domain}
    invalid = await client.post("/directory/aliases", headers=integrator, json=bad)
    assert invalid.status_code == 422 and "not a domain name" in error_of(invalid)["message"]
    assert (await client.get("/directory/aliases", headers=viewer)).json() == [body]
    gone = await client.delete("/directory/aliases/mail.other.test", headers=integrator)
    assert gone.status_code == 204
    assert (await client.get("/directory/aliases", headers=viewer)).json() == []
    absent = await client.delete("/directory/aliases/mail.other.test", headers=integrator)
    assert absent.status_code == 404 and "is not an alias" in error_of(absent)["message"]

    with api.db.sessions() as session:
        unmatched = [u.model_dump() for u in directory.unmatched_accounts(session)]
        leavers = [u.model_dump() for u in directory.leavers_holding_seats(session)]
    assert (await client.get("/directory/unmatched", headers=viewer)).json() == unmatched
    assert (await client.get("/directory/leavers", headers=viewer)).json() == leavers

    models = (await client.get("/directory/models", headers=viewer)).json()
    [rally] = [m for m in models if m["software_model"] == synced.model]
    assert rally["accounts"] > 0 and rally["people"] <= rally["accounts"]
    with api.db.transaction() as session:
        from shelfware.profiles.service import ensure_software_model

        ensure_software_model(session, api.clock, "Okta", "Rally", "SSO")
    path = "/directory/models/Okta Rally SSO/same-app"
    same = {"same_as": synced.model}
    assert (await client.put(path, headers=viewer, json=same)).status_code == 403
    linked = await client.put(path, headers=integrator, json=same)
    assert linked.status_code == 200, linked.text
    assert linked.json()["same_app_as"] == [synced.model]
    assert linked.json()["people_across_same_app"] == rally["people"]
    itself = await client.put(path, headers=integrator, json={"same_as": "Okta Rally SSO"})
    assert itself.status_code == 409 and "itself" in error_of(itself)["message"]
    cleared = await client.put(path, headers=integrator, json={"same_as": None})
    assert cleared.json()["same_app_as"] == []
    nomodel = await client.put("/directory/models/Nope/same-app", headers=integrator, json=same)
    assert nomodel.status_code == 404
    assert actions_by(api, "token:sam_integrator-token") == [
        "directory.alias_add",
        "directory.alias_remove",
        "directory.same_app",
        "directory.same_app",
    ]
