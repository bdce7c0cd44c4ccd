"""Removal candidates: the queue, and reclaim one by one or in bulk (with a dry run)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shelfware.accounts.roles import Permission
from shelfware.accounts.schemas import Principal
from shelfware.api.auth import allowed
from shelfware.api.deps import RecordId, Ws
from shelfware.appstate import Workspace
from shelfware.audit.service import acting_as
from shelfware.ranges import MAX_NAME
from shelfware.reclamation import service
from shelfware.reclamation.schemas import CandidateView, ReclaimOutcomeView, ReclaimRequest

router = APIRouter(prefix="/candidates", tags=["candidates"])


@router.get("", response_model=list[CandidateView])
def list_candidates(
    ws: Ws,
    state: Annotated[str | None, Query(min_length=1, max_length=MAX_NAME)] = None,
    profile: Annotated[str | None, Query(min_length=1, max_length=MAX_NAME)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    _: Principal = allowed(Permission.CANDIDATES_READ),
) -> list[CandidateView]:
    """Removal candidates, biggest saving first."""
    with ws.read() as session:
        return service.list_candidates(session, state=state, profile=profile)[:limit]


async def _reclaim(
    ws: Workspace, principal: Principal, request: ReclaimRequest
) -> list[ReclaimOutcomeView]:
    with acting_as(principal.actor):
        return await service.reclaim_candidates(
            ws.store.db,
            ws.store.keys,
            ws.clock,
            ids=request.ids,
            all_ready=request.all_ready,
            dry_run=request.dry_run,
        )


@router.post("/reclaim", response_model=list[ReclaimOutcomeView])
async def reclaim_many(
    request: ReclaimRequest, ws: Ws, principal: Principal = allowed(Permission.CANDIDATES_ACT)
) -> list[ReclaimOutcomeView]:
    """Re-read each account, then reclaim it (or cancel the candidate); ``dry_run`` changes
    nothing and says what would happen."""
    return await _reclaim(ws, principal, request)


@router.post("/{candidate_id}/reclaim", response_model=ReclaimOutcomeView)
async def reclaim_one(
    candidate_id: RecordId,
    ws: Ws,
    dry_run: Annotated[bool, Query()] = False,
    principal: Principal = allowed(Permission.CANDIDATES_ACT),
) -> ReclaimOutcomeView:
    outcomes = await _reclaim(ws, principal, ReclaimRequest(ids=[candidate_id], dry_run=dry_run))
    if not outcomes:
        raise LookupError(f"no candidate {candidate_id} that can be reclaimed")
    return outcomes[0]
