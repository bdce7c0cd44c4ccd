"""The role matrix over every API route, read from the app's own route table: each role is
allowed exactly what ``accounts.roles.allows`` says, refused (403) otherwise, and a request
without a valid token is refused (401). A route that names no permission stops the app."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Permission, Role, allows
from shelfware.api import app as api_app
from shelfware.api.auth import permission_of
from tests.api.conftest import Api

pytestmark = pytest.mark.store

# A value for each path parameter: the records need not exist (a 404 is an allowed answer).
PATH_VALUES = {
    "name": "nothing",
    "person_id": "1",
    "candidate_id": "1",
    "entitlement_id": "1",
    "model": "nothing",
    "alias": "nothing.example",
    "job_id": "1",
    "campaign": "nothing",
    "item_id": "1",
}


def api_routes(api: Api) -> list[tuple[str, str, Permission]]:
    """(method, path, permission) of every endpoint in the API's route table; the OpenAPI
    document lists exactly these, so nothing is served that this walk misses."""
    routes = []
    for router in api_app.ROUTERS:
        for route in api_app.guarded_routes(router):
            permission = permission_of(route.dependant)
            assert permission is not None
            routes += [(method, route.path, permission) for method in sorted(route.methods)]
    with TestClient(api.app) as tc:
        document = tc.get("/api/v1/openapi.json").json()
    documented = {
        (method.upper(), path, operation["x-permission"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert documented == {(m, p, perm.value) for m, p, perm in routes}
    return [
        (m, re.sub(r"\{(\w+)\}", lambda g: PATH_VALUES[g.group(1)], p), perm)
        for m, p, perm in routes
    ]


def test_every_route_for_every_role(api: Api) -> None:
    routes = api_routes(api)
    assert len(routes) >= 20
    assert {p for _, _, p in routes} == set(Permission)
    with TestClient(api.app, base_url="http://t/api/v1") as tc:
        for method, path, permission in routes:
            anonymous = tc.request(method, path, json={})
            assert anonymous.status_code == 401, (method, path, anonymous.text)
            forged = tc.request(method, path, json={}, headers={"Authorization": "Bearer shw_x"})
            assert forged.status_code == 401, (method, path)
            for role in Role:
                # an empty body: allowed roles get past the guard (then 2xx/404/409/422),
                # refused ones stop at it; nothing is ever a server error
                answer = tc.request(method, path, json={}, headers=api.auth(role))
                if allows(role, permission):
                    assert answer.status_code not in (401, 403), (role, method, path, answer.text)
                    assert answer.status_code < 500, (role, method, path, answer.text)
                else:
                    assert answer.status_code == 403, (role, method, path, answer.text)
                    assert permission.value in answer.json()["error"]["message"]


def test_a_route_without_a_permission_stops_the_app(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    loose = APIRouter()

    @loose.get("/loose")
    def handler() -> dict[str, str]:
        return {}

    monkeypatch.setattr(api_app, "ROUTERS", (*api_app.ROUTERS, loose))
    workspace = api.app.state.workspace
    with pytest.raises(RuntimeError, match="/loose names no permission"):
        api_app.create_api(workspace)


# /scim/v2 (SCIM provisioning): every operation it serves; ids need not exist
SCIM_OPERATIONS = [
    ("GET", "/ServiceProviderConfig"),
    ("GET", "/Schemas"),
    ("GET", "/ResourceTypes"),
    ("GET", "/Users"),
    ("POST", "/Users"),
    ("POST", "/Users/.search"),
    ("GET", "/Users/1"),
    ("PUT", "/Users/1"),
    ("PATCH", "/Users/1"),
    ("DELETE", "/Users/1"),
    ("GET", "/Groups"),
    ("POST", "/Groups"),
    ("GET", "/Groups/1"),
    ("PUT", "/Groups/1"),
    ("PATCH", "/Groups/1"),
    ("DELETE", "/Groups/1"),
]


def test_scim_tokens_reach_scim_only_and_nothing_else_reaches_scim(api: Api) -> None:
    """A SCIM provisioning token: refused by every API route, let into every /scim/v2
    operation. An API token of every role, a signed-in web session (an admin's) and no
    token at all: refused by every /scim/v2 operation."""
    from shelfware.accounts.schemas import UserCreate
    from tests.web.conftest import csrf_of

    with api.db.transaction() as session:
        scim_token, _ = accounts.create_scim_token(session, api.clock, "idp")
        accounts.create_user(
            session,
            api.clock,
            UserCreate(username="boss", password="a long enough password", role=Role.ADMIN),
        )
    scim_auth = {"Authorization": f"Bearer {scim_token}"}
    with TestClient(api.app, base_url="http://t/api/v1") as tc:
        for method, path, _ in api_routes(api):
            refused = tc.request(method, path, json={}, headers=scim_auth)
            assert refused.status_code == 401, (method, path, refused.text)
    with TestClient(api.app, base_url="https://t", follow_redirects=False) as browser:
        form = {"username": "boss", "password": "a long enough password"}
        form["csrf_token"] = csrf_of(browser.get("/sign-in").text)
        assert browser.post("/sign-in", data=form).status_code == 303
        assert browser.get("/profiles").status_code == 200  # signed in
        for method, path in SCIM_OPERATIONS:
            url = f"/scim/v2{path}"
            answer = browser.request(method, url, json={})
            assert answer.status_code == 401, (method, path, "web session", answer.text)
            assert answer.json()["status"] == "401"
            for role in Role:
                answer = browser.request(method, url, json={}, headers=api.auth(role))
                assert answer.status_code == 401, (method, path, role)
            answer = browser.request(method, url, json={}, headers=scim_auth)
            assert answer.status_code not in (401, 403), (method, path, answer.text)
            assert answer.status_code < 500, (method, path, answer.text)
            assert answer.headers["content-type"].startswith("application/scim+json")
