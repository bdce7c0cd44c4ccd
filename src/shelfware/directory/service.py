"""People: one human across apps, matched by normalised email (lower case, trimmed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, literal, select
from sqlalchemy.orm import Session

from shelfware.kit.db import UTCDateTime, insert_for, rowcount
from shelfware.models import Person, StagedAccount

ST = StagedAccount.__table__.c
P = Person.__table__.c


def normalised_email(column: ColumnElement[str | None]) -> ColumnElement[str]:
    """SQL for the matching key of an email: lower case, trimmed."""
    return func.lower(func.trim(column))


def add_people_from_run(session: Session, run_id: int, now: datetime) -> int:
    """Create a person for every email a run downloaded that no person has yet (set-based).

    The switch-over then links accounts to people in the same statement that writes them.
    Emails that already have a person are left out before grouping, so a re-sync inserts
    (and groups) nothing. Returns how many people were created.
    """
    email = normalised_email(ST.email)
    new_people = (
        select(email, func.max(ST.display_name), literal(now, UTCDateTime()))
        .where(ST.run_id == run_id, email.like("%_@_%"), ~exists().where(P.email == email))
        .group_by(email)
    )
    statement = (
        insert_for(session.get_bind().dialect.name, Person.__table__)
        .from_select([P.email, P.display_name, P.created_at], new_people)
        .on_conflict_do_nothing(index_elements=[P.email])
    )
    return rowcount(session.execute(statement.execution_options(preserve_rowcount=True))) or 0


def person_join_condition() -> ColumnElement[bool]:
    """How a staged account finds its person."""
    return P.email == normalised_email(ST.email)
