"""Recording who did what; the caller's transaction carries the event."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

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
