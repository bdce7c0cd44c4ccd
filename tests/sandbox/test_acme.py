"""The Acme sandbox over real HTTP: key header, cursor in the body, events since, DELETE, errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shelfware.sandbox import PROFILE_PATHS, SANDBOXES, FaultSpec, serve_in_thread
from shelfware.sandbox.acme import (
    JOINED_FORMAT,
    KEY_HEADER,
    MAX_LIMIT,
    SEAT_TYPES,
    AcmeOrganisation,
    AcmeSandbox,
    acme_member_id,
    create_acme_app,
    epoch,
    generate_acme_org,
)

from .conftest import NOW


@dataclass
class Acme:
    org: AcmeOrganisation
    sandbox: AcmeSandbox
    url: str

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {KEY_HEADER: self.org.api_key if key is None else key}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


StartAcme = Callable[..., Acme]


@pytest.fixture
def start_acme() -> Iterator[StartAcme]:
    running = []

    def start(
        users: int = 100, seed: int = 5, faults: FaultSpec | None = None, latency_ms: float = 0
    ) -> Acme:
        org = generate_acme_org(users, seed, NOW)
        app = create_acme_app(org, faults or FaultSpec(), latency_ms)
        server = serve_in_thread(app)
        running.append(server)
        return Acme(org, app.state.sandbox, server.url)

    yield start
    for server in running:
        server.stop()


def read_all(client: httpx.Client, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Follow ``meta.next_cursor`` to the end: (items, requests)."""
    items: list[dict[str, Any]] = []
    cursor, requests = None, 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=query)
        requests += 1
        assert response.status_code == 200, response.text
        body = response.json()
        assert list(body) == ["items", "meta"]
        items += body["items"]
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            return items, requests


def assert_error(response: httpx.Response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["request_id"].startswith("req_")
    for word in words:
        assert word in error["message"]


def test_members_page_to_the_end_in_the_acme_shape(start_acme: StartAcme) -> None:
    acme = start_acme(users=100)
    with acme.client() as c:
        items, requests = read_all(c, "/v1/members", limit=17)
    assert requests == 6
    ids = [m["member_id"] for m in items]
    assert ids == sorted(ids) == sorted(acme_member_id(u) for u in acme.org.users)
    by_id = {acme_member_id(u): u for u in acme.org.users}
    for item in items:
        user = by_id[item["member_id"]]
        assert set(item) == {
            "member_id",
            "person",
            "is_enabled",
            "is_admin",
            "seat_type",
            "joined",
        }
        assert item["person"]["login"] == user.username
        assert item["person"]["email"] == (user.email or None)
        assert item["person"]["name"] == {"given": user.first_name, "family": user.last_name}
        assert item["is_enabled"] is (not user.disabled)
        assert item["is_admin"] is user.subscription_admin
        assert item["seat_type"] == acme.org.seat_type(user)
        joined = datetime.strptime(item["joined"], JOINED_FORMAT).replace(tzinfo=UTC)
        assert joined == user.creation_date.replace(second=0, microsecond=0)
    assert {m["seat_type"] for m in items} == set(SEAT_TYPES)
    assert all(m["seat_type"] == "pro" for m in items if m["is_admin"])
    assert any(not m["is_enabled"] for m in items)
    assert any(m["person"]["email"] is None for m in items)  # some members have no email


def test_default_and_maximum_limit(start_acme: StartAcme) -> None:
    acme = start_acme(users=230)
    with acme.client() as c:
        default = c.get("/v1/members").json()
        biggest = c.get("/v1/members", params={"limit": MAX_LIMIT}).json()
    assert len(default["items"]) == 50 and default["meta"]["next_cursor"]
    assert len(biggest["items"]) == MAX_LIMIT


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": MAX_LIMIT + 1}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": "ten"}, "'ten'"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_bad_paging_parameters_are_400(
    start_acme: StartAcme, params: dict[str, Any], named: str
) -> None:
    acme = start_acme(users=10)
    with acme.client() as c:
        assert_error(c.get("/v1/members", params=params), 400, "bad_request", named)


def test_api_key_header_is_required(start_acme: StartAcme) -> None:
    acme = start_acme(users=5)
    with httpx.Client(base_url=acme.url) as c:
        missing = c.get("/v1/members")
        bearer = c.get("/v1/members", headers={"Authorization": f"Bearer {acme.org.api_key}"})
        in_query = c.get("/v1/members", params={"api_key": acme.org.api_key})
    with acme.client("acme_live_wrong") as c:
        wrong = c.get("/v1/members")
    for response in (missing, bearer, in_query):
        assert_error(response, 401, "unauthorized", KEY_HEADER)
    assert_error(wrong, 401, "unauthorized", "invalid")
    assert "acme_live_wrong" not in wrong.text


def test_events_page_to_the_end_and_end_at_last_activity(start_acme: StartAcme) -> None:
    acme = start_acme(users=100)
    with acme.client() as c:
        events, requests = read_all(c, "/v1/events", limit=60)
    assert len(events) == len(acme.org.events) and requests == -(-len(events) // 60)
    assert [(e["at"], e["event_id"]) for e in events] == sorted(
        (e["at"], e["event_id"]) for e in events
    )
    latest: dict[str, int] = {}
    for event in events:
        assert set(event) == {"event_id", "member_id", "kind", "at"}
        latest[event["member_id"]] = max(latest.get(event["member_id"], 0), event["at"])
    expected = {
        acme_member_id(u): epoch(u.last_activity)
        for u in acme.org.users
        if u.last_activity is not None
    }
    assert latest == expected
    assert any(u.last_activity is None for u in acme.org.users)


def test_events_since_is_inclusive_and_incremental(start_acme: StartAcme) -> None:
    acme = start_acme(users=100)
    times = sorted(e.at for e in acme.org.events)
    since = times[len(times) // 2]
    with acme.client() as c:
        recent, _ = read_all(c, "/v1/events", since=since, limit=25)
        newest, _ = read_all(c, "/v1/events", since=times[-1])
        none, _ = read_all(c, "/v1/events", since=times[-1] + 1)
        bad = c.get("/v1/events", params={"since": "2025-01-01"})
    assert [e["event_id"] for e in recent] == [e.event_id for e in acme.org.events if e.at >= since]
    assert newest and all(e["at"] == times[-1] for e in newest)
    assert none == []
    assert_error(bad, 400, "bad_request", "since")


def test_a_new_sign_in_shows_up_after_the_watermark(start_acme: StartAcme) -> None:
    acme = start_acme(users=40)
    watermark = max(e.at for e in acme.org.events)
    user = acme.org.users[7]
    at = NOW.replace(microsecond=0)
    event = acme.org.sign_in(user, at)
    with acme.client() as c:
        fresh, _ = read_all(c, "/v1/events", since=watermark + 1)
    assert fresh == [
        {
            "event_id": event.event_id,
            "member_id": acme_member_id(user),
            "kind": "sign_in",
            "at": epoch(at),
        }
    ]
    assert user.last_activity == at


def test_delete_removes_the_seat(start_acme: StartAcme) -> None:
    acme = start_acme(users=20)
    user = next(u for u in acme.org.users[1:] if not u.disabled)
    member_id = acme_member_id(user)
    with acme.client() as c:
        before = c.get(f"/v1/members/{member_id}")
        deleted = c.delete(f"/v1/members/{member_id}")
        again = c.delete(f"/v1/members/{member_id}")
        after = c.get(f"/v1/members/{member_id}")
        listed, _ = read_all(c, "/v1/members", limit=200)
        owner = c.delete(f"/v1/members/{acme_member_id(acme.org.owner)}")
        unknown = c.delete("/v1/members/mbr_nobody")
    assert before.status_code == 200 and before.json()["member_id"] == member_id
    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(again, 404, "not_found", member_id)
    assert_error(after, 404, "not_found")
    assert member_id not in {m["member_id"] for m in listed} and len(listed) == 19
    assert_error(owner, 403, "forbidden", "owner")
    assert_error(unknown, 404, "not_found", "mbr_nobody")
    assert acme.sandbox.deleted == [member_id] and user not in acme.org.users


def test_unknown_paths_and_methods_answer_in_the_acme_shape(start_acme: StartAcme) -> None:
    acme = start_acme(users=5)
    with acme.client() as c:
        assert_error(c.get("/v1/people"), 404, "not_found", "/v1/people")
        assert_error(c.post("/v1/members", json={}), 405, "method_not_allowed", "POST")


def test_page_and_reclaim_faults(start_acme: StartAcme) -> None:
    acme = start_acme(users=30, faults=FaultSpec(fail_page=2))
    victim = acme.org.users[5]
    faulty = start_acme(users=30, faults=FaultSpec(fail_reclaim=victim.object_id))
    with acme.client() as c:
        first = c.get("/v1/members", params={"limit": 10}).json()
        second = c.get("/v1/members", params={"limit": 10, "cursor": first["meta"]["next_cursor"]})
    assert_error(second, 500, "internal")
    with faulty.client() as c:
        assert_error(c.delete(f"/v1/members/{acme_member_id(victim)}"), 500, "internal")
    assert len(faulty.org.users) == 30


def test_random_errors_and_latency(start_acme: StartAcme) -> None:
    acme = start_acme(users=5, faults=FaultSpec(error_rate=1.0, seed=2))
    with acme.client() as c:
        statuses = {c.get("/v1/members").status_code for _ in range(12)}
    assert statuses == {500, 503}
    hanging = start_acme(users=5, faults=FaultSpec(timeout_rate=1.0, hang_s=0.2))
    with hanging.client() as c:
        started = time.perf_counter()
        assert c.get("/v1/events").status_code == 504
        assert time.perf_counter() - started >= 0.2
    assert hanging.sandbox.injected_timeouts == 1
    slow = start_acme(users=5, latency_ms=150)
    with slow.client() as c:
        started = time.perf_counter()
        assert c.get("/v1/members").status_code == 200
        assert time.perf_counter() - started >= 0.15


def test_generation_is_deterministic_and_follows_now() -> None:
    a, b = generate_acme_org(50, 9, NOW), generate_acme_org(50, 9, NOW)
    assert a.events == b.events and a.seat_types == b.seat_types and a.api_key == b.api_key
    assert generate_acme_org(50, 10, NOW).api_key != a.api_key


def test_registered_as_a_sandbox_builder(now: datetime) -> None:
    app, org = SANDBOXES["acme"](12, 5, now, 0, FaultSpec())
    assert isinstance(org, AcmeOrganisation) and len(org.users) == 12
    assert PROFILE_PATHS["acme"] == ""
    with serve_in_thread(app) as server:
        response = httpx.get(
            server.url + PROFILE_PATHS["acme"] + "/v1/members",
            headers={KEY_HEADER: org.api_key},
        )
    assert len(response.json()["items"]) == 12
