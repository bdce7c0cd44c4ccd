"""The Asana sandbox's Audit Log API over real HTTP: boundaries, retention, filters, the stream."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from shelfware.sandbox.asana import format_time
from shelfware.sandbox.asana_org import AuditEvent

from .test_asana_http import AsanaServer, StartAsana, errors_of, start_asana

__all__ = ["start_asana"]  # the fixture, re-exported for pytest


@pytest.fixture
def asana(start_asana: StartAsana) -> AsanaServer:
    return start_asana(users=200, seed=4)


def audit_path(asana: AsanaServer, index: int = 0) -> str:
    return f"/workspaces/{asana.org.workspaces[index].gid}/audit_log_events"


def stream(c: httpx.Client, path: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Every event up to the first empty page, and the number of pages read."""
    rows: list[dict[str, Any]] = []
    body = c.get(path, params=params).json()
    pages = 1
    while body["data"]:
        rows += body["data"]
        assert body["next_page"] is not None  # never null while events come
        body = c.get(path, params={**params, "offset": body["next_page"]["offset"]}).json()
        pages += 1
    return rows, pages


def iso(value: datetime) -> str:
    return value.isoformat()


def test_streams_every_kept_event_ascending(asana: AsanaServer) -> None:
    end = asana.org.now
    with asana.client() as c:
        rows, pages = stream(c, audit_path(asana), {"end_at": iso(end), "limit": 50})
    floor = asana.org.now - timedelta(days=90)
    expected = [e for e in asana.org.events if floor <= e.created_at < end]
    assert [r["gid"] for r in rows] == [e.gid for e in expected]
    assert len(expected) > 100 and pages == len(expected) // 50 + 2  # + the empty last page
    stamps = [r["created_at"] for r in rows]
    assert stamps == sorted(stamps)
    first = rows[0]
    assert set(first) == {
        "gid",
        "created_at",
        "event_type",
        "event_category",
        "actor",
        "resource",
        "details",
        "context",
    }
    assert first["actor"]["actor_type"] == "user" and "email" in first["actor"]


def test_retention_hides_events_older_than_90_days(asana: AsanaServer) -> None:
    old = [e for e in asana.org.events if asana.org.now - e.created_at > timedelta(days=91)]
    assert old
    with asana.client() as c:
        start = asana.org.now - timedelta(days=400)
        rows, _ = stream(c, audit_path(asana), {"start_at": iso(start), "limit": 100})
    returned = {r["gid"] for r in rows}
    assert not returned & {e.gid for e in old}
    oldest = min(datetime.fromisoformat(r["created_at"]) for r in rows)
    assert asana.org.now - oldest <= timedelta(days=90)


def test_start_at_inclusive_end_at_exclusive(asana: AsanaServer) -> None:
    e: AuditEvent = asana.org.events[len(asana.org.events) - 20]
    base = {"actor_gid": e.actor.gid, "event_type": e.event_type, "limit": 100}
    with asana.client() as c:

        def gids(**window: datetime) -> set[str]:
            params = {**base, **{k: iso(v) for k, v in window.items()}}
            return {r["gid"] for r in stream(c, audit_path(asana), params)[0]}

        ms = timedelta(milliseconds=1)
        assert e.gid in gids(start_at=e.created_at, end_at=e.created_at + ms)
        assert e.gid not in gids(start_at=e.created_at + ms)
        assert e.gid not in gids(start_at=e.created_at - ms, end_at=e.created_at)
        assert e.gid in gids(end_at=e.created_at + ms)


def test_event_type_and_actor_filters(asana: AsanaServer) -> None:
    actor = asana.org.events[-1].actor
    with asana.client() as c:
        logins, _ = stream(
            c, audit_path(asana), {"event_type": "user_login_succeeded", "limit": 100}
        )
        mine, _ = stream(c, audit_path(asana), {"actor_gid": actor.gid, "limit": 100})
    assert logins and {r["event_type"] for r in logins} == {"user_login_succeeded"}
    assert {r["event_category"] for r in logins} == {"logins"}
    assert mine and {r["actor"]["gid"] for r in mine} == {actor.gid}


def test_next_page_stays_and_null_only_without_matches(asana: AsanaServer) -> None:
    last = asana.org.events[-1]
    params = {"start_at": iso(last.created_at), "limit": 10}
    with asana.client() as c:
        first = c.get(audit_path(asana), params=params).json()
        assert [r["gid"] for r in first["data"]] == [last.gid]
        offset = first["next_page"]["offset"]
        for _ in range(3):  # the end: empty pages, next_page still present
            body = c.get(audit_path(asana), params={**params, "offset": offset}).json()
            assert body["data"] == [] and body["next_page"] is not None
            offset = body["next_page"]["offset"]
        none = c.get(audit_path(asana), params={"event_type": "no_such_event"}).json()
    assert none == {"data": [], "next_page": None}


def test_offsets_bound_to_their_filters_and_expiring(asana: AsanaServer) -> None:
    params = {"event_type": "user_login_succeeded", "limit": 5}
    with asana.client() as c:
        offset = c.get(audit_path(asana), params=params).json()["next_page"]["offset"]
        other = c.get(
            audit_path(asana), params={**params, "event_type": "task_created", "offset": offset}
        )
        assert other.status_code == 400 and errors_of(other)
        asana.sandbox.clock.advance(asana.sandbox.offset_ttl + 1)
        late = c.get(audit_path(asana), params={**params, "offset": offset})
    assert late.status_code == 400 and "expired" in errors_of(late)[0]["message"]


def test_bad_parameters(asana: AsanaServer) -> None:
    with asana.client() as c:
        for params in ({"start_at": "yesterday"}, {"limit": 101}, {"limit": 0}):
            r = c.get(audit_path(asana), params=params)
            assert r.status_code == 400 and errors_of(r)


def test_only_enterprise_organisations_and_admins(asana: AsanaServer) -> None:
    with asana.client() as c:
        plain = c.get(audit_path(asana, 1))
    assert plain.status_code == 402 and "Enterprise" in errors_of(plain)[0]["message"]
    with asana.client(asana.org.member_key) as member:
        r = member.get(audit_path(asana))
    assert r.status_code == 403 and errors_of(r)


def test_time_format() -> None:
    value = datetime.fromisoformat("2025-06-01T12:00:00.123456+02:00")
    assert format_time(value) == "2025-06-01T10:00:00.123Z"
