"""The workflow end to end: a real SMTP server receives the notices, the links are followed
over real HTTP, time moves through the injected clock, reclaim goes to the Rally sandbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from shelfware.models import AuditEvent
from shelfware.reclamation import rules, workflow
from shelfware.reclamation.schemas import RuleChange
from tests.reclamation.conftest import MODEL, World, follow

pytestmark = pytest.mark.store


async def test_keep_decline_deadline_reclaim_and_fresh_activity_cancel(world: World) -> None:
    ready = [c for c in world.candidates("ready") if c["email"]]
    assert len(ready) >= 3
    kept, silent, revived = ready[0], ready[1], ready[2]

    first = await world.advance()
    assert set(first.notified) == {c["id"] for c in ready}
    assert first.due == [] and first.reclaim == []
    for cand in (kept, silent, revived):
        assert world.candidate(cand["id"]).state == "awaiting_user"
        [notice] = world.mailbox.to(cand["email"])
        assert notice["Subject"] == "Do you still need your Broadcom Rally Unlimited seat?"
    deadline = world.candidate(silent["id"]).deadline_at
    assert deadline == world.clock.now() + timedelta(days=7)

    # "keep", followed over HTTP: the rule needs approval, so the approver decides.
    answered = follow(world.mailbox.links(kept["email"])["keep"])
    assert answered.status_code == 200 and "sent for approval" in answered.text
    held = world.candidate(kept["id"])
    assert (held.state, held.answer, held.approver) == (
        "awaiting_approval",
        "keep",
        "boss@corp.test",
    )
    asked = await world.advance()
    assert asked.approvals_requested == [kept["id"]] and asked.notified == []
    [request] = world.mailbox.to("boss@corp.test")
    assert f"candidates approve {kept['id']}" in request.get_body(("plain",)).get_content()
    with world.db.transaction() as s:
        workflow.decline(s, world.clock, kept["id"], actor="cli:boss")
    assert world.candidate(kept["id"]).state == "closed_skipped"

    # A reminder two days before the deadline, once.
    world.clock.advance(timedelta(days=5, hours=1))
    reminded = await world.advance()
    assert silent["id"] in reminded.reminded and kept["id"] not in reminded.reminded
    assert len(world.mailbox.to(silent["email"])) == 2
    assert "Reminder" in world.mailbox.to(silent["email"])[-1]["Subject"]
    assert (await world.advance()).reminded == []

    # The third user comes back before the deadline.
    user = world.user(revived)
    user.last_login_date = world.clock.now() - timedelta(hours=2)
    world.sandbox.state.reload_users()

    world.clock.advance(timedelta(days=2))  # past the deadline
    late = await world.advance()
    outcomes = {o.candidate_id: o for o in late.reclaim}
    assert outcomes[silent["id"]].action == "reclaimed"
    assert outcomes[revived["id"]].action == "canceled"
    assert kept["id"] not in outcomes
    assert world.user(silent).disabled and not world.user(revived).disabled
    assert not world.user(kept).disabled
    assert world.candidate(silent["id"]).state == "awaiting_revocation"
    assert world.candidate(revived["id"]).state == "closed_canceled"

    # The next sync confirms the seat is gone: complete, with the saving it freed.
    world.clock.advance(timedelta(minutes=5))
    await world.sync()
    done = world.candidate(silent["id"])
    assert done.state == "closed_complete"
    assert done.realised_saving is not None and float(done.realised_saving) == 360.0

    # Every transition left an audit event saying who and why.
    with world.db.sessions() as s:
        trail = {
            (e.action, e.actor)
            for e in s.scalars(
                select(AuditEvent).where(
                    AuditEvent.object_type == "candidate",
                    AuditEvent.object_id == str(kept["id"]),
                )
            )
        }
    assert any(a == "candidate.awaiting_user" and who.startswith("cli:") for a, who in trail)
    assert ("candidate.awaiting_approval", f"link:{kept['email']}") in trail
    assert ("candidate.closed_skipped", "cli:boss") in trail


async def test_cooldown_keeps_a_seat_from_being_asked_twice(world: World) -> None:
    with world.db.transaction() as s:
        rules.set_rule(s, world.clock, RuleChange(model=MODEL, keep_days=1))
    cand = next(c for c in world.candidates("ready") if c["email"])
    await world.advance()
    follow(world.mailbox.links(cand["email"])["keep"])
    with world.db.transaction() as s:
        workflow.decline(s, world.clock, cand["id"])
    # The seat is still idle: once the keep (1 day here) ran out, the next sync makes a new
    # candidate for it...
    world.clock.advance(timedelta(days=1, minutes=1))
    await world.sync()
    again = [c for c in world.candidates("ready") if c["external_id"] == cand["external_id"]]
    assert len(again) == 1
    # ...which is not asked about within the cooldown (30 days), and is afterwards.
    report = await world.advance()
    assert again[0]["id"] in report.cooling_down and again[0]["id"] not in report.notified
    assert len(world.mailbox.to(cand["email"])) == 1
    world.clock.advance(timedelta(days=30))
    report = await world.advance()
    assert again[0]["id"] in report.notified
    assert len(world.mailbox.to(cand["email"])) == 2


async def test_keep_goes_to_the_persons_manager_from_the_directory(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shelfware.directory import service as directory

    cand = next(c for c in world.candidates("ready") if c["email"])
    with world.db.sessions() as s:
        from shelfware.models import RemovalCandidate, Subscription

        person = s.get_one(
            Subscription, s.get_one(RemovalCandidate, cand["id"]).subscription_id
        ).person_id
    assert person is not None
    monkeypatch.setattr(
        directory,
        "manager_email",
        lambda session, pid: " Manager@Corp.test" if pid == person else None,
        raising=False,
    )
    await world.advance()
    follow(world.mailbox.links(cand["email"])["keep"])
    assert world.candidate(cand["id"]).approver == "manager@corp.test"  # not the rule's approvers
    await world.advance()
    assert len(world.mailbox.to("manager@corp.test")) == 1
    assert world.mailbox.to("boss@corp.test") == []


async def test_attention_required_is_ready_again_once_fixed(world: World) -> None:
    cand = world.candidates("ready")[0]
    with world.db.transaction() as s:
        from shelfware.models import RemovalCandidate, Subscription

        sub = s.get_one(Subscription, s.get_one(RemovalCandidate, cand["id"]).subscription_id)
        sub.email = None
    report = await world.advance()
    assert cand["id"] in report.needs_person
    assert world.candidate(cand["id"]).state == "attention_required"
    with world.db.transaction() as s:
        workflow.retry(s, world.clock, cand["id"], actor="cli:ann")
    assert world.candidate(cand["id"]).state == "ready"


async def test_reclaim_all_ready_leaves_seats_whose_users_must_be_asked(world: World) -> None:
    from shelfware.reclamation.service import reclaim_candidates

    assert world.candidates("ready")
    assert await reclaim_candidates(world.db, world.keys, world.clock, all_ready=True) == []
    assert not any(world.user(c).disabled for c in world.candidates("ready"))
