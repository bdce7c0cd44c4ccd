"""Fidelity: the official ``okta`` Python SDK (PyPI), pointed at the Okta sandbox.

Importing the SDK costs ~5 s of CPU (it loads hundreds of generated models), so it is imported
inside the test, never at collection. The SDK only talks to ``https`` org URLs unless its
documented testing switch is on; it is set through the SDK's environment configuration
(``OKTA_TESTING_TESTINGDISABLEHTTPSCHECK``), because its ``Client({...})`` constructor nests every
key under ``client`` (and an ``sslContext`` for https cannot be passed: the SDK deep-copies it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from shelfware.sandbox import FaultSpec, serve_in_thread
from shelfware.sandbox.okta import OktaSandbox, RateLimits, create_okta_app
from shelfware.sandbox.okta_org import SSO, OktaOrg, format_time, generate_okta_org

from .conftest import NOW


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[OktaOrg, OktaSandbox, str]]:
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    org = generate_okta_org(60, 7, NOW)
    # two log reads a second: five quick pages always meet a 429 (at most two windows)
    limits = RateLimits(budgets={"logs": 2, "users": 100, "app_users": 100}, window_s=1.0)
    app = create_okta_app(org, FaultSpec(), 0, limits)
    with serve_in_thread(app) as server:
        yield org, app.state.sandbox, server.url


def client(org: OktaOrg, url: str) -> Any:
    okta_client = pytest.importorskip("okta.client")
    return okta_client.Client({"orgUrl": url, "token": org.api_key})


async def all_pages(call: Any, *args: Any, **params: Any) -> list[Any]:
    """Follow the Link header the SDK's own way (PaginationHelper + ``after``)."""
    from okta import pagination

    items, resp, err = await call(*args, **params)
    assert err is None, err
    result = list(items)
    while cursor := pagination.PaginationHelper.extract_next_cursor(resp.headers):
        items, resp, err = await call(*args, **params, after=cursor)
        assert err is None, err
        result += items
    return result


def test_sdk_lists_users_app_users_logs_and_unassigns(
    sandbox: tuple[OktaOrg, OktaSandbox, str],
) -> None:
    org, sb, url = sandbox

    async def run() -> dict[str, Any]:
        okta = client(org, url)
        sb.rate("logs", consume=True)  # the budget is spent: the first log read meets a 429
        sb.rate("logs", consume=True)
        rally = org.app_by_label("Rally")
        direct = next(
            s.user_id
            for s in org.assignments[rally.id].values()
            if s.scope == "USER" and s.user_id != org.owner_id
        )
        zoom = org.app_by_label("Zoom")
        grouped = next(s.user_id for s in org.assignments[zoom.id].values() if s.scope == "GROUP")
        since, until = format_time(NOW - timedelta(days=60)), format_time(NOW)
        out: dict[str, Any] = {
            "active": await all_pages(okta.list_users, filter='status eq "ACTIVE"', limit=9),
            "default": await all_pages(okta.list_users, limit=200),
            "app_users": await all_pages(okta.list_application_users, zoom.id, limit=7),
            "logs": await all_pages(
                okta.list_log_events,
                since=since,
                until=until,
                filter=f'eventType eq "{SSO}"',
                limit=25,
                sort_order="ASCENDING",
            ),
            "direct": direct,
            "grouped": grouped,
            "rally": rally.id,
            "zoom": zoom.id,
        }
        out["unassign"] = await okta.unassign_user_from_application(rally.id, direct)
        out["group_unassign"] = await okta.unassign_user_from_application(zoom.id, grouped)
        out["rally_after"] = await all_pages(okta.list_application_users, rally.id)
        out["apps"] = await all_pages(okta.list_applications, limit=4)
        return out

    out = asyncio.run(run())
    active = [u for u in org.users if u.status == "ACTIVE"]
    assert sorted(u.id for u in out["active"]) == sorted(u.id for u in active)
    assert {str(u.status.value) for u in out["active"]} == {"ACTIVE"}
    first = next(u for u in out["active"] if u.id == active[0].id)
    assert first.profile.login == active[0].login and first.profile.email == active[0].email
    assert sorted(u.id for u in out["default"]) == sorted(
        u.id for u in org.users if u.status != "DEPROVISIONED"
    )
    seats = org.assignments[out["zoom"]]
    assert sorted(u.id for u in out["app_users"]) == sorted(seats)
    assert {u.id: u.scope for u in out["app_users"]} == {k: s.scope for k, s in seats.items()}
    expected_logs = [
        e["uuid"]
        for e in org.events
        if e["eventType"] == SSO
        and format_time(NOW - timedelta(days=60)) <= e["published"] < format_time(NOW)
    ]
    # five pages or more against a budget of two a second: the SDK waited on 429 until Reset
    assert len(expected_logs) > 4 * 25
    assert [e.uuid for e in out["logs"]] == expected_logs
    assert sb.throttled >= 1
    event = out["logs"][-1]
    assert [t.type for t in event.target] == ["AppInstance", "AppUser"]
    _, response, error = out["unassign"]
    assert error is None and response.status_code == 204
    assert out["direct"] not in {u.id for u in out["rally_after"]}
    group_error = out["group_unassign"][-1]  # errors come back as (response, error)
    assert group_error is not None and "E0000046" in str(group_error), out["group_unassign"]
    assert out["grouped"] in org.assignments[out["zoom"]]
    assert sorted((a.id, a.label) for a in out["apps"]) == sorted((a.id, a.label) for a in org.apps)
