"""What every rule's new candidates share: the columns an ``INSERT ... SELECT`` fills and the
state a candidate starts in (used by removal and downgrade evaluation alike)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, case, func, insert, literal
from sqlalchemy.orm import Session

from shelfware.kit.db import rowcount
from shelfware.models import CandidateState, ReclamationRule, RemovalCandidate, Subscription

S = Subscription.__table__.c
C = RemovalCandidate.__table__.c
REMOVAL_CANDIDATES: Table = cast(Table, RemovalCandidate.__table__)

# What the candidate selections select, in order (a downgrade's add theirs after these).
CANDIDATE_COLUMNS = (
    "subscription_id",
    "profile_id",
    "software_model_id",
    "rule_id",
    "state",
    "justification",
    "inactive_days",
    "unit_cost",
    "potential_savings",
    "reason",
    "created_at",
    "updated_at",
)


def insert_candidates(
    session: Session, selection: Select[Any], extra_columns: tuple[str, ...] = ()
) -> int:
    """Insert what ``selection`` selects (``CANDIDATE_COLUMNS`` then ``extra_columns``)."""
    columns = [C[name] for name in (*CANDIDATE_COLUMNS, *extra_columns)]
    statement = insert(REMOVAL_CANDIDATES).from_select(columns, selection)
    return rowcount(session.execute(statement.execution_options(preserve_rowcount=True))) or 0


def first_state(rule: ReclamationRule) -> ColumnElement[Any]:
    """Where the app can act: ready, unless a person must look first (a seat held through a
    group; no email to ask when the rule notifies)."""
    attention: list[tuple[ColumnElement[bool], Any]] = [
        (S.group_scoped.is_(True), literal(CandidateState.ATTENTION_REQUIRED.value))
    ]
    if rule.notify:
        attention.append(
            (func.coalesce(S.email, "") == "", literal(CandidateState.ATTENTION_REQUIRED.value))
        )
    return case(*attention, else_=literal(CandidateState.READY.value))
