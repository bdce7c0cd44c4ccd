"""The removal candidate state machine: the only place a candidate changes state.

DOMAIN.md's table, plus what every open state shares: an account that vanished by other means
closes as skipped, one that became active again closes as canceled, a failed reclaim needs a
person (``attention_required``). Every transition writes an audit event (who, when, why, from,
to) in the caller's transaction; a transition the table does not allow raises ``StateError``
and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, insert, update
from sqlalchemy.orm import Session

from shelfware.audit import service as audit
from shelfware.kit.clock import Clock
from shelfware.models import AuditEvent, CandidateState, RemovalCandidate

S = CandidateState
_CLOSE_ANYWAY = frozenset({S.CLOSED_SKIPPED, S.CLOSED_CANCELED})
TRANSITIONS: dict[CandidateState, frozenset[CandidateState]] = {
    S.ATTENTION_REQUIRED: frozenset({S.READY}) | _CLOSE_ANYWAY,
    S.READY: frozenset({S.AWAITING_USER, S.AWAITING_REVOCATION, S.ATTENTION_REQUIRED})
    | _CLOSE_ANYWAY,
    # no answer by the deadline / "release" -> reclaim (in flight); "keep" -> approval, or
    # skipped when the rule needs no approval
    S.AWAITING_USER: frozenset({S.AWAITING_APPROVAL, S.AWAITING_REVOCATION, S.ATTENTION_REQUIRED})
    | _CLOSE_ANYWAY,
    # approve removal -> reclaim; decline -> skipped
    S.AWAITING_APPROVAL: frozenset({S.AWAITING_REVOCATION, S.ATTENTION_REQUIRED}) | _CLOSE_ANYWAY,
    # closed once the seat is gone; a failed reclaim call needs a person
    S.AWAITING_REVOCATION: frozenset({S.CLOSED_COMPLETE, S.ATTENTION_REQUIRED}) | _CLOSE_ANYWAY,
    S.CLOSED_COMPLETE: frozenset(),
    S.CLOSED_SKIPPED: frozenset(),
    S.CLOSED_CANCELED: frozenset(),
}
SYSTEM = "system"
_CANDIDATES = cast(Table, RemovalCandidate.__table__)


class StateError(ValueError):
    """A transition the state machine does not allow."""


def allowed(source: str, target: str) -> bool:
    return S(target) in TRANSITIONS[S(source)]


def sources(target: CandidateState) -> tuple[str, ...]:
    """The states from which ``target`` may be reached."""
    return tuple(s.value for s, targets in TRANSITIONS.items() if target in targets)


def move(
    session: Session,
    clock: Clock,
    cand: RemovalCandidate,
    target: CandidateState,
    *,
    why: str,
    actor: str | None = None,
    **values: Any,
) -> None:
    """Move one candidate to ``target`` (setting ``values`` on it), with an audit event."""
    source = cand.state
    if not allowed(source, target):
        raise StateError(
            f"candidate {cand.id} is {source}: it cannot become {target.value} "
            f"(from {source} it can become {_list(TRANSITIONS[S(source)])})"
        )
    now = clock.now()
    cand.state = target.value
    cand.updated_at = now
    cand.reason = why
    if not target.is_open:
        cand.closed_at = now
    for name, value in values.items():
        setattr(cand, name, value)
    audit.record(
        session,
        clock,
        action=f"candidate.{target.value}",
        object_type="candidate",
        object_id=cand.id,
        actor=actor,
        source=source,
        target=target.value,
        why=why,
    )


def move_where(
    session: Session,
    clock: Clock,
    target: CandidateState,
    where: Sequence[ColumnElement[bool]],
    *,
    why: str,
    actor: str = SYSTEM,
    values: dict[str, Any] | None = None,
) -> int:
    """Move every candidate matching ``where`` (and in a state ``target`` may be reached from)
    to ``target``, set-based, with one audit event each. Returns how many moved."""
    now = clock.now()
    closing = {"closed_at": now} if not target.is_open else {}
    moved = list(
        session.scalars(
            update(_CANDIDATES)
            .where(*where, _CANDIDATES.c.state.in_(sources(target)))
            .values(state=target.value, reason=why, updated_at=now, **closing, **(values or {}))
            .returning(_CANDIDATES.c.id)
        )
    )
    if moved:
        session.execute(
            insert(AuditEvent),
            [
                {
                    "at": now,
                    "actor": actor,
                    "action": f"candidate.{target.value}",
                    "object_type": "candidate",
                    "object_id": str(cand_id),
                    "detail": {"target": target.value, "why": why},
                }
                for cand_id in moved
            ],
        )
    return len(moved)


def note(
    session: Session,
    clock: Clock,
    cand: RemovalCandidate,
    action: str,
    *,
    why: str,
    actor: str | None = None,
    **detail: Any,
) -> None:
    """An audit event for a step that changes no state (notified again, reclaim call sent...)."""
    cand.updated_at = clock.now()
    audit.record(
        session,
        clock,
        action=f"candidate.{action}",
        object_type="candidate",
        object_id=cand.id,
        actor=actor,
        state=cand.state,
        why=why,
        **detail,
    )


def _list(states: frozenset[CandidateState]) -> str:
    return ", ".join(sorted(s.value for s in states)) or "nothing (closed)"
