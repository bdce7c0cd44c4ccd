"""A custom spec and a built-in connector reach the same result: examples/rally.yaml against
the Rally sandbox gives the same subscriptions and candidates as the `rally` connector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import IntegrationProfile, RemovalCandidate, Subscription
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.sync.service import sync_profile
from tests.helpers import wide_cap

from ...helpers import published, published_rally

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
COMPARED = ("external_id", "username", "email", "active", "admin", "edition")
DATES = ("created_in_app_at", "last_activity_at")


def rows(db: Database, profile: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with db.sessions() as session:
        pid = session.scalar(
            select(IntegrationProfile.id).where(IntegrationProfile.name == profile)
        )
        subs = session.scalars(
            select(Subscription)
            .where(Subscription.profile_id == pid)
            .order_by(Subscription.external_id)
        ).all()
        by_id = {s.id: s.external_id for s in subs}
        subscriptions = [
            (*(getattr(s, c) for c in COMPARED + DATES), s.software_model_id) for s in subs
        ]
        candidates = sorted(
            (by_id[c.subscription_id], c.state, c.justification, c.inactive_days)
            for c in session.scalars(
                select(RemovalCandidate).where(RemovalCandidate.profile_id == pid)
            )
        )
    return subscriptions, candidates


async def test_custom_rally_spec_matches_the_builtin_connector(
    db: Database, keys: KeyRing, clock: FrozenClock, rally_factory: Any
) -> None:
    builtin_sandbox = rally_factory(users=900, seed=21)
    spec_sandbox = rally_factory(users=900, seed=21)  # the same organisation, served twice
    await published_rally(db, keys, clock, builtin_sandbox.url, builtin_sandbox.org.api_key)
    with db.transaction() as session:
        profiles.create_profile(
            session,
            keys,
            clock,
            ProfileCreate(
                kind="custom",
                name="rally-spec",
                url=spec_sandbox.url,
                secrets={"api_key": spec_sandbox.org.api_key},
                spec=(EXAMPLES / "rally.yaml").read_text(),
                options={"page_size": "300"},
            ),
        )
    report = await profiles.validate_profile(db, keys, clock, "rally-spec")
    assert report.ok, report
    assert len(report.facts["accounts_sample"]) == 3  # the first records, as mapped
    with db.transaction() as session:
        profiles.publish_profile(session, clock, profiles.get_profile(session, "rally-spec"))
    builtin = await sync_profile(db, keys, clock, "rally")
    custom = await sync_profile(db, keys, clock, "rally-spec")
    assert builtin.accounts == custom.accounts == 900
    assert custom.candidates_created == builtin.candidates_created > 0
    built_subs, built_candidates = rows(db, "rally")
    spec_subs, spec_candidates = rows(db, "rally-spec")
    assert spec_subs == built_subs
    assert spec_candidates == built_candidates


async def test_a_spec_without_activity_never_selects_candidates(
    db: Database, keys: KeyRing, clock: FrozenClock, rally_factory: Any
) -> None:
    """Without activity data idleness is unknown: such a profile has the activity process off,
    so a sync downloads seats but creates no candidate (never 'everyone is idle')."""
    import yaml

    sandbox = rally_factory(users=200, seed=3)
    spec = yaml.safe_load((EXAMPLES / "rally.yaml").read_text())
    del spec["streams"]["accounts"]["fields"]["last_activity_at"]
    with db.transaction() as session:
        profile = profiles.create_profile(
            session,
            keys,
            clock,
            ProfileCreate(
                kind="custom",
                name="no-activity",
                url=sandbox.url,
                secrets={"api_key": sandbox.org.api_key},
                spec=yaml.safe_dump(spec),
            ),
        )
        assert profile.process_activity is False and profile.process_reclaim is True
        with pytest.raises(profiles.ProfileError, match="no user activity"):
            profiles.set_processes(session, clock, profile, activity=True)
    assert (await profiles.validate_profile(db, keys, clock, "no-activity")).ok
    with db.transaction() as session:
        profiles.publish_profile(session, clock, profiles.get_profile(session, "no-activity"))
    summary = await sync_profile(db, keys, clock, "no-activity")
    assert summary.accounts == 200 and summary.candidates_created == 0


async def test_custom_asana_spec_matches_the_builtin_connector(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    from shelfware.sandbox import SANDBOXES
    from shelfware.sandbox.faults import FaultSpec
    from shelfware.sandbox.server import serve_in_thread

    from ...conftest import NOW

    builtin_app, org = SANDBOXES["asana"](500, 23, NOW, 0, FaultSpec())
    spec_app, _ = SANDBOXES["asana"](500, 23, NOW, 0, FaultSpec())  # the same organisation
    workspace = org.organisation.gid
    with serve_in_thread(builtin_app) as builtin_server, serve_in_thread(spec_app) as spec_server:
        for name, kind, server, spec in (
            ("asana", "asana", builtin_server, None),
            ("asana-spec", "custom", spec_server, (EXAMPLES / "asana.yaml").read_text()),
        ):
            await published(
                db,
                keys,
                clock,
                ProfileCreate(
                    kind=kind,
                    name=name,
                    url=server.url,
                    secrets={"api_key": org.api_key},
                    options={"workspace": workspace, "rate_limit": "paid"},
                    spec=spec,
                ),
            )
            await sync_profile(db, keys, clock, name)
    built_subs, built_candidates = rows(db, "asana")
    spec_subs, spec_candidates = rows(db, "asana-spec")
    assert built_candidates and spec_subs == built_subs
    assert spec_candidates == built_candidates


async def test_acme_end_to_end_through_its_spec(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    """An API no built-in connector knows: download, activity from its events, candidates,
    reclaim by DELETE, and the next sync closing the reclaimed seats."""
    from datetime import timedelta

    from shelfware.reclamation import service as reclamation
    from shelfware.sandbox import SANDBOXES
    from shelfware.sandbox.acme import acme_member_id
    from shelfware.sandbox.faults import FaultSpec
    from shelfware.sandbox.server import serve_in_thread

    from ...conftest import NOW

    app, org = SANDBOXES["acme"](300, 19, NOW, 0, FaultSpec())
    state = app.state.sandbox
    with serve_in_thread(app) as server:
        await published(
            db,
            keys,
            clock,
            ProfileCreate(
                kind="custom",
                name="acme",
                url=server.url,
                secrets={"api_key": org.api_key},
                spec=(EXAMPLES / "acme.yaml").read_text(),
            ),
        )
        summary = await sync_profile(db, keys, clock, "acme")
        assert summary.accounts == len(org.users)
        cutoff = NOW - timedelta(days=60)
        latest: dict[str, object] = {}
        for event in org.events:
            latest[event.member_id] = max(event.at, latest.get(event.member_id, 0))  # type: ignore[call-overload]
        expected = {
            acme_member_id(u)
            for u in org.users
            if not u.disabled
            and not u.subscription_admin
            and (
                latest[acme_member_id(u)] < cutoff.timestamp()
                if acme_member_id(u) in latest
                else u.creation_date <= cutoff
            )
        }
        _, candidates = rows(db, "acme")
        assert expected and {c[0] for c in candidates} == expected
        outcomes = await reclamation.reclaim_candidates(
            db, keys, clock, all_ready=True, settings=wide_cap()
        )
        assert {o.action for o in outcomes} == {"reclaimed"}
        assert set(state.deleted) == expected
        assert (await sync_profile(db, keys, clock, "acme")).candidates_closed == len(expected)
