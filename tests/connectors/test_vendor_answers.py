"""Issue 15, vendor answers: role and status names the connector does not know are never
guessed into a seat that can be reclaimed, and a 404 that does not name the account leaves its
candidate as it was. Real HTTP against the sandboxes, through the real services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shelfware.connectors.base import AccountRef, ConnectorSettings
from shelfware.connectors.okta import App, map_app_user
from shelfware.connectors.registry import build_connector
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import CandidateState, RemovalCandidate, Subscription, SyncRun
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reclamation.service import list_candidates, reclaim_candidates
from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.server import serve_in_thread
from shelfware.sync.service import sync_profile
from tests.connectors.proxy import proxy_404
from tests.helpers import published, published_rally, wide_cap

from ..conftest import NOW

pytestmark = pytest.mark.store


def candidates(db: Database) -> dict[str, tuple[int, str]]:
    with db.sessions() as session:
        return {c.external_id: (c.id, c.state) for c in list_candidates(session)}


async def test_a_proxy_404_on_the_reread_leaves_the_candidates_as_they_were(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    """Asana behind a proxy: once the proxy answers its own 404 page for the members' routes,
    the re-read before reclaim is an error ("unreachable"), never "already gone"."""
    app, org = SANDBOXES["asana"](300, 41, NOW, 0, FaultSpec())
    workspace = org.organisation.gid
    with serve_in_thread(app) as server, proxy_404(server.url) as proxy:
        await published(
            db,
            keys,
            clock,
            ProfileCreate(
                kind="asana",
                name="asana",
                url=proxy.url,
                secrets={"api_key": org.api_key},
                options={"workspace": workspace, "rate_limit": "paid"},
            ),
        )
        await sync_profile(db, keys, clock, "asana")
        before = candidates(db)
        assert before and {state for _, state in before.values()} == {CandidateState.READY}
        proxy.blocked |= set(before)  # every candidate's user routes now 404 at the proxy
        outcomes = await reclaim_candidates(db, keys, clock, all_ready=True, settings=wide_cap())
        assert proxy.answered > 0
        assert {o.action for o in outcomes} <= {"unreachable", "not_attempted"}
        assert "unreachable" in {o.action for o in outcomes}
        unreachable = next(o for o in outcomes if o.action == "unreachable")
        assert "without naming the object" in unreachable.message
        assert candidates(db) == before
        assert app.state.sandbox.remove_calls == 0
        with db.sessions() as session:
            reclaimed = session.scalars(
                select(RemovalCandidate).where(RemovalCandidate.reclaimed_at.is_not(None))
            ).all()
        assert not reclaimed


async def test_an_unknown_rally_permission_is_protected_counted_and_listed(
    db: Database, keys: KeyRing, clock: FrozenClock, rally_factory: Any
) -> None:
    sandbox = rally_factory(users=300, seed=8)
    users = sorted(sandbox.org.users, key=lambda u: u.object_id)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    await sync_profile(db, keys, clock, "rally")
    ready = candidates(db)
    first, second = sorted(ready, key=int)[:2]
    by_id = {str(u.object_id): u for u in users}
    # one candidate's permission becomes a name the connector does not know; another's a
    # known name in another spelling (an enum)
    by_id[first].permission = "Workspace Superuser"
    by_id[second].permission = "WORKSPACE_ADMIN"
    sandbox.state.reload_users()

    # the re-read before reclaim: the unknown permission cancels, never reclaims
    outcomes = await reclaim_candidates(db, keys, clock, ids=[ready[first][0], ready[second][0]])
    actions = {o.candidate_id: (o.action, o.message) for o in outcomes}
    assert actions[ready[first][0]][0] == "canceled"
    assert "Workspace Superuser" in actions[ready[first][0]][1]
    assert actions[ready[second][0]] == ("canceled", "the account is now an admin")
    assert not by_id[first].disabled and not by_id[second].disabled

    # the sync marks it, counts it in the run record, and it never becomes a candidate again
    clock.advance(timedelta(hours=1))
    summary = await sync_profile(db, keys, clock, "rally")
    assert summary.unrecognised == 1
    assert summary.unrecognised_values == ["unknown permission 'Workspace Superuser'"]
    with db.sessions() as session:
        sub = session.scalars(select(Subscription).where(Subscription.external_id == first)).one()
        assert sub.admin and sub.unrecognised == "unknown permission 'Workspace Superuser'"
        runs = session.scalars(select(SyncRun).order_by(SyncRun.id)).all()
        assert runs[-1].unrecognised == 1
        with_candidate = session.scalars(
            select(RemovalCandidate.state).where(RemovalCandidate.subscription_id == sub.id)
        ).all()
    assert with_candidate == [CandidateState.CLOSED_CANCELED]  # no new candidate either


async def test_validation_lists_unknown_rally_permissions(rally_factory: Any) -> None:
    sandbox = rally_factory(users=40, seed=9)
    sandbox.org.users[5].permission = "Billing Viewer"
    sandbox.org.users[6].permission = "project-admin"  # known, another spelling
    sandbox.state.reload_users()
    settings = ConnectorSettings(url=sandbox.url, secrets={"api_key": sandbox.org.api_key})
    connector = build_connector("rally", settings)
    try:
        report = await connector.validate()
    finally:
        await connector.aclose()
    assert report.ok
    assert report.facts["unknown_values"] == ["unknown permission 'Billing Viewer'"]


def test_okta_statuses_in_any_spelling_and_unknown_ones_never_guessed() -> None:
    app = App("0oa1", "Jira", "Jira", True)
    seat = {"id": "00u1", "scope": "USER", "credentials": {"userName": "a@x.io"}}
    inactive = map_app_user({**seat, "status": "inactive"}, app, {}, None)
    assert not inactive.active and inactive.unrecognised is None
    odd = map_app_user({**seat, "status": "QUARANTINED"}, app, {}, None)
    assert (
        odd.active and odd.admin and odd.unrecognised == "unknown assignment status 'QUARANTINED'"
    )


async def test_scim_roles_unknown_are_listed_and_declared_ones_are_known() -> None:
    app, org = SANDBOXES["scim"](30, 3, NOW, 0, FaultSpec())
    state = app.state.sandbox
    first = state.ordered()[0]["id"]
    state.users[first]["roles"] = [{"value": "Billing Manager"}]
    with serve_in_thread(app) as server:
        url = f"{server.url}/scim/v2"
        plain = ConnectorSettings(url=url, secrets={"api_key": org.api_key})
        declared = ConnectorSettings(
            url=url, secrets={"api_key": org.api_key}, options={"user_roles": "billing-manager"}
        )
        for settings, unknown in ((plain, ["unknown role 'Billing Manager'"]), (declared, [])):
            connector = build_connector("scim", settings)
            try:
                report = await connector.validate()
                record = await connector.current(AccountRef(first))
            finally:
                await connector.aclose()
            assert report.facts["unknown_values"] == unknown
            assert record is not None
            assert (record.unrecognised is None) is (not unknown)
            assert record.admin is bool(unknown)
