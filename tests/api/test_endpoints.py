"""The REST API end to end over real HTTP: a Rally sandbox profile created, validated,
published and synced through the API, then subscriptions, candidates, entitlements and
reconciliation; every write audited with the token that made it; no secret in any answer."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from shelfware.accounts.roles import Role
from shelfware.licensing.service import reconcile
from shelfware.models import AuditEvent
from tests.api.conftest import Api, error_of
from tests.jobs.helpers import wait_for_job

pytestmark = pytest.mark.store


def test_the_loop_over_real_http(api: Api, served: str, rally_factory: Any) -> None:
    sandbox = rally_factory(users=120)
    secret = sandbox.org.api_key
    seen: list[str] = []

    def call(role: Role, method: str, path: str, **kw: Any) -> httpx.Response:
        response = httpx.request(method, served + path, headers=api.auth(role), timeout=60, **kw)
        seen.append(response.text)
        return response

    integrator, manager, viewer = Role.SAM_INTEGRATOR, Role.SAM_MANAGER, Role.VIEWER
    body = {"kind": "rally", "name": "rally", "url": sandbox.url, "secrets": {"api_key": secret}}
    created = call(integrator, "POST", "/profiles", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft" and created.json()["has_credential"] is True
    assert call(integrator, "POST", "/profiles", json=body).status_code == 409

    refused = call(integrator, "POST", "/profiles/rally/publish")
    assert refused.status_code == 409 and "validate" in error_of(refused)["message"]
    validated = call(integrator, "POST", "/profiles/rally/validate")
    assert validated.status_code == 200 and validated.json()["ok"] is True, validated.text
    published = call(integrator, "POST", "/profiles/rally/publish")
    assert published.json()["status"] == "published"

    assert call(manager, "POST", "/profiles/rally/sync").status_code == 403
    queued = call(integrator, "POST", "/profiles/rally/sync")
    assert queued.status_code == 202, queued.text
    job = wait_for_job(lambda path: call(viewer, "GET", path), queued.json()["id"])
    assert job["state"] == "done" and job["actor"] == "token:sam_integrator-token", job
    runs = call(viewer, "GET", "/profiles/rally/runs").json()
    assert [r["id"] for r in runs] == [job["result"]["run_id"]]
    assert runs[0]["status"] == "succeeded" and runs[0]["accounts"] > 0

    # every seat, page by page
    ids: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 25, **({"cursor": cursor} if cursor else {})}
        page = call(viewer, "GET", "/subscriptions", params=params).json()
        assert "items" in page, page
        ids += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(ids) == len(set(ids)) and ids == sorted(ids)
    held = [u for u in sandbox.org.users if not u.disabled]
    assert len(ids) == len(held)

    candidates = call(viewer, "GET", "/candidates").json()
    assert candidates, "the sandbox has idle users"
    first = candidates[0]["id"]
    assert call(viewer, "POST", f"/candidates/{first}/reclaim").status_code == 403
    dry = call(manager, "POST", f"/candidates/{first}/reclaim", params={"dry_run": True})
    assert dry.status_code == 200 and dry.json()["action"].startswith("would_"), dry.text
    bulk = call(manager, "POST", "/candidates/reclaim", json={"ids": [first], "dry_run": True})
    assert [o["candidate_id"] for o in bulk.json()] == [first]

    model = call(viewer, "GET", "/rules").json()[0]["software_model"]
    ent = {"model": model, "seats": 50, "unit_cost": "120.5"}
    assert call(integrator, "POST", "/entitlements", json=ent).status_code == 403
    added = call(manager, "POST", "/entitlements", json=ent)
    assert added.status_code == 201 and added.json()["seats"] == 50
    assert [e["seats"] for e in call(viewer, "GET", "/entitlements").json()] == [50]
    rule = call(manager, "PATCH", "/rules", json={"model": model, "threshold_days": 45})
    assert rule.json()["changes"] == {"threshold_days": [60, 45]}

    rows = call(viewer, "GET", "/reconciliation").json()
    with api.db.sessions() as session:
        expected = [r.model_dump(mode="json") for r in reconcile(session, api.clock.now())]
    assert rows == expected

    set_off = call(integrator, "PATCH", "/profiles/rally", json={"reclaim": False})
    assert set_off.json()["profile"]["processes"]["reclaim"] is False

    assert call(manager, "GET", "/audit").status_code == 403
    events = call(Role.ADMIN, "GET", "/audit", params={"limit": 1000}).json()
    by_action = {e["action"]: e["actor"] for e in reversed(events)}
    with api.db.sessions() as session:
        assert len(events) == len(session.scalars(select(AuditEvent.id)).all())
    mine = call(Role.ADMIN, "GET", "/audit", params={"actor": "token:sam_manager-token"}).json()
    assert {e["action"] for e in mine} == {"entitlement.add", "rule.set"}
    assert by_action["profile.create"] == "token:sam_integrator-token"
    assert by_action["profile.validate"] == "token:sam_integrator-token"
    assert by_action["profile.publish"] == "token:sam_integrator-token"
    assert by_action["entitlement.add"] == "token:sam_manager-token"
    assert by_action["rule.set"] == "token:sam_manager-token"
    assert by_action["profile.set"] == "token:sam_integrator-token"

    # no answer ever carried the credential, nor the stored form of any token
    for role in Role:
        for path in (
            "/profiles",
            "/profiles/rally",
            "/tokens",
            "/users",
            "/me",
            "/reports/compliance",
            "/reports/people",
            "/directory/unmatched",
            "/reconciliations",
        ):
            call(role, "GET", path)
    everything = "\n".join(seen)
    assert secret not in everything
    assert all(token not in everything for token in api.tokens.values())
    assert "token_hash" not in everything and "ciphertext" not in everything

    assert call(integrator, "DELETE", "/profiles/rally").status_code == 204
    assert call(viewer, "GET", "/profiles/rally").status_code == 404


async def test_error_bodies(api: Api, client: httpx.AsyncClient) -> None:
    missing = await client.get("/profiles")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.headers["cache-control"] == "no-store"
    assert missing.headers["x-content-type-options"] == "nosniff"
    assert error_of(missing)["code"] == "unauthorized"
    bad = await client.get("/profiles", headers={"Authorization": "Bearer shw_nope"})
    assert bad.status_code == 401 and "not valid" in error_of(bad)["message"]
    basic = await client.get("/profiles", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401

    viewer = api.auth(Role.VIEWER)
    forbidden = await client.post("/profiles", headers=viewer, json={})
    assert forbidden.status_code == 403
    assert error_of(forbidden)["message"] == "role viewer may not do this (needs profiles.write)"

    admin = api.auth(Role.ADMIN)
    absent = await client.get("/profiles/nope", headers=admin)
    assert absent.status_code == 404 and error_of(absent)["code"] == "not_found"
    assert "nope" in error_of(absent)["message"]

    invalid = await client.post(
        "/profiles", headers=admin, json={"kind": "rally", "name": "x", "secrets": {"api_key": ""}}
    )
    assert invalid.status_code == 422
    assert error_of(invalid)["field"] == "secrets.api_key"
    unknown = await client.post("/profiles", headers=admin, json={"kind": "nope", "name": "x"})
    assert unknown.status_code in (404, 409, 422) and "nope" in error_of(unknown)["message"]

    cursor = await client.get("/subscriptions", headers=admin, params={"cursor": "garbage"})
    assert cursor.status_code == 422 and "cursor" in error_of(cursor)["message"]
    sorted_ = await client.get("/subscriptions", headers=admin, params={"sort": "password"})
    assert sorted_.status_code == 422 and error_of(sorted_)["field"] == "sort"

    no_route = await client.get("/nothing-here", headers=admin)
    assert no_route.status_code == 404 and error_of(no_route)["code"] == "not_found"
    newline = await client.get("/profiles/a%0Ab", headers=admin)  # the mount cannot take it
    assert newline.status_code == 404 and error_of(newline)["code"] == "not_found"
    no_method = await client.put("/profiles", headers=admin)
    assert no_method.status_code == 405 and error_of(no_method)["code"] == "method_not_allowed"
    not_json = await client.post(
        "/entitlements", headers={**admin, "content-type": "application/json"}, content=b"{"
    )
    assert not_json.status_code == 422


async def test_a_validation_error_never_echoes_the_input(
    api: Api, client: httpx.AsyncClient
) -> None:
    secret = "hunter2-" + "x" * 30
    response = await client.post(
        "/profiles",
        headers=api.auth(Role.ADMIN),
        json={"kind": "rally", "name": "r", "secrets": {"api_key": secret + "\x07"}},
    )
    assert response.status_code == 422
    assert secret not in response.text


async def test_tokens_over_the_api(api: Api, client: httpx.AsyncClient) -> None:
    admin = api.auth(Role.ADMIN)
    created = await client.post("/tokens", headers=admin, json={"name": "ci", "role": "viewer"})
    assert created.status_code == 201
    token = created.json()["token"]
    me = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "viewer" and "profiles.write" not in me.json()["permissions"]
    listed = await client.get("/tokens", headers=admin)
    assert token not in listed.text and "ci" in json.dumps(listed.json())
    revoked = await client.post("/tokens/ci/revoke", headers=admin)
    assert revoked.json()["revoked"] is True
    again = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401
    user = await client.post(
        "/users",
        headers=admin,
        json={"username": "ana", "password": "long enough pw", "role": "viewer"},
    )
    assert user.status_code == 201 and "password" not in user.json()
    assert "hash" not in (await client.get("/users", headers=admin)).text


async def test_turning_reclaim_back_on_alone(api: Api, client: httpx.AsyncClient) -> None:
    """``profile set`` with only ``reclaim`` (it used to reach an unset capability: a 500)."""
    integrator = api.auth(Role.SAM_INTEGRATOR)
    body = {
        "kind": "rally",
        "name": "r",
        "url": "https://rally1.rallydev.com/slm/webservice",
        "secrets": {"api_key": "k"},
        "reclaim": False,
    }
    assert (await client.post("/profiles", headers=integrator, json=body)).status_code == 201
    on = await client.patch("/profiles/r", headers=integrator, json={"reclaim": True})
    assert on.status_code == 200, on.text
    assert on.json()["changes"] == ["reclaim subscriptions on"]
    bad = await client.patch("/profiles/r", headers=integrator, json={"analyze_from": "1900-01-01"})
    assert bad.status_code == 422 and error_of(bad)["field"] == "analyze_from"
