"""Raw HTTP pins of the Rally sandbox against the facts in design/VENDOR_APIS.md (Rally)."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime

import httpx
import pytest

from shelfware.sandbox import SANDBOXES, FaultSpec, serve_in_thread
from shelfware.sandbox.rally import USER_FIELDS
from shelfware.sandbox.rally_query import format_date

from .conftest import RallyServer, StartRally

ALL = "((Disabled = true) OR (Disabled = false))"
FETCH = ",".join(USER_FIELDS)
META = {"_rallyAPIMajor", "_rallyAPIMinor", "_ref", "_refObjectUUID", "_objectVersion"}
META |= {"_refObjectName", "_type"}
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def list_users(client: httpx.Client, **params: object) -> dict:
    response = client.get("/user", params={"query": ALL, **params})
    assert response.status_code == 200
    return response.json()["QueryResult"]


def test_envelope_keys_and_values(start_rally: StartRally) -> None:
    rally = start_rally()
    with rally.client() as c:
        qr = list_users(c, fetch="ObjectID,UserName", start=1, pagesize=10)
    assert list(qr) == [
        "_rallyAPIMajor",
        "_rallyAPIMinor",
        "Errors",
        "Warnings",
        "TotalResultCount",
        "StartIndex",
        "PageSize",
        "Results",
    ]
    assert (qr["_rallyAPIMajor"], qr["_rallyAPIMinor"]) == ("2", "0")
    assert qr["Errors"] == [] and qr["Warnings"] == []
    assert (qr["TotalResultCount"], qr["StartIndex"], qr["PageSize"]) == (300, 1, 10)
    first = rally.org.users[0]
    item = qr["Results"][0]
    assert item["_ref"] == f"{rally.api}/user/{first.object_id}"
    assert item["_type"] == "User"
    assert item["_refObjectName"] == (first.display_name or first.username)
    assert item["_refObjectUUID"] == first.object_uuid
    assert (item["ObjectID"], item["UserName"]) == (first.object_id, first.username)


def test_defaults_start_1_pagesize_20(start_rally: StartRally) -> None:
    rally = start_rally()
    with rally.client() as c:
        qr = list_users(c)
    assert (qr["StartIndex"], qr["PageSize"], len(qr["Results"])) == (1, 20, 20)


def test_start_is_one_based_and_pages_are_stable(start_rally: StartRally) -> None:
    rally = start_rally()
    oids = [u.object_id for u in rally.org.users]
    with rally.client() as c:
        page = list_users(c, fetch="ObjectID", start=4, pagesize=3)
        again = list_users(c, fetch="ObjectID", start=4, pagesize=3)
    assert [r["ObjectID"] for r in page["Results"]] == oids[3:6]
    assert page == again


def test_paging_covers_every_user_once(start_rally: StartRally) -> None:
    rally = start_rally()
    seen: list[int] = []
    start, total = 1, None
    with rally.client() as c:
        while total is None or start <= total:
            qr = list_users(c, fetch="ObjectID", start=start, pagesize=7, order="ObjectID")
            total = qr["TotalResultCount"]
            seen += [r["ObjectID"] for r in qr["Results"]]
            start += 7
    assert seen == [u.object_id for u in rally.org.users]


def test_order_desc(start_rally: StartRally) -> None:
    rally = start_rally(users=50)
    with rally.client() as c:
        qr = list_users(c, fetch="ObjectID", pagesize=100, order="ObjectID desc")
    assert [r["ObjectID"] for r in qr["Results"]] == [u.object_id for u in rally.org.users][::-1]


def test_pagesize_capped_at_2000_with_warning(big_rally: RallyServer) -> None:
    with big_rally.client() as c:
        qr = list_users(c, fetch="ObjectID", pagesize=5000)
    assert qr["PageSize"] == 2000 and len(qr["Results"]) == 2000
    assert qr["Errors"] == [] and len(qr["Warnings"]) == 1 and "2000" in qr["Warnings"][0]
    assert qr["TotalResultCount"] == 5000


async def test_parallel_pages_of_2000_cover_everyone(big_rally: RallyServer) -> None:
    headers = {"ZSESSIONID": big_rally.org.api_key}
    async with httpx.AsyncClient(base_url=big_rally.api, headers=headers, timeout=30) as c:
        responses = await asyncio.gather(
            *(
                c.get("/user", params={"query": ALL, "fetch": FETCH, "pagesize": 2000, "start": s})
                for s in (1, 2001, 4001)
            )
        )
    results = [r for resp in responses for r in resp.json()["QueryResult"]["Results"]]
    assert [r["ObjectID"] for r in results] == [u.object_id for u in big_rally.org.users]


def test_no_query_answers_only_the_key_owner(start_rally: StartRally) -> None:
    rally = start_rally()
    with rally.client() as c:
        for params in ({"fetch": "ObjectID,UserName"}, {"fetch": "ObjectID", "query": ""}):
            qr = c.get("/user", params=params).json()["QueryResult"]
            assert qr["TotalResultCount"] == 1
            assert [r["ObjectID"] for r in qr["Results"]] == [rally.org.owner.object_id]


@pytest.mark.parametrize("key", [None, "_wrong"])
def test_bad_key_is_401_not_a_query_result(start_rally: StartRally, key: str | None) -> None:
    rally = start_rally(users=5)
    headers = {} if key is None else {"ZSESSIONID": key}
    response = httpx.get(f"{rally.api}/user", params={"query": ALL}, headers=headers)
    assert response.status_code == 401
    assert "QueryResult" not in response.text


def test_fetch_projection(start_rally: StartRally) -> None:
    rally = start_rally(users=20)
    with rally.client() as c:
        compact = list_users(c)["Results"][0]
        some = list_users(c, fetch="ObjectID,EmailAddress,Bogus")["Results"][0]
        full = list_users(c, fetch="true")["Results"][0]
    assert set(compact) == META
    assert set(some) == META | {"ObjectID", "EmailAddress"}
    assert set(full) == META | set(USER_FIELDS) | {"UserProfile"}


def test_dates_and_values_match_the_org(start_rally: StartRally) -> None:
    rally = start_rally(users=200)
    with rally.client() as c:
        results = list_users(c, fetch=FETCH, pagesize=200)["Results"]

    def fmt(value: datetime | None) -> str | None:
        return None if value is None else format_date(value)

    assert format_date(rally.org.users[0].creation_date).endswith("Z")
    for user, item in zip(rally.org.users, results, strict=True):
        assert DATE.match(item["CreationDate"])
        assert item["CreationDate"] == fmt(user.creation_date)
        assert item["LastLoginDate"] == fmt(user.last_login_date)
        assert item["LastActiveDate"] == fmt(user.last_active_date)
        assert item["EmailAddress"] == user.email
        assert item["Disabled"] is user.disabled
        assert item["SubscriptionAdmin"] is user.subscription_admin
        assert item["SubscriptionPermission"] == user.permission
    assert any(item["LastLoginDate"] is None for item in results)


def test_query_filters_like_the_org(start_rally: StartRally) -> None:
    rally = start_rally(users=400)
    cutoff = rally.org.now.replace(day=1, month=4)
    with rally.client() as c:
        disabled = list_users(c, query="(Disabled = true)")["TotalResultCount"]
        recent = list_users(c, query=f'(LastLoginDate > "{cutoff.isoformat()}")')
        case = list_users(c, query="(disabled = TRUE)")["TotalResultCount"]
    assert disabled == case == sum(u.disabled for u in rally.org.users)
    logged_in = [u for u in rally.org.users if u.last_login_date and u.last_login_date > cutoff]
    assert recent["TotalResultCount"] == len(logged_in)


@pytest.mark.parametrize("query", ["(Nickname = x)", "(Disabled = true", "Disabled = true"])
def test_bad_query_is_200_with_errors(start_rally: StartRally, query: str) -> None:
    rally = start_rally(users=5)
    with rally.client() as c:
        response = c.get("/user", params={"query": query, "fetch": "ObjectID"})
    assert response.status_code == 200
    qr = response.json()["QueryResult"]
    assert qr["Errors"] and qr["Errors"][0].startswith("Could not parse: ")
    assert qr["TotalResultCount"] == 0 and qr["Results"] == []


def test_read_one_user_and_the_subscription(start_rally: StartRally) -> None:
    rally = start_rally(users=5)
    user = rally.org.users[2]
    with rally.client() as c:
        one = c.get(f"/User/{user.object_id}").json()
        missing = c.get("/user/1").json()
        sub = c.get("/subscription").json()
    assert set(one) == {"User"}
    assert one["User"]["UserName"] == user.username
    assert one["User"]["Errors"] == [] and set(USER_FIELDS) <= set(one["User"])
    assert missing["OperationResult"]["Errors"] == ["Cannot find object to read"]
    assert sub["Subscription"]["Name"] == "Sandbox Org"
    assert sub["Subscription"]["_type"] == "Subscription"
    assert sub["Subscription"]["SubscriptionID"] == rally.org.subscription_id


def test_disable_then_list_shows_it(start_rally: StartRally) -> None:
    rally = start_rally(users=50)
    user = next(u for u in rally.org.users[1:] if not u.disabled)
    with rally.client() as c:
        response = c.post(f"/user/{user.object_id}", json={"User": {"Disabled": True}})
        assert response.status_code == 200
        op = response.json()["OperationResult"]
        assert op["Errors"] == [] and op["Warnings"] == []
        assert op["Object"]["ObjectID"] == user.object_id
        assert op["Object"]["Disabled"] is True
        query = f"(ObjectID = {user.object_id})"
        listed = list_users(c, query=query, fetch="Disabled")["Results"]
        again = c.post(f"/user/{user.object_id}", json={"User": {"Disabled": True}})
    assert listed[0]["Disabled"] is True
    assert again.status_code == 200 and again.json()["OperationResult"]["Errors"] == []
    assert again.json()["OperationResult"]["Object"]["Disabled"] is True
    assert user.disabled and rally.sandbox.disable_calls == 2


def test_bad_writes_answer_errors(start_rally: StartRally) -> None:
    rally = start_rally(users=5)
    oid, before = rally.org.users[1].object_id, rally.org.users[1].disabled
    with rally.client() as c:
        unknown = c.post("/user/1", json={"User": {"Disabled": True}})
        garbage = c.post(f"/user/{oid}", content=b"{not json")
        bad_value = c.post(f"/user/{oid}", json={"User": {"Disabled": "sometimes"}})
    for response in (unknown, garbage, bad_value):
        assert response.status_code == 200
        assert response.json()["OperationResult"]["Errors"]
    assert rally.org.users[1].disabled is before
    assert rally.sandbox.disable_calls == 0


def test_fail_page_is_500_on_exactly_that_page(start_rally: StartRally) -> None:
    rally = start_rally(users=300, faults=FaultSpec(fail_page=3))
    with rally.client() as c:
        statuses = {
            start: c.get("/user", params={"query": ALL, "start": start, "pagesize": 50}).status_code
            for start in range(1, 301, 50)
        }
        retry = c.get("/user", params={"query": ALL, "start": 101, "pagesize": 50})
    assert statuses == {1: 200, 51: 200, 101: 500, 151: 200, 201: 200, 251: 200}
    assert retry.status_code == 500


def test_envelope_error_page(start_rally: StartRally) -> None:
    rally = start_rally(users=100, faults=FaultSpec(envelope_error_page=2))
    with rally.client() as c:
        first = list_users(c, pagesize=40)
        second = list_users(c, pagesize=40, start=41)
    assert first["Errors"] == [] and len(first["Results"]) == 40
    assert second["Errors"] and second["Results"] == []


def test_fail_reclaim(start_rally: StartRally) -> None:
    rally = start_rally(users=20, faults=FaultSpec(fail_reclaim=10_000))
    other = rally.org.users[1].object_id
    with rally.client() as c:
        failed = c.post("/user/10000", json={"User": {"Disabled": True}})
        fine = c.post(f"/user/{other}", json={"User": {"Disabled": True}})
    assert failed.status_code == 500 and not rally.org.owner.disabled
    assert fine.status_code == 200


def _statuses(rally: RallyServer) -> list[int]:
    with rally.client() as c:
        return [
            c.get("/user", params={"query": ALL, "start": s, "pagesize": 5}).status_code
            for s in range(1, 301, 5)
        ]


def test_error_rate_is_deterministic(start_rally: StartRally) -> None:
    spec = FaultSpec(error_rate=0.3, seed=7)
    a = _statuses(start_rally(faults=spec))
    b = _statuses(start_rally(faults=spec))
    c = _statuses(start_rally(faults=FaultSpec(error_rate=0.3, seed=8)))
    assert a == b != c
    assert set(a) <= {200, 500, 503}
    assert 5 < sum(s != 200 for s in a) < 35


def test_timeout_rate_hangs(start_rally: StartRally) -> None:
    rally = start_rally(users=5, faults=FaultSpec(timeout_rate=1, hang_s=0.3))
    with rally.client() as c:
        began = time.monotonic()
        response = c.get("/user")
        assert time.monotonic() - began >= 0.3
        assert response.status_code == 504
        with pytest.raises(httpx.ReadTimeout):
            c.get("/user", timeout=0.1)
    assert rally.sandbox.injected_timeouts == 2


async def _burst(rally: RallyServer, n: int) -> float:
    headers = {"ZSESSIONID": rally.org.api_key}
    async with httpx.AsyncClient(base_url=rally.api, headers=headers, timeout=30) as c:
        began = time.monotonic()
        responses = await asyncio.gather(*(c.get("/user") for _ in range(n)))
        elapsed = time.monotonic() - began
    assert all(r.status_code == 200 for r in responses)
    return elapsed


async def test_twelve_concurrent_requests_are_not_slowed(start_rally: StartRally) -> None:
    rally = start_rally(users=5, latency_ms=400)
    elapsed = await _burst(rally, 12)
    assert rally.sandbox.max_in_flight == 12
    assert rally.sandbox.throttled == 0
    assert elapsed < 1.0


async def test_beyond_twelve_concurrent_requests_slow_down(start_rally: StartRally) -> None:
    rally = start_rally(users=5, latency_ms=400)
    elapsed = await _burst(rally, 20)
    assert rally.sandbox.max_in_flight == 20
    assert rally.sandbox.throttled == 8
    assert rally.sandbox.requests == 20
    assert elapsed >= 1.1  # the 20th request waited 400 ms + 8 x 100 ms


def test_registry_builds_a_servable_rally(now: datetime) -> None:
    app, org = SANDBOXES["rally"](30, 2, now, 0, FaultSpec())
    with serve_in_thread(app) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        headers = {"ZSESSIONID": org.api_key}
        response = httpx.get(f"{server.url}/slm/webservice/v2.0/subscription", headers=headers)
    assert response.status_code == 200
    assert app.state.sandbox.org is org and len(org.users) == 30
