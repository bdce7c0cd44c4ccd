"""The whole loop against the Rally sandbox over real HTTP, on SQLite or PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shelfware.models import (
    CandidateState,
    RemovalCandidate,
    RunStatus,
    StagedAccount,
    Subscription,
    SyncRun,
)
from shelfware.reclamation.service import ReclaimError, list_candidates, reclaim_candidates
from shelfware.sync.service import SyncError, run_owner, sync_profile
from tests.conftest import NOW
from tests.helpers import idle_expected, is_admin, last_run, published_rally, snapshot, wide_cap

pytestmark = pytest.mark.store


def held_ids(db) -> set[str]:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return set(
            s.scalars(
                select(Subscription.external_id).where(
                    Subscription.active.is_(True), Subscription.gone_at.is_(None)
                )
            )
        )


def candidate_ids(db, state: str | None = None) -> set[str]:  # type: ignore[no-untyped-def]
    return {c["external_id"] for c in list_candidates_db(db, state)}


def list_candidates_db(db, state: str | None = None):  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return list_candidates(s, state=state)


@pytest.mark.slow
async def test_acceptance_20k_users_sync_reclaim_confirm(db, keys, clock, rally_factory):
    sandbox = rally_factory(users=20_000, seed=11)
    org = sandbox.org
    await published_rally(db, keys, clock, sandbox.url, org.api_key)

    first = await sync_profile(db, keys, clock, "rally")

    enabled = {str(u.object_id) for u in org.users if not u.disabled}
    assert held_ids(db) == enabled
    expected = {
        str(u.object_id)
        for u in org.users
        if not u.disabled and not is_admin(u) and idle_expected(u, NOW)
    }
    assert len(expected) > 1000  # the synthetic org really has idle seats
    assert candidate_ids(db, CandidateState.READY) == expected
    assert first.accounts == len(org.users)
    assert first.candidates_created == len(expected)
    # never-used accounts newer than the grace period are not candidates
    fresh_never_used = [
        u
        for u in org.users
        if not u.disabled
        and u.last_login_date is None
        and u.last_active_date is None
        and u.creation_date > NOW - timedelta(days=60)
    ]
    assert fresh_never_used and not {str(u.object_id) for u in fresh_never_used} & expected

    before = snapshot(db)
    clock.advance(timedelta(minutes=5))
    second = await sync_profile(db, keys, clock, "rally")
    assert (second.created, second.updated, second.gone) == (0, 0, 0)
    assert (second.candidates_created, second.candidates_canceled, second.candidates_closed) == (
        0,
        0,
        0,
    )
    after = snapshot(db)
    assert after["subscriptions"] == before["subscriptions"]
    assert after["candidates"] == before["candidates"]

    outcomes = await reclaim_candidates(db, keys, clock, all_ready=True, settings=wide_cap())
    assert {o.action for o in outcomes} == {"reclaimed"}
    disabled_now = {str(u.object_id) for u in org.users if u.disabled}
    originally_disabled = {str(u.object_id) for u in org.users} - enabled
    assert disabled_now - originally_disabled == expected
    assert sandbox.state.max_in_flight <= 12

    before = snapshot(db)
    clock.advance(timedelta(minutes=5))
    third = await sync_profile(db, keys, clock, "rally")
    assert third.candidates_closed == len(expected)
    assert (third.created, third.gone, third.candidates_created, third.candidates_canceled) == (
        0,
        0,
        0,
        0,
    )
    assert third.updated == len(expected)  # exactly the disabled accounts changed
    assert candidate_ids(db, CandidateState.CLOSED_COMPLETE) == expected
    assert held_ids(db) == enabled - expected
    after = snapshot(db)
    untouched_before = [r for r in before["subscriptions"] if r[3] not in expected]
    untouched_after = [r for r in after["subscriptions"] if r[3] not in expected]
    assert untouched_after == untouched_before


async def test_failing_third_page_changes_nothing(db, keys, clock, rally_factory):
    good = rally_factory(users=1000, seed=5)
    await published_rally(db, keys, clock, good.url, good.org.api_key, options={"page_size": "200"})
    await sync_profile(db, keys, clock, "rally")
    before = snapshot(db)
    assert before["subscriptions"] and before["candidates"]

    # The same organisation, changed in ways a partial download would wrongly apply, served
    # by a sandbox whose third page always fails.
    bad = rally_factory(users=1000, seed=5, faults="fail_page=3")
    for user in bad.org.users[:50]:
        user.disabled = True
    bad.state.reload_users()
    with db.transaction() as s:
        from shelfware.models import IntegrationProfile

        s.scalars(select(IntegrationProfile)).one().url = bad.url
    clock.advance(timedelta(hours=1))
    with pytest.raises(SyncError) as failure:
        await sync_profile(db, keys, clock, "rally")
    assert "page 3" in str(failure.value)

    assert snapshot(db) == before
    run = last_run(db)
    assert run.status == RunStatus.FAILED
    assert run.failed_page == 3
    assert "page 3" in (run.error or "") and "500" in (run.error or "")
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(StagedAccount)) == 0
        assert s.scalar(select(func.count()).where(SyncRun.status == RunStatus.RUNNING)) == 0


async def test_activity_only_moves_forward_and_new_activity_cancels(db, keys, clock, rally_factory):
    sandbox = rally_factory(users=400, seed=3)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    await sync_profile(db, keys, clock, "rally")
    by_id = {str(u.object_id): u for u in sandbox.org.users}
    candidates = sorted(candidate_ids(db, CandidateState.READY))
    woke, _ = by_id[candidates[0]], by_id[candidates[1]]
    # one idle user comes back; one active user's dates are rewound (the app "forgot")
    woke.last_active_date = NOW
    recent = next(
        u
        for u in sandbox.org.users
        if not u.disabled and u.last_active_date and u.last_active_date > NOW - timedelta(days=5)
    )
    with db.sessions() as s:
        kept = s.scalar(
            select(Subscription.last_activity_at).where(
                Subscription.external_id == str(recent.object_id)
            )
        )
    recent.last_active_date = NOW - timedelta(days=300)
    recent.last_login_date = None
    sandbox.state.reload_users()
    clock.advance(timedelta(hours=1))
    summary = await sync_profile(db, keys, clock, "rally")
    assert summary.candidates_canceled == 1
    with db.sessions() as s:
        state = s.scalar(
            select(RemovalCandidate.state)
            .join(Subscription, Subscription.id == RemovalCandidate.subscription_id)
            .where(Subscription.external_id == str(woke.object_id))
        )
        assert state == CandidateState.CLOSED_CANCELED
        assert (
            s.scalar(
                select(Subscription.last_activity_at).where(
                    Subscription.external_id == str(recent.object_id)
                )
            )
            == kept
        )


async def test_vanished_account_is_marked_gone_and_its_candidate_skipped(
    db, keys, clock, rally_factory
):
    sandbox = rally_factory(users=300, seed=4)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    await sync_profile(db, keys, clock, "rally")
    victim_id = sorted(candidate_ids(db, CandidateState.READY))[0]
    sandbox.org.users[:] = [u for u in sandbox.org.users if str(u.object_id) != victim_id]
    sandbox.state.reload_users()
    clock.advance(timedelta(hours=1))
    summary = await sync_profile(db, keys, clock, "rally")
    assert summary.gone == 1
    assert summary.candidates_closed == 1
    assert candidate_ids(db, CandidateState.CLOSED_SKIPPED) == {victim_id}
    with db.sessions() as s:
        gone = s.scalars(select(Subscription).where(Subscription.gone_at.is_not(None))).one()
        assert gone.external_id == victim_id
        assert gone.last_seen_at is not None


async def test_reclaim_rereads_and_cancels_active_account(db, keys, clock, rally_factory):
    sandbox = rally_factory(users=300, seed=6)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    await sync_profile(db, keys, clock, "rally")
    cands = list_candidates_db(db, CandidateState.READY)
    back, promoted, plain = cands[0], cands[1], cands[2]
    by_id = {str(u.object_id): u for u in sandbox.org.users}
    by_id[back["external_id"]].last_login_date = NOW - timedelta(days=1)
    by_id[promoted["external_id"]].permission = "Workspace Admin"
    sandbox.state.reload_users()
    outcomes = await reclaim_candidates(
        db, keys, clock, ids=[back["id"], promoted["id"], plain["id"]], settings=wide_cap()
    )
    actions = {o.candidate_id: o.action for o in outcomes}
    assert actions == {back["id"]: "canceled", promoted["id"]: "canceled", plain["id"]: "reclaimed"}
    assert not by_id[back["external_id"]].disabled
    assert not by_id[promoted["external_id"]].disabled
    assert by_id[plain["external_id"]].disabled
    # reclaiming a seat that is already gone counts as done
    with db.transaction() as s:
        s.get_one(RemovalCandidate, plain["id"]).state = CandidateState.READY
    again = await reclaim_candidates(db, keys, clock, ids=[plain["id"]])
    assert again[0].action == "already_gone"


async def test_dry_run_changes_nothing(db, keys, clock, rally_factory):
    sandbox = rally_factory(users=300, seed=6)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    await sync_profile(db, keys, clock, "rally")
    before = snapshot(db)
    outcomes = await reclaim_candidates(
        db, keys, clock, all_ready=True, dry_run=True, settings=wide_cap()
    )
    assert outcomes and {o.action for o in outcomes} == {"would_reclaim"}
    assert snapshot(db) == before
    assert not any(
        u.disabled
        for u in sandbox.org.users
        if str(u.object_id) in {c["external_id"] for c in list_candidates_db(db)}
    )
    assert sandbox.state.disable_calls == 0


async def test_reclaim_off_creates_manual_tasks_and_refuses(db, keys, clock, rally_factory):
    sandbox = rally_factory(users=300, seed=8)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key, reclaim=False)
    await sync_profile(db, keys, clock, "rally")
    cands = list_candidates_db(db)
    assert cands and {c["state"] for c in cands} == {CandidateState.AWAITING_REVOCATION}
    with pytest.raises(ReclaimError, match=r"reclaim process .* is off"):
        await reclaim_candidates(db, keys, clock, ids=[cands[0]["id"]])
    # a person deactivates one by hand: the next download closes it as complete
    victim = next(u for u in sandbox.org.users if str(u.object_id) == cands[0]["external_id"])
    victim.disabled = True
    sandbox.state.reload_users()
    clock.advance(timedelta(hours=1))
    await sync_profile(db, keys, clock, "rally")
    assert candidate_ids(db, CandidateState.CLOSED_COMPLETE) == {cands[0]["external_id"]}


async def test_credential_owner_is_never_a_candidate_nor_reclaimed(db, keys, clock, rally_factory):
    sandbox = rally_factory(users=300, seed=9)
    owner = sandbox.org.owner
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    # after validation the owner loses admin rights and goes idle: only the rule that the
    # credential's own account is never selected keeps it out
    owner.last_login_date = owner.last_active_date = NOW - timedelta(days=400)
    owner.subscription_admin = False
    owner.permission = "Workspace User"
    sandbox.state.reload_users()
    await sync_profile(db, keys, clock, "rally")
    with db.sessions() as s:
        row = s.scalars(
            select(Subscription).where(Subscription.external_id == str(owner.object_id))
        ).one()
        assert not row.admin and row.active
    assert str(owner.object_id) not in candidate_ids(db)


async def test_one_running_sync_per_profile(db, keys, clock, rally_factory):
    sandbox = rally_factory(users=50, seed=2)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    with db.transaction() as s:
        from shelfware.models import IntegrationProfile

        pid = s.scalars(select(IntegrationProfile.id)).one()
        s.add(SyncRun(profile_id=pid, status=RunStatus.RUNNING, started_at=NOW, owner=run_owner()))
    with pytest.raises(SyncError, match="already running"):
        await sync_profile(db, keys, clock, "rally")
    # a run left behind by a dead process on this host is reaped
    with db.transaction() as s:
        s.scalars(select(SyncRun)).one().owner = run_owner().rsplit(":", 1)[0] + ":999999999"
    summary = await sync_profile(db, keys, clock, "rally")
    assert summary.status == RunStatus.SUCCEEDED
    with db.sessions() as s:
        statuses = sorted(s.scalars(select(SyncRun.status)))
    assert statuses == [RunStatus.FAILED, RunStatus.SUCCEEDED]


async def test_draft_profile_cannot_sync(db, keys, clock, rally_factory):
    from shelfware.profiles import service as profiles
    from shelfware.profiles.schemas import ProfileCreate

    sandbox = rally_factory(users=20)
    with db.transaction() as s:
        profiles.create_profile(
            s,
            keys,
            clock,
            ProfileCreate(kind="rally", name="draft", url=sandbox.url, secrets={"api_key": "_x"}),
        )
    with pytest.raises(SyncError, match="draft"):
        await sync_profile(db, keys, clock, "draft")


async def test_reclaim_stops_when_the_app_is_unreachable(db, keys, clock, rally_factory):
    from shelfware.connectors.registry import build_connector
    from shelfware.kit.http import HttpPolicy
    from shelfware.profiles import service as profiles

    sandbox = rally_factory(users=300, seed=6)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    await sync_profile(db, keys, clock, "rally")
    ready = list_candidates_db(db, CandidateState.READY)
    assert len(ready) > 20
    with db.transaction() as s:  # the app moves away: nothing listens there any more
        from shelfware.models import IntegrationProfile

        s.scalars(select(IntegrationProfile)).one().url = "http://127.0.0.1:9/slm/webservice"

    def no_retries(profile, keys):  # type: ignore[no-untyped-def]
        settings = profiles.connector_settings(profile, keys)
        return build_connector(profile.kind, settings, policy=HttpPolicy(max_retries=0))

    before = snapshot(db)
    outcomes = await reclaim_candidates(
        db, keys, clock, all_ready=True, open_connector=no_retries, settings=wide_cap()
    )
    actions = [o.action for o in outcomes]
    assert set(actions) == {"unreachable", "not_attempted"}
    assert actions.count("unreachable") < 5 + 12  # stopped soon after 5 failures in a row
    assert actions.count("not_attempted") > 0
    # nothing happened in the app, so every candidate is still ready to try again later
    assert candidate_ids(db, CandidateState.READY) == {c["external_id"] for c in ready}
    assert [r[:5] for r in snapshot(db)["candidates"]] == [r[:5] for r in before["candidates"]]
