"""The audit trail (admin): who did what to which object, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shelfware.accounts.roles import Permission
from shelfware.accounts.schemas import Principal
from shelfware.api.auth import allowed
from shelfware.api.deps import Printable, Ws
from shelfware.audit import service
from shelfware.audit.service import AuditEventView
from shelfware.ranges import MAX_ID, MAX_NAME

router = APIRouter(prefix="/audit", tags=["audit"])
Filter = Annotated[str | None, Query(min_length=1, max_length=MAX_NAME), Printable]


@router.get("", response_model=list[AuditEventView])
def list_events(
    ws: Ws,
    object_type: Filter = None,
    object_id: Filter = None,
    actor: Filter = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    _: Principal = allowed(Permission.AUDIT_READ),
) -> list[AuditEventView]:
    with ws.read() as session:
        return service.list_events(
            session,
            object_type=object_type,
            object_id=object_id,
            actor=actor,
            before_id=before,
            limit=limit,
        )
