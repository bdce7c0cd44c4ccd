"""Asana end to end over HTTP against the sandbox, through the real services (issue 6):
subscriptions, editions, candidates from audit-log activity, reclaim through removeUser."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from shelfware.connectors.asana import ASANA_ACTIVITY_EVENTS
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import RemovalCandidate, SoftwareModel, Subscription
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reclamation import service as reclamation
from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.server import serve_in_thread
from shelfware.sync.service import sync_profile

from ..conftest import NOW


async def test_asana_subscriptions_candidates_and_reclaim(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    app, org = SANDBOXES["asana"](600, 31, NOW, 0, FaultSpec())
    workspace = org.organisation
    members = org.members(workspace.gid)
    with serve_in_thread(app) as server:
        with db.transaction() as session:
            profiles.create_profile(
                session,
                keys,
                clock,
                ProfileCreate(
                    kind="asana",
                    name="asana",
                    url=server.url,
                    secrets={"api_key": org.api_key},
                    options={"workspace": workspace.gid, "rate_limit": "paid"},
                ),
            )
        report = await profiles.validate_profile(db, keys, clock, "asana")
        assert report.ok, report
        with db.transaction() as session:
            profiles.publish_profile(session, clock, profiles.get_profile(session, "asana"))
        await sync_profile(db, keys, clock, "asana")

        with db.sessions() as session:
            held = {
                s.external_id: s.edition
                for s in session.scalars(select(Subscription).where(Subscription.active.is_(True)))
            }
            models = {m.edition: m for m in session.scalars(select(SoftwareModel))}
            candidates = {
                sub.external_id
                for cand, sub in session.execute(
                    select(RemovalCandidate, Subscription).join(
                        Subscription, Subscription.id == RemovalCandidate.subscription_id
                    )
                )
            }
        # subscriptions: exactly the active members, guests in their own (free) edition
        assert held == {
            m.user.gid: ("Guest" if m.is_guest else "Business") for m in members if m.is_active
        }
        assert models["Guest"].list_price == 0
        # candidates: active, non-admin, non-guest, idle > 60 days by the configured events
        # (activity is read from 60 days back, the default "analyze user activity from")
        cutoff = NOW - timedelta(days=60)
        recent = {
            e.actor.gid
            for e in org.events
            if e.workspace_gid == workspace.gid
            and e.event_type in ASANA_ACTIVITY_EVENTS
            and cutoff < e.created_at <= NOW
        }
        expected = {
            m.user.gid
            for m in members
            if m.is_active
            and not m.is_admin
            and not m.is_guest
            and m.user.gid not in recent
            and m.created_at <= cutoff
        }
        assert expected and candidates == expected

        outcomes = await reclamation.reclaim_candidates(db, keys, clock, all_ready=True)
        assert {o.action for o in outcomes} == {"reclaimed"}
        removed = {m.user.gid for m in members if not m.is_active}
        assert expected <= removed
        assert app.state.sandbox.remove_calls == len(expected)
        summary = await sync_profile(db, keys, clock, "asana")
        assert summary.candidates_closed == len(expected)


@pytest.mark.parametrize("events", ["user_login_succeeded"])
async def test_activity_event_types_are_configurable(events: str) -> None:
    from shelfware.connectors.asana import AsanaConnector
    from shelfware.connectors.base import ConnectorSettings

    connector = AsanaConnector(
        ConnectorSettings(
            url="https://app.asana.com",
            secrets={"api_key": "0/abcd"},
            options={"activity_events": events},
        )
    )
    assert connector.activity_events == (events,)
    await connector.aclose()
