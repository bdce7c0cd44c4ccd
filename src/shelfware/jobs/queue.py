"""The job table: add, claim, heartbeat, finish, requeue the abandoned, list.

Correctness lives here, whatever backend delivers the work: the partial unique index allows
one queued or running job per key; a claim moves exactly one queued job to running (``FOR
UPDATE SKIP LOCKED`` on PostgreSQL, one single-statement write transaction on SQLite), and a
running job whose worker stopped sending heartbeats is queued again (or failed after its last
attempt)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shelfware.jobs.schemas import JobKind, JobRequest, JobView
from shelfware.kit.clock import Clock
from shelfware.kit.db import Database, rowcount
from shelfware.models import Job, JobState
from shelfware.sync.service import SyncError

STALE_AFTER = timedelta(minutes=5)  # no heartbeat for this long: the worker is gone
ACTIVE = (JobState.QUEUED.value, JobState.RUNNING.value)


class JobConflict(SyncError):
    """A job with the same key is already queued or running."""

    def __init__(self, key: str, job_id: int) -> None:
        super().__init__(f"{key} is already queued or running (job {job_id})")
        self.job_id = job_id


class JobNotFound(LookupError):
    def __init__(self, job_id: int) -> None:
        super().__init__(f"no job {job_id}")


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: JobKind
    payload: dict[str, Any]
    actor: str | None
    attempts: int


def _active(session: Session, key: str) -> int | None:
    return session.scalar(select(Job.id).where(Job.key == key, Job.state.in_(ACTIVE)))


def add(
    session: Session,
    clock: Clock,
    job: JobRequest,
    key: str,
    *,
    actor: str | None = None,
    run_after: datetime | None = None,
) -> int:
    """Queue ``job`` under ``key``; raises JobConflict when one with the key is active."""
    existing = _active(session, key)
    if existing is not None:
        raise JobConflict(key, existing)
    now = clock.now()
    row = Job(
        kind=job.kind.value,
        key=key,
        payload=dict(job.payload),
        state=JobState.QUEUED,
        attempts=0,
        max_attempts=3,
        run_after=run_after or now,
        created_at=now,
        actor=actor,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # a concurrent add won the race: the index is the final guard
        raise JobConflict(key, _active(session, key) or 0) from None
    return row.id


def claim(db: Database, clock: Clock, worker: str, job_id: int | None = None) -> Claimed | None:
    """Move one due queued job (or job ``job_id``) to running for ``worker``; None when there
    is none (or another worker took it)."""
    now = clock.now()
    due = select(Job.id).where(Job.state == JobState.QUEUED, Job.run_after <= now)
    if job_id is not None:
        due = due.where(Job.id == job_id)
    due = due.order_by(Job.run_after, Job.id).limit(1)
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            found = session.scalar(due.with_for_update(skip_locked=True))
            if found is None:
                return None
            target: Any = found
        else:
            target = due.scalar_subquery()  # one UPDATE statement: SQLite's single writer
        claimed = session.execute(
            update(Job)
            .where(Job.id == target, Job.state == JobState.QUEUED)
            .values(
                state=JobState.RUNNING,
                locked_by=worker,
                heartbeat_at=now,
                started_at=now,
                attempts=Job.attempts + 1,
            )
            .returning(Job.id, Job.kind, Job.payload, Job.actor, Job.attempts)
        ).first()
        if claimed is None:
            return None
        return Claimed(claimed[0], JobKind(claimed[1]), dict(claimed[2]), claimed[3], claimed[4])


def heartbeat(db: Database, clock: Clock, job_id: int, worker: str) -> bool:
    """Say ``worker`` is still running the job; False when the job is no longer its own."""
    with db.transaction() as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.locked_by == worker, Job.state == JobState.RUNNING)
            .values(heartbeat_at=clock.now())
        )
        return rowcount(result) == 1


def finish(
    db: Database,
    clock: Clock,
    job_id: int,
    worker: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Record the outcome, if the job is still ``worker``'s (a requeued job is not)."""
    with db.transaction() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.locked_by == worker, Job.state == JobState.RUNNING)
            .values(
                state=JobState.FAILED if error else JobState.DONE,
                finished_at=clock.now(),
                result=result,
                error=error,
            )
        )


def requeue_stale(
    session: Session, clock: Clock, stale_after: timedelta = STALE_AFTER
) -> list[int]:
    """Running jobs whose worker fell silent: queued again, or failed after the last attempt."""
    now = clock.now()
    stale = session.scalars(
        select(Job)
        .where(Job.state == JobState.RUNNING, Job.heartbeat_at < now - stale_after)
        .order_by(Job.id)
        .with_for_update(skip_locked=True)
    ).all()
    for job in stale:
        last = f"{job.heartbeat_at:%Y-%m-%d %H:%M:%S}"
        gone = f"worker {job.locked_by} stopped answering (last heartbeat {last} UTC)"
        if job.attempts >= job.max_attempts:
            job.state, job.finished_at, job.error = JobState.FAILED, now, gone
        else:
            job.state, job.run_after, job.error = JobState.QUEUED, now, gone
        job.locked_by = None
    return [job.id for job in stale]


def waiting(session: Session, clock: Clock, longer_than: timedelta) -> list[int]:
    """Queued jobs due for ``longer_than`` that nobody took: their message may be lost."""
    return list(
        session.scalars(
            select(Job.id)
            .where(Job.state == JobState.QUEUED, Job.run_after <= clock.now() - longer_than)
            .order_by(Job.id)
        )
    )


def created_since(session: Session, key: str, since: datetime) -> bool:
    """A job with ``key`` was queued at or after ``since``."""
    found = session.scalar(select(Job.id).where(Job.key == key, Job.created_at >= since).limit(1))
    return found is not None


def get_job(session: Session, job_id: int) -> JobView:
    job = session.get(Job, job_id)
    if job is None:
        raise JobNotFound(job_id)
    return JobView.model_validate(job)


def list_jobs(
    session: Session,
    *,
    state: str | None = None,
    kind: JobKind | None = None,
    key: str | None = None,
    limit: int = 100,
) -> list[JobView]:
    """Newest first."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if state is not None:
        query = query.where(Job.state == state)
    if kind is not None:
        query = query.where(Job.kind == kind.value)
    if key is not None:
        query = query.where(Job.key == key)
    return [JobView.model_validate(job) for job in session.scalars(query)]
