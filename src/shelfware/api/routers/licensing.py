"""Entitlements (seats bought: add, edit, end, import CSV) and reconciliation (owned against
used, now or stored with its date)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field, create_model

from shelfware.accounts.roles import Permission
from shelfware.accounts.schemas import Principal
from shelfware.api.auth import allowed
from shelfware.api.deps import RecordId, Ws
from shelfware.api.errors import ApiError, ErrorBody
from shelfware.api.routers.reports import DateQ, as_of
from shelfware.audit import service as audit
from shelfware.licensing import service
from shelfware.licensing.schemas import (
    EntitlementCreate,
    EntitlementUpdate,
    EntitlementView,
    ReconciliationRow,
    ReconciliationRun,
)
from shelfware.ranges import Day

router = APIRouter()

MAX_IMPORT_BYTES = 20 * 1024 * 1024
CSV_TYPES = ("text/csv", "text/plain", "application/csv")

# An edit's body: EntitlementUpdate's fields but the id (it is in the path); checked again
# as an EntitlementUpdate, so the rules (currency, period, term) are the CLI's.
if TYPE_CHECKING:
    EntitlementChange = BaseModel
else:
    EntitlementChange = create_model(
        "EntitlementChange",
        __config__=ConfigDict(extra="forbid"),
        __doc__="Only the fields given change; the term is checked against the stored one.",
        **{
            name: (info.annotation, info)
            for name, info in EntitlementUpdate.model_fields.items()
            if name != "id"
        },
    )


class EndRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: Day | None = Field(default=None, description="the last day it counts (default: today)")


class Reconciled(BaseModel):
    run: ReconciliationRun
    rows: list[ReconciliationRow]


@router.get("/entitlements", response_model=list[EntitlementView], tags=["entitlements"])
def entitlements(
    ws: Ws, _: Principal = allowed(Permission.ENTITLEMENTS_READ)
) -> list[EntitlementView]:
    """Every entitlement, by software model; `active` says whether it counts today."""
    with ws.read() as session:
        return service.list_entitlements(session, ws.clock.now().date())


@router.post(
    "/entitlements", response_model=EntitlementView, status_code=201, tags=["entitlements"]
)
def add_entitlement(
    data: EntitlementCreate, ws: Ws, principal: Principal = allowed(Permission.ENTITLEMENTS_WRITE)
) -> EntitlementView:
    """Record seats bought for a software model."""
    with ws.write(principal.actor) as session:
        return service.add_entitlement(session, ws.clock, data)


@router.post(
    "/entitlements/import",
    response_model=list[EntitlementView],
    status_code=201,
    tags=["entitlements"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
    responses={
        413: {"model": ErrorBody, "description": "too_large"},
        415: {"model": ErrorBody, "description": "unsupported_media_type"},
    },
)
async def import_entitlements(
    request: Request, ws: Ws, principal: Principal = allowed(Permission.ENTITLEMENTS_WRITE)
) -> list[EntitlementView]:
    """Every row of an entitlement CSV (``Content-Type: text/csv``; columns model, seats,
    unit_cost, currency, billing_period, term_start, term_end, renewal_date, notice_date,
    contract_ref), or nothing: the first bad row is a 422 naming its line and column."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in CSV_TYPES:
        raise ApiError(415, f"send the file as text/csv, not {kind or 'no content type'}")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_IMPORT_BYTES:
        raise ApiError(413, f"the file is over {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    data = await request.body()
    if len(data) > MAX_IMPORT_BYTES:
        raise ApiError(413, f"the file is over {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    with ws.write(principal.actor) as session:
        return service.import_entitlements(session, ws.clock, data, "the file")


@router.patch(
    "/entitlements/{entitlement_id}", response_model=EntitlementView, tags=["entitlements"]
)
def edit_entitlement(
    entitlement_id: RecordId,
    change: EntitlementChange,
    ws: Ws,
    principal: Principal = allowed(Permission.ENTITLEMENTS_WRITE),
) -> EntitlementView:
    """Change an entitlement's seats, cost, currency, period, dates or contract."""
    data = EntitlementUpdate.model_validate(
        {**change.model_dump(exclude_unset=True), "id": entitlement_id}
    )
    with ws.write(principal.actor) as session:
        return service.edit_entitlement(session, ws.clock, data)


@router.post(
    "/entitlements/{entitlement_id}/end", response_model=EntitlementView, tags=["entitlements"]
)
def end_entitlement(
    entitlement_id: RecordId,
    ws: Ws,
    body: Annotated[EndRequest | None, Body()] = None,
    principal: Principal = allowed(Permission.ENTITLEMENTS_WRITE),
) -> EntitlementView:
    """End the term on ``on`` (it stops counting after that day)."""
    day: date = (body.on if body else None) or ws.clock.now().date()
    with ws.write(principal.actor) as session:
        return service.end_entitlement(session, ws.clock, entitlement_id, day)


@router.get("/reconciliation", response_model=list[ReconciliationRow], tags=["reconciliation"])
def reconciliation(
    ws: Ws, _: Principal = allowed(Permission.RECONCILIATION_READ)
) -> list[ReconciliationRow]:
    """Owned against used per software model (the same rows as `shelfware reconcile --json`)."""
    with ws.read() as session:
        return service.reconcile(session, ws.clock.now())


@router.get("/reconciliations", response_model=list[ReconciliationRun], tags=["reconciliation"])
def reconciliation_runs(
    ws: Ws, _: Principal = allowed(Permission.RECONCILIATION_READ)
) -> list[ReconciliationRun]:
    """Stored reconciliations, oldest first (``report trends`` reads them)."""
    with ws.read() as session:
        return service.reconciliation_runs(session)


@router.post(
    "/reconciliations", response_model=Reconciled, status_code=201, tags=["reconciliation"]
)
def record_reconciliation(
    ws: Ws, date_: DateQ = None, principal: Principal = allowed(Permission.ENTITLEMENTS_WRITE)
) -> Reconciled:
    """Reconcile (as of the end of ``date``, default now) and keep the position with its
    date, as `shelfware reconcile` does; the rows are those of GET /reconciliation."""
    with ws.write(principal.actor) as session:
        run, rows = service.record_reconciliation(session, ws.clock, as_of(ws, date_))
        audit.record(
            session,
            ws.clock,
            action="reconciliation.record",
            object_type="reconciliation_run",
            object_id=run.id,
            as_of=run.as_of.isoformat(),
            models=run.models,
        )
    return Reconciled(run=run, rows=rows)
