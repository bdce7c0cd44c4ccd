"""The Asana sandbox over real HTTP: auth, errors, opt_fields, paging, removeUser, rate limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from shelfware.sandbox import PROFILE_PATHS, SANDBOXES, FaultSpec, serve_in_thread
from shelfware.sandbox.asana import API, HELP, AsanaSandbox, create_asana_app
from shelfware.sandbox.asana_org import AsanaOrganisation, generate_asana_org
from shelfware.sandbox.org import BOUNDARY_DAYS, BOUNDARY_GAP

from .conftest import NOW


@dataclass
class AsanaServer:
    org: AsanaOrganisation
    sandbox: AsanaSandbox
    url: str  # the server root

    @property
    def api(self) -> str:
        return self.url + API

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.org.api_key if token is None else token}"}
        return httpx.Client(base_url=self.api, headers=headers, timeout=10)


StartAsana = Callable[..., AsanaServer]


@pytest.fixture
def start_asana() -> Iterator[StartAsana]:
    """Start Asana sandboxes (stopped at teardown): ``start_asana(users=200, rate_limit=150)``."""
    running = []

    def start(
        users: int = 200, seed: int = 1, faults: FaultSpec | None = None, **options: Any
    ) -> AsanaServer:
        org = generate_asana_org(users, seed, NOW)
        app = create_asana_app(org, faults or FaultSpec(), **options)
        server = serve_in_thread(app)
        running.append(server)
        return AsanaServer(org, app.state.sandbox, server.url)

    yield start
    for server in running:
        server.stop()


def errors_of(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    assert set(body) == {"errors"}
    assert all(e["help"] == HELP and e["message"] for e in body["errors"])
    return list(body["errors"])


def memberships_path(org: AsanaOrganisation) -> str:
    return f"/workspaces/{org.organisation.gid}/workspace_memberships"


# --- the organisation ---------------------------------------------------------------------


def test_organisation_is_deterministic_and_varied() -> None:
    a, b = generate_asana_org(400, 5, NOW), generate_asana_org(400, 5, NOW)
    assert [(m.gid, m.user.email, m.is_active) for m in a.memberships] == [
        (m.gid, m.user.email, m.is_active) for m in b.memberships
    ]
    assert a.api_key == b.api_key != generate_asana_org(400, 6, NOW).api_key
    members = a.members(a.organisation.gid)
    assert len(members) == len(a.users) == 400
    assert {w.is_organization for w in a.workspaces} == {True, False}
    assert sum(not m.is_active for m in members) > 10
    assert sum(m.is_guest for m in members) > 5
    assert sum(m.is_admin for m in members) > 3
    assert not any(m.is_guest and m.is_admin for m in members)
    never = {u.gid for u in a.users if u.synthetic.last_activity is None}
    counted = [e for e in a.events if e.event_type != "user_login_failed"]
    assert never and not never & {e.actor.gid for e in counted}
    assert never & {e.actor.gid for e in a.events}  # failed logins only: not activity
    kinds = {e.event_type for e in a.events}
    assert {"user_login_succeeded", "task_created", "comment_added", "user_login_failed"} <= kinds
    assert any(NOW - e.created_at > timedelta(days=90) for e in a.events)
    # Activity stays away from the 30/60/90-day boundaries.
    latest: dict[str, float] = {}
    for e in counted:
        age = (NOW - e.created_at) / timedelta(days=1)
        latest[e.actor.gid] = min(latest.get(e.actor.gid, age), age)
    gap = BOUNDARY_GAP / timedelta(days=1)
    assert all(abs(age - d) >= gap for age in latest.values() for d in BOUNDARY_DAYS)


def test_registered_builder_and_profile_path() -> None:
    app, org = SANDBOXES["asana"](50, 3, NOW, 0, FaultSpec())
    assert len(org.users) == 50 and org.api_key.startswith("2/")
    assert PROFILE_PATHS["asana"] == "" and PROFILE_PATHS["rally"] == "/slm/webservice"
    with serve_in_thread(app) as server:
        r = httpx.get(
            server.url + API + "/users/me",
            headers={"Authorization": f"Bearer {org.api_key}"},
        )
    assert r.status_code == 200


# --- auth and errors ------------------------------------------------------------------------


def test_bearer_auth_and_error_shape(start_asana: StartAsana) -> None:
    asana = start_asana()
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": asana.org.api_key}):
        r = httpx.get(asana.api + "/users/me", headers=headers)
        assert r.status_code == 401
        assert errors_of(r)[0]["message"] == "Not Authorized"
    with asana.client() as c:
        me = c.get("/users/me", params={"opt_fields": "email,name,workspaces.name"}).json()
        assert me["data"]["gid"] == asana.org.owner.gid
        assert me["data"]["email"] == asana.org.owner.email
        assert [w["name"] for w in me["data"]["workspaces"]] == [
            w.name for w in asana.org.workspaces
        ]
        assert c.get("/workspaces/1234567890123456").status_code == 404
        bad = c.get("/workspaces/abc")
        assert bad.status_code == 400 and "abc" in errors_of(bad)[0]["message"]
        assert errors_of(c.get("/no/such/thing"))[0]["message"] == "No matching route for request"


def test_injected_errors_use_the_error_shape(start_asana: StartAsana) -> None:
    asana = start_asana(faults=FaultSpec(error_rate=1.0))
    with asana.client() as c:
        r = c.get("/users/me")
    assert r.status_code == 500 and errors_of(r)
    assert asana.sandbox.injected_errors == 1


# --- opt_fields --------------------------------------------------------------------------------


def test_compact_form_without_opt_fields(start_asana: StartAsana) -> None:
    asana = start_asana()
    with asana.client() as c:
        first = c.get(memberships_path(asana.org), params={"limit": 1}).json()["data"][0]
        workspaces = c.get("/workspaces").json()
    owner, ws = asana.org.owner, asana.org.organisation
    assert first == {
        "gid": asana.org.members(ws.gid)[0].gid,
        "resource_type": "workspace_membership",
        "user": {"gid": owner.gid, "name": owner.name, "resource_type": "user"},
        "workspace": {"gid": ws.gid, "name": ws.name, "resource_type": "workspace"},
    }
    assert "next_page" not in workspaces  # no limit: the whole (small) collection
    assert workspaces["data"][0] == {"gid": ws.gid, "name": ws.name, "resource_type": "workspace"}


def test_opt_fields_give_gid_plus_exactly_the_fields_asked(start_asana: StartAsana) -> None:
    asana = start_asana()
    fields = "user.email,user.name,is_active,is_admin,is_guest,created_at"
    with asana.client() as c:
        page = c.get(memberships_path(asana.org), params={"opt_fields": fields, "limit": 100})
        narrow = c.get(
            memberships_path(asana.org), params={"opt_fields": "user.email,is_active", "limit": 3}
        )
        nested = c.get(memberships_path(asana.org), params={"opt_fields": "user", "limit": 1})
        unknown = c.get(memberships_path(asana.org), params={"opt_fields": "user.shoe_size"})
    members = {m.gid: m for m in asana.org.members(asana.org.organisation.gid)}
    for row in page.json()["data"]:
        m = members[row["gid"]]
        assert row == {
            "gid": m.gid,
            "user": {"gid": m.user.gid, "email": m.user.email, "name": m.user.name},
            "is_active": m.is_active,
            "is_admin": m.is_admin,
            "is_guest": m.is_guest,
            "created_at": m.created_at.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{m.created_at.microsecond // 1000:03d}Z",
        }
    assert all(set(r) == {"gid", "user", "is_active"} for r in narrow.json()["data"])
    assert all(set(r["user"]) == {"gid", "email"} for r in narrow.json()["data"])
    assert nested.json()["data"][0]["user"] == {
        "gid": asana.org.owner.gid,
        "resource_type": "user",
    }
    assert unknown.status_code == 400 and "user.shoe_size" in errors_of(unknown)[0]["message"]


# --- paging ------------------------------------------------------------------------------------


def walk(c: httpx.Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    body = c.get(path, params=params).json()
    while True:
        rows += body["data"]
        if body["next_page"] is None:
            return rows
        nxt = body["next_page"]
        assert nxt["uri"].endswith(nxt["path"]) and f"offset={nxt['offset']}" in nxt["path"]
        body = c.get(nxt["uri"]).json()  # the next page's uri carries limit and opt_fields


def test_paging_visits_every_membership_once(start_asana: StartAsana) -> None:
    asana = start_asana(users=250)
    with asana.client() as c:
        rows = walk(c, memberships_path(asana.org), {"limit": 37, "opt_fields": "is_active"})
        users = walk(c, "/users", {"workspace": asana.org.organisation.gid, "limit": 100})
    members = asana.org.members(asana.org.organisation.gid)
    assert [r["gid"] for r in rows] == [m.gid for m in members]
    assert all(set(r) == {"gid", "is_active"} for r in rows)
    assert [u["gid"] for u in users] == sorted(m.user.gid for m in members if m.is_active)


@pytest.mark.parametrize("limit", ["0", "101", "-3", "ten"])
def test_limit_outside_1_to_100_is_refused(start_asana: StartAsana, limit: str) -> None:
    asana = start_asana(users=20)
    with asana.client() as c:
        r = c.get(memberships_path(asana.org), params={"limit": limit})
    assert r.status_code == 400 and "limit" in errors_of(r)[0]["message"]


def test_large_collection_without_limit_asks_for_pagination(start_asana: StartAsana) -> None:
    asana = start_asana(users=1100)
    with asana.client() as c:
        r = c.get(memberships_path(asana.org))
    assert r.status_code == 400 and "pagination" in errors_of(r)[0]["message"]


def test_invalid_foreign_and_expired_offsets(start_asana: StartAsana) -> None:
    asana = start_asana(users=50)
    path = memberships_path(asana.org)
    with asana.client() as c:
        offset = c.get(path, params={"limit": 10}).json()["next_page"]["offset"]
        assert c.get(path, params={"limit": 10, "offset": offset}).status_code == 200
        tampered = offset[:-1] + ("0" if offset[-1] != "0" else "1")
        for bad in ("nonsense", tampered, ""):
            r = c.get(path, params={"limit": 10, "offset": bad})
            assert r.status_code == 400 and "offset" in errors_of(r)[0]["message"]
        other = f"/workspaces/{asana.org.workspaces[1].gid}/workspace_memberships"
        r = c.get(other, params={"limit": 10, "offset": offset})
        assert r.status_code == 400 and "another request" in errors_of(r)[0]["message"]
        asana.sandbox.clock.advance(asana.sandbox.offset_ttl + 1)
        r = c.get(path, params={"limit": 10, "offset": offset})
        assert r.status_code == 400 and "expired" in errors_of(r)[0]["message"]


# --- removeUser --------------------------------------------------------------------------------


def test_remove_user_needs_an_admin_and_deactivates(start_asana: StartAsana) -> None:
    asana = start_asana()
    org = asana.org
    ws = org.organisation.gid
    victims = [m for m in org.members(ws) if m.is_active and not m.is_admin][1:3]
    path = f"/workspaces/{ws}/removeUser"
    with asana.client(org.member_key) as member:
        r = member.post(path, json={"data": {"user": victims[0].user.gid}})
        assert r.status_code == 403 and errors_of(r)
    assert victims[0].is_active
    with asana.client() as admin:
        by_gid = admin.post(path, json={"data": {"user": victims[0].user.gid}})
        by_email = admin.post(path, json={"data": {"user": victims[1].user.email.upper()}})
        assert by_gid.json() == by_email.json() == {"data": {}}
        assert admin.post(path, json={"data": {"user": "nobody@example.com"}}).status_code == 404
        assert admin.post(path, json={"user": victims[0].user.gid}).status_code == 400
        assert admin.post(path, content=b"{not json").status_code == 400
        row = admin.get(
            f"/workspace_memberships/{victims[0].gid}", params={"opt_fields": "is_active"}
        ).json()["data"]
        users = walk(admin, "/users", {"workspace": ws, "limit": 100})
    assert row == {"gid": victims[0].gid, "is_active": False}
    assert not ({v.user.gid for v in victims} & {u["gid"] for u in users})
    assert asana.sandbox.remove_calls == 2


# --- rate limit -----------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(start_asana: StartAsana) -> None:
    asana = start_asana(users=10, rate_limit=150)
    with asana.client() as c:
        statuses = [c.get("/users/me").status_code for _ in range(150)]
        assert statuses == [200] * 150
        r = c.get("/users/me")
        assert r.status_code == 429 and errors_of(r)
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        asana.sandbox.clock.advance(int(r.headers["Retry-After"]))
        assert c.get("/users/me").status_code == 200
    assert asana.sandbox.throttled == 1


# --- latency and faults ---------------------------------------------------------------------------


def test_latency_and_injected_timeouts(start_asana: StartAsana) -> None:
    asana = start_asana(users=10, faults=FaultSpec(timeout_rate=1.0, hang_s=0.2), latency_ms=150)
    with asana.client() as c:
        started = time.perf_counter()
        r = c.get("/users/me")
        elapsed = time.perf_counter() - started
    assert r.status_code == 504 and errors_of(r)
    assert elapsed >= 0.35 and asana.sandbox.injected_timeouts == 1


async def test_more_than_50_concurrent_reads_get_429(start_asana: StartAsana) -> None:
    asana = start_asana(users=10, faults=FaultSpec(timeout_rate=1.0, hang_s=1.0))
    headers = {"Authorization": f"Bearer {asana.org.api_key}"}
    limits = httpx.Limits(max_connections=60)
    async with httpx.AsyncClient(base_url=asana.api, headers=headers, limits=limits) as c:
        responses = await asyncio.gather(*(c.get("/users/me", timeout=10) for _ in range(55)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [429] * 5 + [504] * 50
    assert all(r.headers["Retry-After"] == "1" for r in responses if r.status_code == 429)
