"""Jobs: on-demand and scheduled work (syncs, reconciliation, the workflow's step), queued in
our own table so a restart resumes and any number of workers can share it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from shelfware.models.base import Base, id_column

ONCE = "period IS NOT NULL AND state <> 'failed'"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    __tablename__ = "job"
    __table_args__ = (
        # One queued or running job per key (e.g. one sync per profile), enforced by the
        # database.
        Index(
            "uq_job_one_active",
            "key",
            unique=True,
            sqlite_where=text("state IN ('queued', 'running')"),
            postgresql_where=text("state IN ('queued', 'running')"),
        ),
        Index("ix_job_state_run_after", "state", "run_after"),
        # A periodic job is queued once per period (a week's reconciliation, a due refresh, an
        # hour's workflow step) even when two ticks raced; a failed one may be queued again.
        Index(
            "uq_job_once_per_period",
            "key",
            "period",
            unique=True,
            sqlite_where=text(ONCE),
            postgresql_where=text(ONCE),
        ),
        # pruning finished jobs by age
        Index("ix_job_finished_at", "finished_at"),
    )

    id: Mapped[int] = id_column()
    kind: Mapped[str] = mapped_column(String(50))
    key: Mapped[str] = mapped_column(String(300))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(20), default=JobState.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    run_after: Mapped[datetime]
    created_at: Mapped[datetime]
    # who asked (an API token, a web user, "schedule")
    actor: Mapped[str | None] = mapped_column(String(200))
    # host:pid:thread of the worker running it, and when it last said it is alive
    locked_by: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    # the schedule's period this job is for (None: asked for by someone)
    period: Mapped[str | None] = mapped_column(String(40))


class SchedulerLease(Base):
    """Who may run the schedule tick: one holder at a time, until ``expires_at`` lapses
    (renewed by the holder every tick), so any number of ticking processes tick once."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))  # host:pid:uuid
    expires_at: Mapped[datetime]
