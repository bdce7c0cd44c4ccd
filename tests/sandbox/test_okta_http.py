"""Raw HTTP pins of the Okta sandbox against the facts in design/VENDOR_APIS.md (Okta)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from shelfware.sandbox import PROFILE_PATHS, SANDBOXES, FaultSpec, serve_in_thread
from shelfware.sandbox.okta import BUDGETS, OktaSandbox, RateLimits, create_okta_app
from shelfware.sandbox.okta_filter import parse_time
from shelfware.sandbox.okta_org import SSO, OktaOrg, format_time, generate_okta_org

from .conftest import NOW

SSO_FILTER = f'eventType eq "{SSO}"'


@dataclass
class OktaServer:
    org: OktaOrg
    sandbox: OktaSandbox
    url: str

    def client(self, token: str | None = None, space: bool = True) -> httpx.Client:
        key = self.org.api_key if token is None else token
        auth = f"SSWS {key}" if space else f"SSWS{key}"
        return httpx.Client(base_url=self.url, headers={"Authorization": auth}, timeout=30)


StartOkta = Callable[..., OktaServer]


@pytest.fixture
def start_okta() -> Iterator[StartOkta]:
    running = []

    def start(
        users: int = 120,
        seed: int = 1,
        limits: RateLimits | None = None,
        faults: FaultSpec | None = None,
    ) -> OktaServer:
        org = generate_okta_org(users, seed, NOW)
        app = create_okta_app(org, faults or FaultSpec(), 0, limits)
        server = serve_in_thread(app)
        running.append(server)
        return OktaServer(org, app.state.sandbox, server.url)

    yield start
    for server in running:
        server.stop()


def next_link(response: httpx.Response) -> str | None:
    for part in response.headers.get("link", "").split(", "):
        url, _, rel = part.partition("; ")
        if rel == 'rel="next"':
            return url.strip("<>")
    return None


def read_all(client: httpx.Client, path: str, **params: Any) -> tuple[list[Any], int]:
    """Follow ``rel="next"`` to the end: (items, pages)."""
    response = client.get(path, params=params)
    items, pages = [], 0
    while True:
        assert response.status_code == 200, response.text
        items += response.json()
        pages += 1
        link = next_link(response)
        if link is None:
            return items, pages
        response = client.get(link)


def assert_okta_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"]
    assert body["errorCode"] == code == body["errorLink"]
    assert body["errorSummary"] and body["errorId"]
    assert isinstance(body["errorCauses"], list)
    return body


def test_registered_builder_and_profile_path(now: datetime) -> None:
    app, org = SANDBOXES["okta"](40, 2, now, 0, FaultSpec())
    assert PROFILE_PATHS["okta"] == "" and PROFILE_PATHS["rally"] == "/slm/webservice"
    assert len(org.users) == 40 and org.api_key.startswith("00")
    with serve_in_thread(app) as server:
        response = httpx.get(
            server.url + "/api/v1/users/me", headers={"Authorization": f"SSWS {org.api_key}"}
        )
    assert response.status_code == 200
    assert response.json()["profile"]["login"] == org.users[0].login


def test_users_leave_out_deprovisioned_and_page_to_the_end(start_okta: StartOkta) -> None:
    okta = start_okta()
    with okta.client() as c:
        users, pages = read_all(c, "/api/v1/users", limit=17)
        first = c.get("/api/v1/users", params={"limit": 17})
    expected = sorted(u.id for u in okta.org.users if u.status != "DEPROVISIONED")
    assert [u["id"] for u in users] == expected
    assert pages == -(-len(expected) // 17)
    link = first.headers["link"]
    assert f'<{okta.url}/api/v1/users?limit=17>; rel="self"' in link
    assert f'<{okta.url}/api/v1/users?after={expected[16]}&limit=17>; rel="next"' in link
    user = users[0]
    assert {"id", "status", "created", "activated", "statusChanged", "lastLogin"} <= set(user)
    assert {"login", "email", "firstName", "lastName", "displayName"} <= set(user["profile"])
    assert user["created"].endswith("Z") and len(user["created"]) == 24


def test_users_limit_is_capped_at_200(start_okta: StartOkta) -> None:
    okta = start_okta(users=260)
    with okta.client() as c:
        response = c.get("/api/v1/users", params={"limit": 1000})
        bad = c.get("/api/v1/users", params={"limit": "many"})
    assert len(response.json()) == 200
    assert "limit=200" in (next_link(response) or "")
    assert_okta_error(bad, 400, "E0000001")


def test_user_filters_status_and_last_updated(start_okta: StartOkta) -> None:
    okta = start_okta()
    org = okta.org
    cut = sorted(u.last_updated for u in org.users)[len(org.users) // 2]
    with okta.client() as c:
        gone, _ = read_all(c, "/api/v1/users", filter='status eq "DEPROVISIONED"')
        recent, _ = read_all(c, "/api/v1/users", filter=f'lastUpdated gt "{format_time(cut)}"')
        either, _ = read_all(
            c,
            "/api/v1/users",
            filter='status eq "SUSPENDED" or status eq "LOCKED_OUT"',
            limit=3,
        )
        both, _ = read_all(
            c,
            "/api/v1/users",
            filter=f'(status eq "ACTIVE") and lastUpdated gt "{format_time(cut)}"',
        )
        bad = c.get("/api/v1/users", params={"filter": 'status eq ACTIVE"'})
        unknown = c.get("/api/v1/users", params={"filter": 'nickname eq "x"'})
        bad_date = c.get("/api/v1/users", params={"filter": 'lastUpdated gt "yesterday"'})
    ids = {u.status: set() for u in org.users}  # type: dict[str, set[str]]
    for u in org.users:
        ids[u.status].add(u.id)
    assert {u["id"] for u in gone} == ids["DEPROVISIONED"] != set()
    assert {u["status"] for u in gone} == {"DEPROVISIONED"}
    assert {u["id"] for u in recent} == {u.id for u in org.users if u.last_updated > cut}
    assert {u["id"] for u in either} == ids["SUSPENDED"] | ids["LOCKED_OUT"]
    expected_both = {u.id for u in org.users if u.status == "ACTIVE" and u.last_updated > cut}
    assert {u["id"] for u in both} == expected_both
    for response in (bad, unknown, bad_date):
        assert_okta_error(response, 400, "E0000031")


def test_search_includes_deprovisioned_and_get_user(start_okta: StartOkta) -> None:
    okta = start_okta()
    leaver = next(u for u in okta.org.users if u.status == "DEPROVISIONED")
    with okta.client() as c:
        found = c.get("/api/v1/users", params={"search": f'profile.login eq "{leaver.login}"'})
        by_id = c.get(f"/api/v1/users/{leaver.id}")
        by_login = c.get(f"/api/v1/users/{leaver.login.upper()}")
        missing = c.get("/api/v1/users/00uNOPE")
    assert [u["id"] for u in found.json()] == [leaver.id]
    assert by_id.json()["status"] == "DEPROVISIONED" and by_login.json()["id"] == leaver.id
    assert_okta_error(missing, 404, "E0000007")


def test_groups_and_members(start_okta: StartOkta) -> None:
    okta = start_okta()
    with okta.client() as c:
        groups, _ = read_all(c, "/api/v1/groups", limit=2)
        target = next(g for g in okta.org.groups if g.name == "Engineering")
        members, _ = read_all(c, f"/api/v1/groups/{target.id}/users", limit=10)
        missing = c.get("/api/v1/groups/00gNOPE/users")
    assert {g["profile"]["name"] for g in groups} == {g.name for g in okta.org.groups}
    assert {g["type"] for g in groups} == {"BUILT_IN", "OKTA_GROUP"}
    assert sorted(u["id"] for u in members) == sorted(target.members)
    assert_okta_error(missing, 404, "E0000007")


def test_apps_list_with_inactive(start_okta: StartOkta) -> None:
    okta = start_okta()
    with okta.client() as c:
        apps, pages = read_all(c, "/api/v1/apps", limit=4)
        active = c.get("/api/v1/apps", params={"filter": 'status eq "ACTIVE"'}).json()
    assert pages == 2
    assert sorted(a["id"] for a in apps) == sorted(a.id for a in okta.org.apps)
    labels = {a["label"]: a for a in apps}
    assert labels["Legacy Wiki"]["status"] == "INACTIVE"
    assert {a["label"] for a in active} == set(labels) - {"Legacy Wiki"}
    assert {"id", "name", "label", "status", "signOnMode"} <= set(labels["Zoom"])


def test_app_users_with_scopes_and_limit_500(start_okta: StartOkta) -> None:
    okta = start_okta(users=1500)
    zoom = okta.org.app_by_label("Zoom")
    seats = okta.org.assignments[zoom.id]
    assert len(seats) > 500
    with okta.client() as c:
        first = c.get(f"/api/v1/apps/{zoom.id}/users", params={"limit": 900})
        everyone, pages = read_all(c, f"/api/v1/apps/{zoom.id}/users", limit=500)
        missing = c.get("/api/v1/apps/0oaNOPE/users")
    assert len(first.json()) == 500 and next_link(first) is not None
    assert pages == 2
    assert sorted(u["id"] for u in everyone) == sorted(seats)
    for item in everyone:
        seat = seats[item["id"]]
        assert item["scope"] == seat.scope
        assert item["credentials"]["userName"] == okta.sandbox.user_by_id[seat.user_id].login
        assert ("group" in item["_links"]) == (seat.scope == "GROUP")
    assert {u["scope"] for u in everyone} == {"USER", "GROUP"}
    assert_okta_error(missing, 404, "E0000007")


def sso_events(org: OktaOrg, since: datetime, until: datetime) -> list[dict[str, Any]]:
    return [
        e
        for e in org.events
        if e["eventType"] == SSO and since <= parse_time(e["published"]) < until
    ]


def test_logs_bounded_read_pages_to_the_end(start_okta: StartOkta) -> None:
    okta = start_okta()
    since, until = NOW - timedelta(days=40), NOW - timedelta(days=2)
    params = {
        "since": format_time(since),
        "until": format_time(until),
        "filter": SSO_FILTER,
        "limit": 50,
        "sortOrder": "ASCENDING",
    }
    with okta.client() as c:
        events, pages = read_all(c, "/api/v1/logs", **params)
        descending, _ = read_all(c, "/api/v1/logs", **{**params, "sortOrder": "DESCENDING"})
    expected = sso_events(okta.org, since, until)
    assert len(expected) > 100
    assert [e["uuid"] for e in events] == [e["uuid"] for e in expected]
    assert pages == -(-len(expected) // 50)
    assert [e["uuid"] for e in descending] == [e["uuid"] for e in reversed(expected)]


def test_logs_limit_1000_target_filter_and_bad_params(start_okta: StartOkta) -> None:
    okta = start_okta(users=400)
    zoom = okta.org.app_by_label("Zoom")
    window = {"since": format_time(NOW - timedelta(days=89)), "until": format_time(NOW)}
    with okta.client() as c:
        big = c.get("/api/v1/logs", params={**window, "limit": 5000})
        for_zoom, _ = read_all(
            c, "/api/v1/logs", **window, filter=f'{SSO_FILTER} and target.id eq "{zoom.id}"'
        )
        bad_filter = c.get("/api/v1/logs", params={"filter": "eventType eq"})
        bad_since = c.get("/api/v1/logs", params={"since": "last week"})
        bad_order = c.get("/api/v1/logs", params={"sortOrder": "SIDEWAYS"})
    assert len(big.json()) == 1000 and "limit=1000" in (next_link(big) or "")
    assert for_zoom and all(e["target"][0]["id"] == zoom.id for e in for_zoom)
    expected = [
        e
        for e in sso_events(okta.org, NOW - timedelta(days=89), NOW)
        if e["target"][0]["id"] == zoom.id
    ]
    assert [e["uuid"] for e in for_zoom] == [e["uuid"] for e in expected]
    for response in (bad_filter, bad_since, bad_order):
        assert_okta_error(response, 400, "E0000001")


def test_logs_retention_90_days_and_default_since_7_days(start_okta: StartOkta) -> None:
    okta = start_okta()
    old = NOW - timedelta(days=200)
    assert any(parse_time(e["published"]) < NOW - timedelta(days=90) for e in okta.org.events)
    with okta.client() as c:
        events, _ = read_all(
            c, "/api/v1/logs", since=format_time(old), until=format_time(NOW), limit=1000
        )
        default, _ = read_all(c, "/api/v1/logs", until=format_time(NOW), limit=1000)
    published = [parse_time(e["published"]) for e in events]
    assert min(published) >= NOW - timedelta(days=90)
    assert len(events) == len(
        [e for e in okta.org.events if parse_time(e["published"]) >= NOW - timedelta(days=90)]
    )
    assert min(parse_time(e["published"]) for e in default) >= NOW - timedelta(days=7)
    assert len(default) < len(events)


def test_polling_without_until_always_has_next(start_okta: StartOkta) -> None:
    okta = start_okta()
    since = NOW - timedelta(days=5)
    seen: list[str] = []
    with okta.client() as c:
        response = c.get("/api/v1/logs", params={"since": format_time(since), "limit": 10})
        while response.json():
            seen += [e["uuid"] for e in response.json()]
            link = next_link(response)
            assert link is not None
            response = c.get(link)
        assert response.status_code == 200 and response.json() == []
        link = next_link(response)
        assert link is not None  # the end shows up as an empty page, never as a missing link
        again = c.get(link)
        assert again.json() == [] and next_link(again) is not None
        # a new event appears at the end of the stream
        event = dict(okta.org.events[-1], uuid="ffffffff-0000-4000-8000-000000000001")
        # published a moment ago: the log lists events before "now" (a read in the same
        # millisecond as the event would otherwise miss it, as Okta's would)
        event["published"] = format_time(okta.sandbox.now() - timedelta(milliseconds=20))
        okta.sandbox.add_event(event)
        fresh = c.get(link)
    expected = [e["uuid"] for e in okta.org.events if parse_time(e["published"]) >= since]
    assert seen == expected[:-1] and len(seen) > 10
    assert [e["uuid"] for e in fresh.json()] == [event["uuid"]]


def test_unassign_user_scope_group_scope_and_unknown(start_okta: StartOkta) -> None:
    okta = start_okta()
    zoom = okta.org.app_by_label("Zoom")
    seats = okta.org.assignments[zoom.id]
    direct = next(s for s in seats.values() if s.scope == "USER" and s.user_id != okta.org.owner_id)
    grouped = next(s for s in seats.values() if s.scope == "GROUP")
    base = f"/api/v1/apps/{zoom.id}/users"
    with okta.client() as c:
        gone = c.delete(f"{base}/{direct.user_id}")
        again = c.delete(f"{base}/{direct.user_id}")
        group = c.delete(f"{base}/{grouped.user_id}")
        no_app = c.delete(f"/api/v1/apps/0oaNOPE/users/{direct.user_id}")
        after, _ = read_all(c, base, limit=500)
        log = c.get(
            "/api/v1/logs",
            params={"filter": 'eventType eq "application.user_membership.remove"'},
        ).json()
    with okta.client(okta.org.read_only_api_key) as c:
        reader_list = c.get(base)
        reader_delete = c.delete(f"{base}/{okta.org.owner_id}")
    assert gone.status_code == 204 and gone.content == b""
    assert_okta_error(again, 404, "E0000007")
    body = assert_okta_error(group, 403, "E0000046")
    assert "group" in body["errorCauses"][0]["errorSummary"]
    assert_okta_error(no_app, 404, "E0000007")
    ids = {u["id"] for u in after}
    assert direct.user_id not in ids and grouped.user_id in ids
    assert okta.sandbox.unassign_calls == 1
    assert [t["id"] for t in log[0]["target"] if t["type"] == "User"] == [direct.user_id]
    assert reader_list.status_code == 200
    assert_okta_error(reader_delete, 403, "E0000006")


def test_auth_with_and_without_space_and_errors(start_okta: StartOkta) -> None:
    okta = start_okta()
    with okta.client(space=False) as c:
        assert c.get("/api/v1/users", params={"limit": 1}).status_code == 200
    with okta.client("00wrong") as c:
        wrong = c.get("/api/v1/users")
    bearer = httpx.get(
        okta.url + "/api/v1/users", headers={"Authorization": f"Bearer {okta.org.api_key}"}
    )
    missing = httpx.get(okta.url + "/api/v1/users")
    for response in (wrong, bearer, missing):
        body = assert_okta_error(response, 401, "E0000011")
        assert body["errorSummary"] == "Invalid token provided"
        assert "x-rate-limit-remaining" in response.headers
    with okta.client() as c:
        assert_okta_error(c.get("/api/v1/nothing"), 404, "E0000007")
        assert_okta_error(c.post("/api/v1/users"), 405, "E0000022")


class FakeClock:
    """Wall-clock seconds the test moves by hand (the rate-limit windows' clock)."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_rate_limit_headers_per_endpoint_budget(start_okta: StartOkta) -> None:
    clock = FakeClock(1_000_030.5)  # window [1_000_020, 1_000_080)
    okta = start_okta(limits=RateLimits(budgets={"users": 5, "logs": 3}, clock=clock))
    with okta.client() as c:
        users = [c.get("/api/v1/users", params={"limit": 1}) for _ in range(3)]
        logs = c.get("/api/v1/logs")
        apps = c.get("/api/v1/apps")
        not_found = c.get("/api/v1/users/00uNOPE")
        bad = c.get("/api/v1/users", params={"filter": "status"})
    assert [r.headers["x-rate-limit-remaining"] for r in users] == ["4", "3", "2"]
    assert {r.headers["x-rate-limit-reset"] for r in users} == {"1000080"}
    assert users[0].headers["x-rate-limit-limit"] == "5"
    assert (logs.headers["x-rate-limit-limit"], logs.headers["x-rate-limit-remaining"]) == (
        "3",
        "2",
    )
    assert apps.headers["x-rate-limit-limit"] == str(BUDGETS["apps"])  # the default budget
    for response in (not_found, bad):  # errors carry the headers and use the budget too
        assert response.status_code in (400, 404)
        assert response.headers["x-rate-limit-limit"] == "5"
    assert bad.headers["x-rate-limit-remaining"] == "0"


def test_reset_is_utc_epoch_seconds_of_the_next_minute(start_okta: StartOkta) -> None:
    okta = start_okta()
    before = time.time()
    with okta.client() as c:
        response = c.get("/api/v1/users", params={"limit": 1})
    reset = int(response.headers["x-rate-limit-reset"])
    assert reset % 60 == 0 and before < reset <= time.time() + 60
    assert response.headers["x-rate-limit-limit"] == str(BUDGETS["users"])


def test_over_budget_429_without_retry_after_until_reset(start_okta: StartOkta) -> None:
    clock = FakeClock(2_000_000.0)
    okta = start_okta(limits=RateLimits(budgets={"logs": 2}, window_s=10, clock=clock))
    with okta.client() as c:
        responses = [c.get("/api/v1/logs", params={"limit": 1}) for _ in range(3)]
        users = c.get("/api/v1/users", params={"limit": 1})
        limited = responses[2]
        body = assert_okta_error(limited, 429, "E0000047")
        reset = int(limited.headers["x-rate-limit-reset"])
        clock.t = reset - 0.01
        still = c.get("/api/v1/logs", params={"limit": 1})
        clock.t = reset
        after = c.get("/api/v1/logs", params={"limit": 1})
    assert [r.status_code for r in responses[:2]] == [200, 200]
    assert body["errorSummary"] == "API call exceeded rate limit due to too many requests."
    assert "retry-after" not in limited.headers
    assert limited.headers["x-rate-limit-remaining"] == "0" and reset == 2_000_010
    assert users.status_code == 200  # other endpoints keep their own budget
    assert still.status_code == 429 and after.status_code == 200
    assert after.headers["x-rate-limit-remaining"] == "1"
    assert okta.sandbox.throttled == 2


def test_injected_errors_are_okta_shaped_and_deterministic(start_okta: StartOkta) -> None:
    okta = start_okta(faults=FaultSpec(error_rate=0.5, seed=3))
    with okta.client() as c:
        codes = [c.get("/api/v1/users", params={"limit": 1}).status_code for _ in range(20)]
    assert set(codes) <= {200, 500, 503} and 200 in codes and len(set(codes)) > 1
    assert okta.sandbox.injected_errors == sum(code != 200 for code in codes)
    again = start_okta(faults=FaultSpec(error_rate=0.5, seed=3))
    with again.client() as c:
        assert [c.get("/api/v1/users", params={"limit": 1}).status_code for _ in range(20)] == codes


def test_injected_timeouts_hang_then_answer_504(start_okta: StartOkta) -> None:
    okta = start_okta(faults=FaultSpec(timeout_rate=1.0, hang_s=0.2))
    started = time.monotonic()
    with okta.client() as c:
        response = c.get("/api/v1/apps")
    assert response.status_code == 504 and time.monotonic() - started >= 0.2
    assert okta.sandbox.injected_timeouts == 1


def test_bad_rate_limits_and_latency(start_okta: StartOkta) -> None:
    with pytest.raises(ValueError, match="window_s"):
        RateLimits(window_s=0)
    org = generate_okta_org(10, 1, NOW)
    with serve_in_thread(create_okta_app(org, latency_ms=150)) as server:
        started = time.monotonic()
        response = httpx.get(
            server.url + "/api/v1/apps", headers={"Authorization": f"SSWS {org.api_key}"}
        )
    assert response.status_code == 200 and time.monotonic() - started >= 0.15
