"""The state machine (reclamation/states.py): DOMAIN.md's transitions and no others, each one
audited; a refused transition changes nothing."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from shelfware.models import AuditEvent, CandidateState, RemovalCandidate
from shelfware.reclamation import states
from tests.reclamation.conftest import World

S = CandidateState
OPEN = [s for s in S if s.is_open]
CLOSED = [s for s in S if not s.is_open]
# DOMAIN.md, restated: the table's "next" column, plus closing skipped/canceled from any open
# state (the account vanished, or became active again) and a failed reclaim needing a person.
EXPECTED = {
    (S.ATTENTION_REQUIRED, S.READY),
    (S.READY, S.AWAITING_USER),
    (S.READY, S.AWAITING_REVOCATION),
    (S.AWAITING_USER, S.AWAITING_APPROVAL),
    (S.AWAITING_USER, S.AWAITING_REVOCATION),
    (S.AWAITING_APPROVAL, S.AWAITING_REVOCATION),
    (S.AWAITING_REVOCATION, S.CLOSED_COMPLETE),
    *((s, S.ATTENTION_REQUIRED) for s in OPEN if s is not S.ATTENTION_REQUIRED),
    *((s, c) for s in OPEN for c in (S.CLOSED_SKIPPED, S.CLOSED_CANCELED)),
}


@pytest.mark.parametrize(("source", "target"), list(itertools.product(S, S)))
def test_only_the_domain_transitions_are_allowed(source: S, target: S) -> None:
    assert states.allowed(source, target) == ((source, target) in EXPECTED)


def test_closed_states_are_terminal_and_complete_needs_a_reclaim() -> None:
    for closed in CLOSED:
        assert not any(states.allowed(closed, t) for t in S)
    assert states.sources(S.CLOSED_COMPLETE) == (S.AWAITING_REVOCATION.value,)


def _events(world: World, cand_id: int) -> list[AuditEvent]:
    with world.db.sessions() as s:
        return list(
            s.scalars(
                select(AuditEvent).where(
                    AuditEvent.object_type == "candidate", AuditEvent.object_id == str(cand_id)
                )
            )
        )


async def test_a_move_is_audited_and_a_refused_one_changes_nothing(world: World) -> None:
    cand_id = world.candidates("ready")[0]["id"]
    with world.db.transaction() as s:
        cand = s.get_one(RemovalCandidate, cand_id)
        with pytest.raises(states.StateError, match="cannot become awaiting_approval"):
            states.move(s, world.clock, cand, S.AWAITING_APPROVAL, why="skip the user")
        assert cand.state == "ready"
    assert _events(world, cand_id) == []

    with world.db.transaction() as s:
        cand = s.get_one(RemovalCandidate, cand_id)
        states.move(s, world.clock, cand, S.CLOSED_SKIPPED, why="kept by policy", actor="cli:ann")
    [event] = _events(world, cand_id)
    assert (event.action, event.actor, event.at) == (
        "candidate.closed_skipped",
        "cli:ann",
        world.clock.now(),
    )
    assert event.detail == {"source": "ready", "target": "closed_skipped", "why": "kept by policy"}
    closed = world.candidate(cand_id)
    assert closed.closed_at == world.clock.now() and closed.reason == "kept by policy"

    with world.db.transaction() as s, pytest.raises(states.StateError, match="closed"):
        states.move(s, world.clock, s.get_one(RemovalCandidate, cand_id), S.READY, why="again")
    assert len(_events(world, cand_id)) == 1


async def test_bulk_moves_write_one_event_each(world: World) -> None:
    ready = [c["id"] for c in world.candidates("ready")]
    with world.db.transaction() as s:
        moved = states.move_where(
            s,
            world.clock,
            S.CLOSED_CANCELED,
            [RemovalCandidate.id.in_(ready[:3])],
            why="active again",
        )
        # closed ones are not moved again
        again = states.move_where(
            s, world.clock, S.CLOSED_SKIPPED, [RemovalCandidate.id.in_(ready[:3])], why="x"
        )
    assert (moved, again) == (3, 0)
    with world.db.sessions() as s:
        count = s.scalar(
            select(func.count()).where(AuditEvent.action == "candidate.closed_canceled")
        )
    assert count == 3
