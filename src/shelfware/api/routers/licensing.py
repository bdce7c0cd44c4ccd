"""Entitlements (seats bought) and reconciliation (owned against used)."""

from __future__ import annotations

from fastapi import APIRouter

from shelfware.accounts.roles import Permission
from shelfware.accounts.schemas import Principal
from shelfware.api.auth import allowed
from shelfware.api.deps import Ws
from shelfware.licensing import service
from shelfware.licensing.schemas import EntitlementCreate, EntitlementView, ReconciliationRow
from shelfware.subscriptions.schemas import EntitlementRow
from shelfware.subscriptions.service import list_entitlements

router = APIRouter()


@router.get("/entitlements", response_model=list[EntitlementRow], tags=["entitlements"])
def entitlements(
    ws: Ws, _: Principal = allowed(Permission.ENTITLEMENTS_READ)
) -> list[EntitlementRow]:
    with ws.read() as session:
        return list_entitlements(session)


@router.post(
    "/entitlements", response_model=EntitlementView, status_code=201, tags=["entitlements"]
)
def add_entitlement(
    data: EntitlementCreate, ws: Ws, principal: Principal = allowed(Permission.ENTITLEMENTS_WRITE)
) -> EntitlementView:
    """Record seats bought for a software model."""
    with ws.write(principal.actor) as session:
        return service.add_entitlement(session, ws.clock, data)


@router.get("/reconciliation", response_model=list[ReconciliationRow], tags=["reconciliation"])
def reconciliation(
    ws: Ws, _: Principal = allowed(Permission.RECONCILIATION_READ)
) -> list[ReconciliationRow]:
    """Owned against used per software model (the same rows as `shelfware reconcile --json`)."""
    with ws.read() as session:
        return service.reconcile(session, ws.clock.now())
