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
from tests.helpers import wide_cap

from ..conftest import NOW
from ..helpers import published


async def test_asana_subscriptions_candidates_and_reclaim(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    app, org = SANDBOXES["asana"](600, 31, NOW, 0, FaultSpec())
    workspace = org.organisation
    members = org.members(workspace.gid)
    with serve_in_thread(app) as server:
        await published(
            db,
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

        outcomes = await reclamation.reclaim_candidates(
            db, keys, clock, all_ready=True, settings=wide_cap()
        )
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


async def test_two_organisations_sync_independently_and_activity_is_incremental(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    """Several profiles of one app (the seeds' child aliases): their own credentials, their
    own subscriptions. Activity starts from "analyze user activity from" (60 days before the
    profile was created, never before the 90 days Asana keeps) and then from the watermark."""
    from urllib.parse import parse_qs

    audit_starts: list[str] = []

    def recording(app: object):  # type: ignore[no-untyped-def]
        async def wrapped(scope, receive, send):  # type: ignore[no-untyped-def]
            if scope["type"] == "http" and scope["path"].endswith("/audit_log_events"):
                query = parse_qs(scope["query_string"].decode())
                audit_starts.extend(query.get("start_at", []))
            await app(scope, receive, send)  # type: ignore[operator]

        return wrapped

    first_app, first_org = SANDBOXES["asana"](150, 41, NOW, 0, FaultSpec())
    second_app, second_org = SANDBOXES["asana"](90, 42, NOW, 0, FaultSpec())
    with (
        serve_in_thread(recording(first_app)) as first,
        serve_in_thread(second_app) as second,
    ):
        for name, server, org in (("acme-eu", first, first_org), ("acme-us", second, second_org)):
            await published(
                db,
                keys,
                clock,
                ProfileCreate(
                    kind="asana",
                    name=name,
                    url=server.url,
                    secrets={"api_key": org.api_key},
                    options={"workspace": org.organisation.gid, "rate_limit": "paid"},
                ),
            )
        audit_starts.clear()  # validation probes the log too
        await sync_profile(db, keys, clock, "acme-eu")
        await sync_profile(db, keys, clock, "acme-us")
        with db.sessions() as session:
            by_profile: dict[int, set[str]] = {}
            for sub in session.scalars(select(Subscription)):
                by_profile.setdefault(sub.profile_id, set()).add(sub.external_id)
        expected = [
            {m.user.gid for m in org.members(org.organisation.gid)}
            for org in (first_org, second_org)
        ]
        assert sorted(by_profile.values(), key=len, reverse=True) == expected
        # activity: from 60 days before creation on the first sync, then from the watermark
        start = (NOW - timedelta(days=60)).strftime("%Y-%m-%dT%H")
        assert audit_starts and {s[:13] for s in audit_starts} == {start}
        audit_starts.clear()
        clock.advance(timedelta(hours=6))
        await sync_profile(db, keys, clock, "acme-eu")
        assert audit_starts and {s[:13] for s in audit_starts} == {NOW.strftime("%Y-%m-%dT%H")}


async def test_validation_says_separately_whether_activity_is_available(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    """The Audit Log API is an Enterprise feature: on a plain workspace download works and
    activity does not; with the activity process off the profile can still be published."""
    app, org = SANDBOXES["asana"](60, 13, NOW, 0, FaultSpec())
    plain = next(w for w in org.workspaces if not w.enterprise)
    with serve_in_thread(app) as server:
        with db.transaction() as session:
            profiles.create_profile(
                session,
                keys,
                clock,
                ProfileCreate(
                    kind="asana",
                    name="plain",
                    url=server.url,
                    secrets={"api_key": org.api_key},
                    options={"workspace": plain.gid},
                ),
            )
        report = await profiles.validate_profile(db, keys, clock, "plain")
        checks = {c.name: c for c in report.checks}
        assert checks["download"].ok and not checks["activity"].ok
        assert "Enterprise" in checks["activity"].detail and not report.ok
        with db.transaction() as session:
            profile = profiles.get_profile(session, "plain")
            with pytest.raises(profiles.ProfileError, match="failed"):
                profiles.publish_profile(session, clock, profile)
            profiles.set_processes(session, clock, profile, activity=False)
        assert (await profiles.validate_profile(db, keys, clock, "plain")).ok
        with db.transaction() as session:
            profiles.publish_profile(session, clock, profiles.get_profile(session, "plain"))
