"""Recording who did what; the caller's transaction carries the event."""

from __future__ import annotations

import getpass
import io
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from shelfware.kit.clock import Clock, utc
from shelfware.kit.csv_output import SafeWriter
from shelfware.models import AuditEvent

# Who acts in this context: set by a face that authenticated someone (an API request, a web
# session) so that every event a service records inside it names that principal.
_ACTOR: ContextVar[str | None] = ContextVar("shelfware_audit_actor", default=None)


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Name ``actor`` in every audit event recorded inside this block (this thread/task)."""
    token = _ACTOR.set(actor)
    try:
        yield
    finally:
        _ACTOR.reset(token)


def current_actor() -> str:
    bound = _ACTOR.get()
    if bound is not None:
        return bound
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user database entry (containers)
        return "cli:unknown"


def record(
    session: Session,
    clock: Clock,
    *,
    action: str,
    object_type: str,
    object_id: object,
    actor: str | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEvent(
            at=clock.now(),
            actor=actor or current_actor(),
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            detail=detail,
        )
    )


class AuditEventView(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]


# No control characters (PostgreSQL refuses NUL in text; nothing legitimate has them).
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
MAX_PAGE = 1000


class AuditQuery(BaseModel):
    """Which events: every face (API, web page, CSV export, CLI) asks with this.

    ``action``: that action, or every action under it (``user`` finds ``user.create``,
    ``user.sign_in``...); ``actor``: that actor, or any face's principal of that name
    (``admin`` finds ``web:admin``); ``since`` / ``until``: ``since <= at < until`` (a date
    without a time is midnight UTC); ``before``: the page after the event with that id
    (keyset paging, newest first)."""

    model_config = ConfigDict(extra="forbid")

    action: str | None = Field(default=None, min_length=1, max_length=100, pattern=PRINTABLE)
    actor: str | None = Field(default=None, min_length=1, max_length=200, pattern=PRINTABLE)
    object_type: str | None = Field(default=None, min_length=1, max_length=50, pattern=PRINTABLE)
    object_id: str | None = Field(default=None, min_length=1, max_length=100, pattern=PRINTABLE)
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = Field(default=None, ge=1, le=2**63 - 1)
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)

    @field_validator("since", "until")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if not 1970 <= value.year <= 2999:
            raise ValueError("a date between 1970 and 2999")
        return utc(value)


class AuditPage(BaseModel):
    events: list[AuditEventView]
    next_before: int | None  # ``before`` of the next page; None on the last one


def _filtered(query: AuditQuery) -> Select[AuditEvent]:
    stmt = select(AuditEvent)
    if query.action is not None:
        stmt = stmt.where(
            or_(
                AuditEvent.action == query.action,
                AuditEvent.action.startswith(query.action + ".", autoescape=True),
            )
        )
    if query.actor is not None:
        stmt = stmt.where(
            or_(
                AuditEvent.actor == query.actor,
                AuditEvent.actor.endswith(":" + query.actor, autoescape=True),
            )
        )
    if query.object_type is not None:
        stmt = stmt.where(AuditEvent.object_type == query.object_type)
    if query.object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == query.object_id)
    if query.since is not None:
        stmt = stmt.where(AuditEvent.at >= query.since)
    if query.until is not None:
        stmt = stmt.where(AuditEvent.at < query.until)
    if query.before is not None:
        stmt = stmt.where(AuditEvent.id < query.before)
    return stmt.order_by(AuditEvent.id.desc())


def _view(event: AuditEvent) -> AuditEventView:
    return AuditEventView.model_validate(event, from_attributes=True)


def page_events(session: Session, query: AuditQuery) -> AuditPage:
    """One page of events, newest first, and where the next one starts."""
    rows = list(session.scalars(_filtered(query).limit(query.limit + 1)))
    events = [_view(e) for e in rows[: query.limit]]
    more = len(rows) > query.limit
    return AuditPage(events=events, next_before=events[-1].id if more and events else None)


def list_events(session: Session, query: AuditQuery | None = None) -> list[AuditEventView]:
    """Audit events, newest first (one page of ``query.limit``)."""
    return page_events(session, query or AuditQuery()).events


CSV_COLUMNS = ("id", "at", "actor", "action", "object_type", "object_id", "detail")
# A cell a spreadsheet would run as a formula (OWASP CSV injection) starts with a quote.


def csv_lines(events: Iterable[AuditEventView], *, header: bool = True) -> Iterator[str]:
    """The events as CSV text, a line at a time (the header first, unless ``header`` is
    off): instants in UTC ISO 8601, the detail as JSON, every text cell safe to open in a
    spreadsheet."""
    buffer = io.StringIO()
    writer = SafeWriter(buffer)

    def line(cells: Iterable[object]) -> str:
        writer.writerow(list(cells))
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    if header:
        yield line(CSV_COLUMNS)
    for event in events:
        yield line(
            [
                event.id,
                event.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                event.actor,
                event.action,
                event.object_type,
                event.object_id,
                json.dumps(event.detail, sort_keys=True, default=str),
            ]
        )
