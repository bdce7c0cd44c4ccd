"""What a job is, as the faces see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class JobKind(StrEnum):
    SYNC = "sync"  # one profile: download, activity, rule evaluation
    RECONCILE = "reconcile"  # store a reconciliation (weekly)
    ADVANCE = "advance"  # the reclamation workflow's periodic step
    RENEWAL_ALERTS = "renewal_alerts"  # owners warned before notice dates (licensing.renewals)


@dataclass(frozen=True)
class JobRequest:
    kind: JobKind
    payload: dict[str, Any] = field(default_factory=dict)
    # the schedule's period (a due refresh, a week, an hour): queued once per period
    period: str | None = None


def sync_job(profile: str) -> tuple[JobRequest, str]:
    """A sync of ``profile`` and its key: one queued or running sync per profile."""
    return JobRequest(JobKind.SYNC, {"profile": profile}), f"sync:{profile}"


def reconcile_job() -> tuple[JobRequest, str]:
    return JobRequest(JobKind.RECONCILE), "reconcile"


def advance_job() -> tuple[JobRequest, str]:
    return JobRequest(JobKind.ADVANCE), "advance"


def renewal_alerts_job() -> tuple[JobRequest, str]:
    return JobRequest(JobKind.RENEWAL_ALERTS), "renewal-alerts"


class JobView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    key: str
    state: str
    attempts: int
    actor: str | None
    created_at: datetime
    run_after: datetime
    started_at: datetime | None
    finished_at: datetime | None
    locked_by: str | None
    heartbeat_at: datetime | None
    result: dict[str, Any] | None
    error: str | None
    period: str | None = None
