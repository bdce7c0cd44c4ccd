"""Jobs: follow a queued sync (or a scheduled job) to its end."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from shelfware.accounts.roles import Permission
from shelfware.accounts.schemas import Principal
from shelfware.api.auth import allowed
from shelfware.api.deps import Ws
from shelfware.jobs import service as jobs
from shelfware.jobs.schemas import JobView
from shelfware.ranges import MAX_ID

router = APIRouter(prefix="/jobs", tags=["jobs"])
STATES = "^(queued|running|done|failed)$"


@router.get("", response_model=list[JobView])
def list_jobs(
    ws: Ws,
    state: Annotated[str | None, Query(pattern=STATES, description="only this state")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    _: Principal = allowed(Permission.RUNS_READ),
) -> list[JobView]:
    """Jobs, newest first."""
    with ws.read() as session:
        return jobs.list_jobs(session, state=state, limit=limit)


@router.get("/{job_id}", response_model=JobView)
def get_job(
    job_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    ws: Ws,
    _: Principal = allowed(Permission.RUNS_READ),
) -> JobView:
    """One job: queued, running, done (``result``) or failed (``error``)."""
    with ws.read() as session:
        try:
            return jobs.get_job(session, job_id)
        except jobs.JobNotFound as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
