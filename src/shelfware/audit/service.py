"""Recording who did what; the caller's transaction carries the event."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from shelfware.kit.clock import Clock
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


def list_events(
    session: Session,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEventView]:
    """Audit events, newest first (``before_id``: the page after that event)."""
    stmt = select(AuditEvent)
    if object_type is not None:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    if actor is not None:
        stmt = stmt.where(AuditEvent.actor == actor)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    events = session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit))
    return [AuditEventView.model_validate(e, from_attributes=True) for e in events]
