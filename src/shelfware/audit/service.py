"""Recording who did what; the caller's transaction carries the event."""

from __future__ import annotations

import getpass
from typing import Any

from sqlalchemy.orm import Session

from shelfware.kit.clock import Clock
from shelfware.models import AuditEvent


def current_actor() -> str:
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
