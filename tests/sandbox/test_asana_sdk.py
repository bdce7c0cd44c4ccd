"""Fidelity with Asana's official Python SDK (``asana`` on PyPI, v5) pointed at the sandbox.

The SDK's page iterator follows ``next_page.offset`` until ``next_page`` is null, which suits the
collections; for the audit log (a stream whose ``next_page`` never goes null) the pages are read
with ``full_payload=True`` and the loop stops on an empty page, as Asana documents.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asana
import pytest
from asana.rest import ApiException

from .test_asana_http import AsanaServer, StartAsana, start_asana

__all__ = ["start_asana"]


@pytest.fixture
def sandbox(start_asana: StartAsana) -> AsanaServer:
    return start_asana(users=260, seed=12)


def sdk(server: AsanaServer, token: str | None = None) -> asana.ApiClient:
    conf = asana.Configuration()
    conf.host = server.api
    conf.access_token = token or server.org.api_key
    return asana.ApiClient(conf)


def test_sdk_reads_me_and_workspaces(sandbox: AsanaServer) -> None:
    client = sdk(sandbox)
    me = asana.UsersApi(client).get_user("me", {"opt_fields": "email,name,workspaces.name"})
    assert me["gid"] == sandbox.org.owner.gid and me["email"] == sandbox.org.owner.email
    spaces = list(asana.WorkspacesApi(client).get_workspaces({"opt_fields": "is_organization"}))
    assert [(w["gid"], w["is_organization"]) for w in spaces] == [
        (w.gid, w.is_organization) for w in sandbox.org.workspaces
    ]


def test_sdk_lists_memberships_with_opt_fields_and_paging(sandbox: AsanaServer) -> None:
    ws = sandbox.org.organisation.gid
    api = asana.WorkspaceMembershipsApi(sdk(sandbox))
    fields = "user.email,user.name,is_active,is_admin,is_guest,created_at"
    rows = list(
        api.get_workspace_memberships_for_workspace(ws, {"opt_fields": fields, "limit": 40})
    )
    members = sandbox.org.members(ws)
    assert len(members) > 40 * 6  # several pages
    assert [r["gid"] for r in rows] == [m.gid for m in members]
    by_gid = {m.gid: m for m in members}
    for row in rows:
        m = by_gid[row["gid"]]
        assert set(row) == {"gid", "user", "is_active", "is_admin", "is_guest", "created_at"}
        assert row["user"] == {"gid": m.user.gid, "email": m.user.email, "name": m.user.name}
        assert (row["is_active"], row["is_admin"], row["is_guest"]) == (
            m.is_active,
            m.is_admin,
            m.is_guest,
        )
    users = list(asana.UsersApi(sdk(sandbox)).get_users({"workspace": ws, "opt_fields": "email"}))
    assert len(users) == sum(m.is_active for m in members)


def test_sdk_reads_audit_log_events(sandbox: AsanaServer) -> None:
    ws = sandbox.org.organisation.gid
    api = asana.AuditLogAPIApi(sdk(sandbox))
    end = sandbox.org.now
    start = end - timedelta(days=60)
    opts: dict[str, Any] = {
        "start_at": start,
        "end_at": end,
        "event_type": "user_login_succeeded",
        "limit": 25,
    }
    rows: list[dict[str, Any]] = []
    while True:
        page = api.get_audit_log_events(ws, dict(opts), full_payload=True)
        if not page["data"]:
            assert page["next_page"] is not None  # the stream: the end is an empty page
            break
        rows += page["data"]
        opts["offset"] = page["next_page"]["offset"]
    expected = [
        e.gid
        for e in sandbox.org.events
        if e.event_type == "user_login_succeeded" and start <= e.created_at < end
    ]
    assert len(expected) > 25 and [r["gid"] for r in rows] == expected
    assert all(r["actor"]["actor_type"] == "user" for r in rows)
    # The SDK's own iterator, bounded by item_limit, reads the same events.
    first = list(
        api.get_audit_log_events(
            ws, {"end_at": end, "event_type": "user_login_succeeded", "limit": 10}, item_limit=30
        )
    )
    assert len(first) == 30


def test_sdk_removes_a_user_and_sees_errors(sandbox: AsanaServer) -> None:
    ws = sandbox.org.organisation.gid
    victim = next(m for m in sandbox.org.members(ws)[1:] if m.is_active and not m.is_admin)
    body = {"data": {"user": victim.user.email}}
    with pytest.raises(ApiException) as refused:
        asana.WorkspacesApi(sdk(sandbox, sandbox.org.member_key)).remove_user_for_workspace(
            body, ws
        )
    assert refused.value.status == 403 and victim.is_active
    assert asana.WorkspacesApi(sdk(sandbox)).remove_user_for_workspace(body, ws) == {}
    assert not victim.is_active
    plain = sandbox.org.workspaces[1].gid
    with pytest.raises(ApiException) as not_enterprise:
        asana.AuditLogAPIApi(sdk(sandbox)).get_audit_log_events(plain, {}, full_payload=True)
    assert not_enterprise.value.status == 402
    with pytest.raises(ApiException) as unauthorised:
        asana.UsersApi(sdk(sandbox, "wrong-token")).get_user("me", {})
    assert unauthorised.value.status == 401
