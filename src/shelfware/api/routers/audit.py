"""The audit trail (admin): who did what to which object, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from shelfware.accounts.roles import Permission
from shelfware.accounts.schemas import Principal
from shelfware.api.auth import allowed
from shelfware.api.deps import Printable, Ws
from shelfware.audit import service
from shelfware.audit.service import AuditEventView, AuditQuery
from shelfware.ranges import MAX_ID, MAX_NAME

router = APIRouter(prefix="/audit", tags=["audit"])
Filter = Annotated[str | None, Query(min_length=1, max_length=MAX_NAME), Printable]


@router.get("", response_model=list[AuditEventView])
def list_events(
    ws: Ws,
    action: Filter = None,
    object_type: Filter = None,
    object_id: Filter = None,
    actor: Filter = None,
    since: Annotated[datetime | None, Query(description="events at or after (UTC)")] = None,
    until: Annotated[datetime | None, Query(description="events before (UTC)")] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    _: Principal = allowed(Permission.AUDIT_READ),
) -> list[AuditEventView]:
    """``action`` matches that action or those under it (``user``: ``user.*``); ``actor``
    that actor or any face's principal of that name (``admin``: ``web:admin``)."""
    query = AuditQuery(  # a ValidationError is the API's 422 naming the field
        action=action,
        object_type=object_type,
        object_id=object_id,
        actor=actor,
        since=since,
        until=until,
        before=before,
        limit=limit,
    )
    with ws.read() as session:
        return service.list_events(session, query)
