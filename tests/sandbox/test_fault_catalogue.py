"""The kit-level fault catalogue over real HTTP: 429s, broken bodies, short pages, moving totals.

Each fault is checked on the Rally sandbox (its `PageHooks`) and the kit middleware on a small
non-vendor app, to show any sandbox gets the catalogue by adding the middleware.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shelfware.sandbox import serve_in_thread
from shelfware.sandbox.faults import (
    FaultLog,
    FaultSpec,
    PageHooks,
    check_supported,
    fault_middleware,
    parse_faults,
)
from shelfware.sandbox.rally import OWN_FAULTS, PAGE_HOOKS, create_rally_app

from .conftest import StartRally

ALL = "((Disabled = true) OR (Disabled = false))"


def page(c: httpx.Client, number: int, size: int = 50) -> httpx.Response:
    start = (number - 1) * size + 1
    return c.get("/user", params={"query": ALL, "start": start, "pagesize": size, "fetch": "true"})


# --------------------------------------------------------------------------- parsing


def test_new_keys_parse() -> None:
    spec = parse_faults(
        "rate_limit_page=2,rate_limit_times=3,retry_after=none,truncate_page=4,bad_json_page=5,"
        "short_page=6,total_change_page=7,total_delta=-2,rate_limit_rate=0.1,truncate_rate=0.1,"
        "bad_json_rate=0.1"
    )
    assert spec.retry_after is None
    assert (spec.rate_limit_page, spec.rate_limit_times, spec.total_delta) == (2, 3, -2)
    assert parse_faults("retry_after=0.25").retry_after == 0.25
    assert parse_faults("").retry_after == 1.0


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("total_delta=0", "total_delta"),
        ("retry_after=-1", "retry_after"),
        ("retry_after=soon", "retry_after"),
        ("rate_limit_times=0", "rate_limit_times"),
        ("short_page=0", "short_page"),
        ("truncate_rate=2", "truncate_rate"),
        ("error_rate=0.6,rate_limit_rate=0.6", "more than 1"),
    ],
)
def test_bad_new_values_name_the_culprit(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        parse_faults(text)


def test_unsupported_faults_are_refused_up_front(now: Any) -> None:
    from shelfware.sandbox import generate_org

    no_total = PageHooks(lambda r: None, lambda body: None)
    check_supported(FaultSpec(short_page=2, error_rate=0.1), "acme", no_total)
    with pytest.raises(ValueError, match="'short_page' is not supported by the plain sandbox"):
        check_supported(FaultSpec(short_page=2), "plain", None)
    with pytest.raises(ValueError, match=r"'total_change_page'.*reports no total"):
        check_supported(FaultSpec(total_change_page=2), "acme", no_total)
    with pytest.raises(ValueError, match="'fail_reclaim' is not supported by the acme sandbox"):
        check_supported(FaultSpec(fail_reclaim=3), "acme", no_total)
    every_key = parse_faults(
        "fail_page=1,rate_limit_page=1,truncate_page=1,bad_json_page=1,short_page=1,"
        "total_change_page=1,envelope_error_page=1,fail_reclaim=3,error_rate=0.1"
    )
    check_supported(every_key, "rally", PAGE_HOOKS, OWN_FAULTS)
    create_rally_app(generate_org(5, 1, now), every_key, 0)  # Rally injects every fault


# --------------------------------------------------------------------------- Rally, page faults


def test_rate_limit_page_with_retry_after(start_rally: StartRally) -> None:
    rally = start_rally(users=200, faults=parse_faults("rate_limit_page=2,rate_limit_times=2"))
    with rally.client() as c:
        first = page(c, 1)
        limited = [page(c, 2), page(c, 2)]
        served = page(c, 2)
        other = page(c, 3)
    assert first.status_code == other.status_code == served.status_code == 200
    assert [r.status_code for r in limited] == [429, 429]
    assert all(r.headers["Retry-After"] == "1" for r in limited)
    assert len(served.json()["QueryResult"]["Results"]) == 50
    log = rally.sandbox.fault_log
    assert log.counts == {"rate_limit": 2}
    assert [e.page for e in log.events] == [2, 2]
    assert [p for p, _ in log.page_requests] == [1, 2, 2, 2, 3]


def test_rate_limit_without_retry_after(start_rally: StartRally) -> None:
    rally = start_rally(users=100, faults=parse_faults("rate_limit_page=1,retry_after=none"))
    with rally.client() as c:
        limited = page(c, 1)
        served = page(c, 1)
    assert limited.status_code == 429 and "Retry-After" not in limited.headers
    assert served.status_code == 200


def test_fractional_retry_after(start_rally: StartRally) -> None:
    rally = start_rally(users=100, faults=parse_faults("rate_limit_page=1,retry_after=0.2"))
    with rally.client() as c:
        assert page(c, 1).headers["Retry-After"] == "0.2"


def test_truncated_page_is_a_prefix_of_the_real_body(start_rally: StartRally) -> None:
    clean = start_rally(users=200, seed=3)
    rally = start_rally(users=200, seed=3, faults=parse_faults("truncate_page=2"))
    with clean.client() as c:
        real = page(c, 2).content.replace(clean.url.encode(), rally.url.encode())
    with rally.client() as c:
        truncated = [page(c, 2), page(c, 2)]  # every time, not only the first
        fine = page(c, 3)
    for response in truncated:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert int(response.headers["content-length"]) == len(response.content)
        assert real.startswith(response.content) and len(response.content) < len(real)
        with pytest.raises(json.JSONDecodeError):
            response.json()
    assert fine.json()["QueryResult"]["Results"]


def test_bad_json_page(start_rally: StartRally) -> None:
    rally = start_rally(users=200, faults=parse_faults("bad_json_page=3"))
    with rally.client() as c:
        bad = page(c, 3)
        fine = page(c, 2)
    assert bad.status_code == 200 and bad.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        bad.json()
    assert fine.json()["QueryResult"]["TotalResultCount"] == 200


def test_short_page_drops_its_last_record_and_keeps_the_total(start_rally: StartRally) -> None:
    rally = start_rally(users=200, faults=parse_faults("short_page=2"))
    with rally.client() as c:
        short = page(c, 2).json()["QueryResult"]
        again = page(c, 2).json()["QueryResult"]
        full = page(c, 3).json()["QueryResult"]
    ids = [u.object_id for u in sorted(rally.org.users, key=lambda u: u.object_id)]
    assert [r["ObjectID"] for r in short["Results"]] == ids[50:99]  # the 100th is missing
    assert short["TotalResultCount"] == 200 and again == short
    assert len(full["Results"]) == 50
    assert rally.sandbox.fault_log.counts == {"short": 2}


def test_total_changes_from_a_page_on(start_rally: StartRally) -> None:
    rally = start_rally(users=200, faults=parse_faults("total_change_page=2,total_delta=-3"))
    with rally.client() as c:
        totals = [page(c, n).json()["QueryResult"]["TotalResultCount"] for n in (1, 2, 3, 4)]
        sizes = [len(page(c, n).json()["QueryResult"]["Results"]) for n in (1, 2, 3, 4)]
    assert totals == [200, 197, 197, 197]
    assert sizes == [50, 50, 50, 50]


def test_page_faults_leave_other_requests_alone(start_rally: StartRally) -> None:
    spec = parse_faults("fail_page=1,truncate_page=2,short_page=3,total_change_page=1")
    rally = start_rally(users=100, faults=spec)
    with rally.client() as c:
        owner = c.get("/user", params={"fetch": "true"})  # no query: not the user list
        subscription = c.get("/subscription")
        one = c.get(f"/user/{rally.org.owner.object_id}")
    for response in (owner, subscription, one):
        assert response.status_code == 200
        response.json()
    assert rally.sandbox.fault_log.events == []


def test_random_request_faults_hit_any_request(start_rally: StartRally) -> None:
    for key, check in (
        ("rate_limit_rate", lambda r: r.status_code == 429 and r.headers["Retry-After"] == "1"),
        ("truncate_rate", lambda r: r.status_code == 200 and r.content.startswith(b'{"')),
        ("bad_json_rate", lambda r: r.status_code == 200 and r.content.startswith(b"<html>")),
    ):
        rally = start_rally(users=10, faults=parse_faults(f"{key}=1"))
        with rally.client() as c:
            responses = [c.get("/subscription"), c.get("/user"), page(c, 1)]
        assert all(check(r) for r in responses), key
        if key != "rate_limit_rate":
            for r in responses:
                with pytest.raises(json.JSONDecodeError):
                    r.json()


def test_random_mix_is_deterministic(start_rally: StartRally) -> None:
    spec = parse_faults("rate_limit_rate=0.2,truncate_rate=0.2,bad_json_rate=0.2,seed=4")

    def kinds() -> list[str]:
        rally = start_rally(users=300, faults=spec)
        with rally.client() as c:
            for n in range(1, 31):
                page(c, n, size=10)
        return [e.kind for e in rally.sandbox.fault_log.events]

    first = kinds()
    assert first == kinds()
    assert {"rate_limit", "truncate", "bad_json"} <= set(first)
    assert 8 < len(first) < 28


def test_existing_keys_still_work(start_rally: StartRally) -> None:
    rally = start_rally(users=100, faults=parse_faults("fail_page=2,latency_ms=1"))
    with rally.client() as c:
        assert page(c, 2).status_code == 500
        assert page(c, 1).status_code == 200
    assert rally.sandbox.injected_errors == 1


# --------------------------------------------------------------------------- any sandbox

ITEMS = [{"id": i} for i in range(1, 26)]


async def _items(request: Request) -> Response:
    n = int(request.query_params.get("page", "1"))
    chunk = ITEMS[(n - 1) * 10 : n * 10]
    return JSONResponse({"data": chunk, "meta": {"total": len(ITEMS)}})


async def _reclaim(request: Request) -> Response:
    return JSONResponse({"ok": True})


def _page_of(request: Request) -> int | None:
    if request.url.path != "/items":
        return None
    return int(request.query_params.get("page", "1"))


def _drop(body: Any) -> None:
    body["data"].pop()


def _total(body: Any, delta: int) -> None:
    body["meta"]["total"] += delta


@pytest.fixture
def acme() -> Iterator[tuple[Any, FaultLog]]:
    """A non-vendor app with page-number paging, wrapped by the kit middleware."""
    servers = []

    def start(text: str) -> tuple[httpx.Client, FaultLog]:
        log = FaultLog()
        hooks = PageHooks(_page_of, _drop, _total)
        app = Starlette(
            routes=[Route("/items", _items), Route("/reclaim", _reclaim, methods=["POST"])],
            middleware=[fault_middleware(parse_faults(text), "acme", hooks, log=log)],
        )
        server = serve_in_thread(app)
        servers.append(server)
        return httpx.Client(base_url=server.url, timeout=5), log

    yield start  # type: ignore[misc]
    for server in servers:
        server.stop()


def test_the_middleware_serves_any_sandbox(acme: Any) -> None:
    c, log = acme("rate_limit_page=1,retry_after=3,short_page=2,total_change_page=3,total_delta=5")
    with c:
        limited = c.get("/items", params={"page": 1})
        first = c.get("/items", params={"page": 1}).json()
        second = c.get("/items", params={"page": 2}).json()
        third = c.get("/items", params={"page": 3}).json()
        reclaim = c.post("/reclaim")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert [len(b["data"]) for b in (first, second, third)] == [10, 9, 5]
    assert [b["meta"]["total"] for b in (first, second, third)] == [25, 25, 30]
    assert second["data"][-1] == {"id": 19}
    assert reclaim.json() == {"ok": True}
    assert [(e.kind, e.page) for e in log.events] == [
        ("rate_limit", 1),
        ("short", 2),
        ("total_change", 3),
    ]


def test_a_sandbox_without_pages_refuses_page_faults() -> None:
    with pytest.raises(ValueError, match="'truncate_page' is not supported by the plain sandbox"):
        fault_middleware(parse_faults("truncate_page=1"), "plain")
    fault_middleware(parse_faults("truncate_rate=0.5,rate_limit_rate=0.1"), "plain")


def test_error_pages_are_not_rewritten(acme: Any) -> None:
    c, log = acme("fail_page=2,truncate_page=2")
    with c:
        response = c.get("/items", params={"page": 2})
    assert response.status_code == 500
    assert log.counts == {"fail_page": 1}


def test_latency_errors_and_timeouts_come_from_the_kit(acme: Any) -> None:
    c, log = acme("latency_ms=150")
    with c:
        began = time.monotonic()
        assert c.get("/items").status_code == 200
        assert time.monotonic() - began >= 0.15
    c, log = acme("error_rate=1,seed=2")
    with c:
        statuses = {c.get("/items", params={"page": n}).status_code for n in range(1, 9)}
    assert statuses <= {500, 503} and log.counts == {"error": 8}
    c, log = acme("timeout_rate=1,hang_s=0.2")
    with c:
        began = time.monotonic()
        assert c.get("/items").status_code == 504
        assert time.monotonic() - began >= 0.2
    assert log.counts == {"timeout": 1}
