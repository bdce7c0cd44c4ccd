"""Okta end to end over real HTTP against the Okta sandbox, through the real services: every
assigned app is a software model, every assignment a subscription; candidates are the non-admin
assignments idle more than 30 days by SSO events (group-scoped ones need a person) plus the
seats of people who left; reclaim unassigns exactly the user-scoped candidates; a sync against
budgets that force waiting gets no 429 and records the wait."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import Person, ReclamationRule, SoftwareModel, Subscription, SyncRun
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reclamation.service import list_candidates, reclaim_candidates
from shelfware.sandbox.okta import BUDGETS as BUCKETS
from shelfware.sandbox.okta import OktaSandbox, RateLimits, create_okta_app
from shelfware.sandbox.okta_org import SSO, OktaOrg, generate_okta_org
from shelfware.sandbox.server import serve_in_thread
from shelfware.sync.service import SyncError, sync_profile
from tests.helpers import wide_cap

from ..conftest import NOW
from ..helpers import published

THRESHOLD = timedelta(days=30)
ANALYZED = timedelta(days=60)  # a new profile analyses activity from 60 days back


@dataclass
class Okta:
    org: OktaOrg
    state: OktaSandbox
    url: str


@pytest.fixture
def okta() -> Iterator[Okta]:
    org = generate_okta_org(70, 21, NOW)
    # budgets well above what a test needs (pacing has its own test below)
    app = create_okta_app(org, limits=RateLimits(budgets=dict.fromkeys(BUCKETS, 10_000)))
    with serve_in_thread(app) as server:
        yield Okta(org, app.state.sandbox, server.url)


async def publish_okta(
    db: Database, keys: KeyRing, clock: FrozenClock, okta: Okta, **options: str
) -> None:
    data = ProfileCreate(
        kind="okta",
        name="okta",
        url=okta.url,
        secrets={"api_key": okta.org.api_key},
        options=options,
    )
    await published(db, keys, clock, data)


def latest_sso(org: OktaOrg) -> dict[tuple[str, str], datetime]:
    """The latest SSO per (app, user) the profile's analysis window sees (restated)."""
    latest: dict[tuple[str, str], datetime] = {}
    for event in org.events:
        at = datetime.fromisoformat(event["published"])
        if event["eventType"] != SSO or not NOW - ANALYZED < at < NOW:
            continue
        app_id = next(t["id"] for t in event["target"] if t["type"] == "AppInstance")
        key = (app_id, event["actor"]["id"])
        latest[key] = max(at, latest.get(key, at))
    return latest


def expected_candidates(org: OktaOrg) -> dict[str, tuple[str, str]]:
    """`APP:USER` -> (state, justification), restated from the sandbox's own data."""
    cutoff = NOW - THRESHOLD
    latest = latest_sso(org)
    status = {u.id: u.status for u in org.users}
    expected: dict[str, tuple[str, str]] = {}
    for app in org.apps:
        if app.status != "ACTIVE":
            continue  # an inactive app holds no seats
        for user_id, seat in org.assignments[app.id].items():
            state = "attention_required" if seat.scope == "GROUP" else "ready"
            last = latest.get((app.id, user_id))
            if status[user_id] in ("DEPROVISIONED", "SUSPENDED"):
                expected[f"{app.id}:{user_id}"] = (state, "left the organisation")
            elif user_id == org.owner_id:
                continue  # the token's owner is an Okta admin
            elif last is not None and last < cutoff:
                expected[f"{app.id}:{user_id}"] = (state, "low_usage")
            elif last is None and seat.created <= cutoff:
                expected[f"{app.id}:{user_id}"] = (state, "never_used")
    return expected


async def test_apps_are_models_and_assignments_are_subscriptions(
    db: Database, keys: KeyRing, clock: FrozenClock, okta: Okta
) -> None:
    await publish_okta(db, keys, clock, okta)
    summary = await sync_profile(db, keys, clock, "okta")
    org = okta.org
    assert summary.accounts == sum(len(seats) for seats in org.assignments.values())
    with db.sessions() as session:
        subs = session.scalars(select(Subscription)).all()
        models = {m.id: m for m in session.scalars(select(SoftwareModel))}
        rules = {r.software_model_id: r for r in session.scalars(select(ReclamationRule))}
        people = {p.email: p for p in session.scalars(select(Person))}
    for app in org.apps:
        held = {s.external_id.partition(":")[2]: s for s in subs if s.product == app.label}
        assert set(held) == set(org.assignments[app.id]), app.label
        for user_id, sub in held.items():
            seat = org.assignments[app.id][user_id]
            model = models[sub.software_model_id]
            assert (model.publisher, model.product, model.edition) == ("Okta", app.label, "SSO")
            assert rules[model.id].threshold_days == 30
            assert sub.active == (app.status == "ACTIVE")
            assert sub.group_scoped == (seat.scope == "GROUP")
            assert sub.admin == (user_id == org.owner_id)
    # every Okta person, leavers included, with their status; accounts link to them
    for user in org.users:
        assert people[user.email].idp_status == user.status
        assert people[user.email].idp_user_id == user.id
    by_id = {p.idp_user_id: p.id for p in people.values()}
    assert all(s.person_id == by_id[s.external_id.partition(":")[2]] for s in subs)
    # someone deleted in Okta (no longer listed at all) has left too
    gone = next(u for u in org.users[1:] if u.status == "DEPROVISIONED")
    org.users.remove(gone)
    okta.state.reload()
    again = await sync_profile(db, keys, clock, "okta")
    assert again.people is not None and again.people.deleted == 1
    assert again.people.updated == len(org.users) and again.people.created == 0
    with db.sessions() as session:
        statuses = {p.email: p.idp_status for p in session.scalars(select(Person))}
    assert statuses[gone.email] == "DELETED"
    assert all(statuses[u.email] == u.status for u in org.users)
    # another organisation behind the same profile is not "everyone left"
    org.users[1:] = []
    okta.state.reload()
    with pytest.raises(SyncError, match="refusing to count them all as leavers"):
        await sync_profile(db, keys, clock, "okta")
    with db.sessions() as session:  # nothing changed
        deleted = session.scalars(select(Person.email).where(Person.idp_status == "DELETED"))
        assert deleted.all() == [gone.email]


async def test_candidates_then_reclaim_unassigns_exactly_the_user_scoped_ones(
    db: Database, keys: KeyRing, clock: FrozenClock, okta: Okta
) -> None:
    await publish_okta(db, keys, clock, okta)
    await sync_profile(db, keys, clock, "okta")
    org = okta.org
    expected = expected_candidates(org)
    assert {s for s, _ in expected.values()} == {"ready", "attention_required"}
    assert any(j == "left the organisation" for _, j in expected.values())
    with db.sessions() as session:
        found = list_candidates(session)
    assert {c.external_id: (c.state, c.justification) for c in found} == expected
    for candidate in found:
        if candidate.state == "attention_required":
            assert candidate.reason == "assigned through a group: remove from the group in Okta"
    before = {a: dict(seats) for a, seats in org.assignments.items()}
    outcomes = await reclaim_candidates(db, keys, clock, all_ready=True, settings=wide_cap())
    assert {o.action for o in outcomes} == {"reclaimed"}
    unassigned = {
        f"{a}:{u}" for a, seats in before.items() for u in seats if u not in org.assignments[a]
    }
    assert unassigned == {k for k, (state, _) in expected.items() if state == "ready"}
    assert okta.state.unassign_calls == len(unassigned)
    # the next sync sees the seats gone and closes those candidates as complete
    await sync_profile(db, keys, clock, "okta")
    with db.sessions() as session:
        closed = list_candidates(session, state="closed_complete")
    assert {c.external_id for c in closed} == unassigned


async def test_import_groups_off_leaves_group_assignments_out(
    db: Database, keys: KeyRing, clock: FrozenClock, okta: Okta
) -> None:
    await publish_okta(db, keys, clock, okta, import_groups="false")
    summary = await sync_profile(db, keys, clock, "okta")
    direct = {
        f"{a}:{u}"
        for a, seats in okta.org.assignments.items()
        for u, seat in seats.items()
        if seat.scope == "USER"
    }
    with db.sessions() as session:
        held = set(session.scalars(select(Subscription.external_id)))
    assert held == direct and summary.accounts == len(direct)


async def test_a_user_that_cannot_be_read_fails_the_run_unless_skipped(
    db: Database, keys: KeyRing, clock: FrozenClock, okta: Okta
) -> None:
    org = okta.org
    broken = next(u for u in org.users[1:] if any(u.id in s for s in org.assignments.values()))
    broken.email = 12345  # type: ignore[assignment]  # not text: the record cannot be read
    await publish_okta(db, keys, clock, okta)
    with pytest.raises(SyncError, match=f"{broken.id}.*skip_failed_users"):
        await sync_profile(db, keys, clock, "okta")
    with db.sessions() as session:
        assert session.scalars(select(Subscription)).first() is None  # nothing half-written
    with db.transaction() as session:
        from shelfware.profiles import service as profiles

        profile = profiles.get_profile(session, "okta")
        profile.options = {"skip_failed_users": "true"}
    summary = await sync_profile(db, keys, clock, "okta")
    seats = sum(broken.id in s for s in org.assignments.values())
    assert summary.skipped == 1 + seats  # the person and each of their assignments
    total = sum(len(s) for s in org.assignments.values())
    assert summary.accounts == total - seats


async def test_a_sync_against_tight_budgets_waits_and_never_gets_a_429(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    org = generate_okta_org(40, 8, NOW)
    limits = RateLimits(
        budgets={"users": 2, "apps": 1, "app_users": 3, "logs": 1, "other": 5}, window_s=1.0
    )
    app = create_okta_app(org, limits=limits)
    state = app.state.sandbox
    with serve_in_thread(app) as server:
        await publish_okta(db, keys, clock, Okta(org, state, server.url))
        summary = await sync_profile(db, keys, clock, "okta")
    assert state.throttled == 0
    assert summary.retries == 0 and summary.waited_seconds > 0
    with db.sessions() as session:
        run = session.scalars(select(SyncRun)).one()
    assert run.waited_seconds is not None and run.waited_seconds > 0
    assert run.accounts == sum(len(s) for s in org.assignments.values())


async def test_people_back_from_suspension_keep_only_their_idle_seats_as_candidates(
    db: Database, keys: KeyRing, clock: FrozenClock, okta: Okta
) -> None:
    org = okta.org
    busy = next(  # an active user with a seat in use: suspended, then back
        u
        for u in org.users[1:]
        if u.status == "ACTIVE"
        and any(
            f"{a}:{u.id}" not in expected_candidates(org) and u.id in org.assignments[a]
            for a in (app.id for app in org.apps if app.status == "ACTIVE")
        )
    )
    busy.status = "SUSPENDED"
    okta.state.reload()
    await publish_okta(db, keys, clock, okta)
    await sync_profile(db, keys, clock, "okta")
    suspended = {u.id for u in org.users if u.status == "SUSPENDED"}
    with db.sessions() as session:
        leavers = {
            c.external_id
            for c in list_candidates(session)
            if c.justification == "left the organisation"
        }
    assert {k.partition(":")[2] for k in leavers} == suspended
    for user in org.users:
        if user.id in suspended:
            user.status = "ACTIVE"
    okta.state.reload()
    summary = await sync_profile(db, keys, clock, "okta")
    with db.sessions() as session:
        still = {
            c.external_id for c in list_candidates(session) if not c.state.startswith("closed")
        }
    assert still == set(expected_candidates(org))
    assert summary.candidates_canceled == len(leavers - still) > 0
