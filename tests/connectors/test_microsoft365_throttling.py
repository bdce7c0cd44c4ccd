"""Graph-shaped throttling as `--faults` keys of the Microsoft 365 sandbox (`graph_ru`,
`graph_throttle_rate`), over real HTTP: the sandbox answers as Graph does, and the connector
waits what `Retry-After` says before asking again, and the download completes."""

from __future__ import annotations

import httpx
import pytest

from shelfware.connectors.registry import build_connector
from shelfware.kit.http import HttpPolicy
from shelfware.sandbox.faults import parse_faults
from shelfware.sandbox.microsoft365 import create_m365_app, generate_tenant, request_cost
from shelfware.sandbox.server import serve_in_thread

from ..conftest import NOW
from .test_microsoft365 import M365, held, settings


def test_the_keys_parse_and_are_refused_by_other_sandboxes() -> None:
    spec = parse_faults("graph_ru=8000,graph_throttle_rate=0.2")
    assert (spec.graph_ru, spec.graph_throttle_rate) == (8000, 0.2)
    with pytest.raises(ValueError, match="graph_throttle_rate"):
        parse_faults("graph_throttle_rate=1.5")
    with pytest.raises(ValueError, match="graph_ru"):
        parse_faults("graph_ru=0")
    from shelfware.sandbox import SANDBOXES

    with pytest.raises(ValueError, match="not supported by the rally sandbox"):
        SANDBOXES["rally"](3, 1, NOW, 0, spec)
    with pytest.raises(ValueError, match="not supported by the google sandbox"):
        SANDBOXES["google"](3, 1, NOW, 0, spec)


def gaps_after_throttling(m: M365) -> list[tuple[float, float]]:
    """For each throttled request: (Retry-After it was given, seconds until it came again)."""
    seen = m.state.seen
    found = []
    for i, (at, where, status) in enumerate(seen):
        if status:
            again = next(t for t, w, _ in seen[i + 1 :] if w == where)
            found.append((at, again - at))
    return found


async def test_graph_throttle_rate_429_and_503_are_waited_out_as_retry_after_says() -> None:
    tenant = generate_tenant(400, 21, NOW)  # 4 pages of users with signInActivity
    app = create_m365_app(tenant, parse_faults("graph_throttle_rate=0.4,retry_after=0.3,seed=2"))
    with serve_in_thread(app) as server:
        m = M365(tenant, app.state.sandbox, server.url)
        # backoff alone would wait 0.01 s at most: only Retry-After explains longer waits
        policy = HttpPolicy(max_retries=8, backoff_cap=0.01)
        connector = build_connector("microsoft365", settings(m), policy=policy)
        try:
            records = [r async for page in connector.accounts() for r in page]
        finally:
            await connector.aclose()
    assert {r.external_id for r in records} == set(held(tenant))
    statuses = {s for s, _ in m.state.throttled}
    assert statuses == {429, 503}  # Graph's two throttling answers, both seen
    gaps = gaps_after_throttling(m)
    assert gaps and all(gap >= 0.29 for _, gap in gaps)
    assert connector.stats.retries == len(gaps)


async def test_graph_ru_budget_answers_429_with_retry_after_in_graphs_shape() -> None:
    tenant = generate_tenant(10, 21, NOW)
    app = create_m365_app(tenant, parse_faults("graph_ru=3"))
    with serve_in_thread(app) as server:
        m = M365(tenant, app.state.sandbox, server.url)
        connector = build_connector("microsoft365", settings(m))
        try:
            skus = await connector.skus()  # type: ignore[attr-defined]  # spends 1 RU
            assert skus
        finally:
            await connector.aclose()
        bearer = m.state.issue()
        async with httpx.AsyncClient(base_url=f"{server.url}/v1.0") as client:
            headers = {"Authorization": f"Bearer {bearer}"}
            ok = await client.get("/users", params={"$select": "id"}, headers=headers)  # 1 RU
            ok2 = await client.get("/subscribedSkus", headers=headers)  # 1 RU: budget spent
            over = await client.get("/users", params={"$select": "id"}, headers=headers)
    assert ok.status_code == ok2.status_code == 200
    assert over.status_code == 429
    assert 1 <= int(over.headers["Retry-After"]) <= 10  # whole seconds, within Graph's window
    error = over.json()["error"]
    assert error["code"] == "TooManyRequests" and "innerError" in error


def test_request_cost_follows_graphs_table() -> None:
    from starlette.requests import Request

    def req(path: str, query: str = "", method: str = "GET") -> Request:
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": query.encode(),
            "headers": [],
        }
        return Request(scope)

    assert request_cost(req("/v1.0/users")) == 2
    assert request_cost(req("/v1.0/users", "$select=id")) == 1
    assert request_cost(req("/v1.0/subscribedSkus")) == 1
    assert request_cost(req("/v1.0/directoryRoles", "$expand=members")) == 2


async def test_graph_ru_budget_binds_and_the_download_waits_and_completes() -> None:
    """A budget smaller than the download: Graph's 429s come with Retry-After (the seconds
    until the window has room); the connector waits them and every license is read."""
    tenant = generate_tenant(300, 21, NOW)  # 3 pages of users + skus, roles, organization
    app = create_m365_app(tenant, parse_faults("graph_ru=3"))
    app.state.sandbox.ru_window = 1.0  # Graph's window is 10 s: shortened for the test
    with serve_in_thread(app) as server:
        m = M365(tenant, app.state.sandbox, server.url)
        policy = HttpPolicy(max_retries=8, backoff_cap=0.01)
        connector = build_connector("microsoft365", settings(m), policy=policy)
        try:
            records = [r async for page in connector.accounts() for r in page]
        finally:
            await connector.aclose()
    assert {r.external_id for r in records} == set(held(tenant))
    assert m.state.throttled and {s for s, _ in m.state.throttled} == {429}
    assert all(gap >= 0.99 for _, gap in gaps_after_throttling(m))  # Retry-After: 1 s


async def test_the_usage_report_download_is_retried_by_the_kits_client() -> None:
    """The report's pre-authenticated download (the storage host, not Graph) goes through the
    kit's guarded client: its passing 503s are retried as Graph's are, and the report read."""
    tenant = generate_tenant(50, 21, NOW)
    tenant.premium = False  # no signInActivity: activity from the usage report
    app = create_m365_app(tenant)
    app.state.sandbox.download_fail_next = [503, 503]
    with serve_in_thread(app) as server:
        m = M365(tenant, app.state.sandbox, server.url)
        policy = HttpPolicy(max_retries=4, backoff_cap=0.01)
        connector = build_connector("microsoft365", settings(m), policy=policy)
        try:
            records = [r async for page in connector.accounts() for r in page]
        finally:
            await connector.aclose()
    assert {r.external_id for r in records} == set(held(tenant))
    assert m.state.download_fail_next == []  # both 503s answered, then the report served
    assert connector.stats.retries == 2
    assert any(r.last_activity_at is not None for r in records)
