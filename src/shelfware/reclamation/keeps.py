"""Kept seats: a seat its user or an approver chose to keep does not come straight back.

When a "keep" is honoured (the user keeps the seat and the rule needs no approval, or an
approver declines the removal) the seat is exempt from new removal candidates until
``kept_until`` = now + the rule's ``keep_days``, stored on the subscription: whatever the
rule's threshold becomes meanwhile, and through re-syncs (the sync never writes the column).
Rule evaluation skips kept seats set-based (``not_kept``), and forgets keeps that ran out, so a
listing that shows ``kept_until`` shows only keeps still in force after the next evaluation.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, Table, literal, or_, update
from sqlalchemy.orm import Session

from shelfware.kit.clock import Clock
from shelfware.kit.db import UTCDateTime, rowcount
from shelfware.models import ReclamationRule, RemovalCandidate, Subscription
from shelfware.reclamation import states

DEFAULT_KEEP_DAYS = 90
S = Subscription.__table__.c
SUBSCRIPTIONS: Table = cast(Table, Subscription.__table__)


def keep_seat(
    session: Session,
    clock: Clock,
    cand: RemovalCandidate,
    rule: ReclamationRule | None,
    *,
    actor: str | None = None,
) -> datetime:
    """Exempt the candidate's seat from new candidates for the rule's ``keep_days`` (an
    existing longer keep stays), with an audit event; returns until when the seat is kept."""
    days = rule.keep_days if rule is not None and rule.keep_days else DEFAULT_KEEP_DAYS
    until = clock.now() + timedelta(days=days)
    sub = session.get_one(Subscription, cand.subscription_id)
    if sub.kept_until is None or sub.kept_until < until:
        sub.kept_until = until
    states.note(
        session,
        clock,
        cand,
        "kept",
        why=f"{kept_note(sub.kept_until)}: no new removal candidate for this seat before then",
        actor=actor,
        kept_until=sub.kept_until.isoformat(),
    )
    return sub.kept_until


def not_kept(now: datetime) -> ColumnElement[bool]:
    """SQL over ``subscription``: no keep in force at ``now`` (NULL-safe: a seat never kept
    has ``kept_until`` NULL)."""
    return or_(S.kept_until.is_(None), S.kept_until <= literal(now, UTCDateTime()))


def kept_until_now(now: datetime | None, kept_until: datetime | None) -> datetime | None:
    """``kept_until`` while the keep is in force at ``now`` (no ``now``: as stored)."""
    if kept_until is None or (now is not None and kept_until <= now):
        return None
    return kept_until


def kept_note(kept_until: datetime) -> str:
    """How the faces say a seat is kept: no new candidate before that day."""
    return f"kept until {kept_until:%Y-%m-%d}"


def forget_expired(session: Session, profile_id: int, now: datetime) -> int:
    """Keeps of the profile's seats that ran out by ``now`` are cleared (one UPDATE)."""
    statement = (
        update(SUBSCRIPTIONS)
        .where(
            S.profile_id == profile_id,
            S.kept_until.is_not(None),
            S.kept_until <= literal(now, UTCDateTime()),
        )
        .values(kept_until=None)
    )
    return rowcount(session.execute(statement)) or 0
