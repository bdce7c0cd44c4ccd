"""The job table: add, claim, heartbeat, finish, requeue the abandoned, prune, list.

Correctness lives here, whatever backend delivers the work: the partial unique index allows
one queued or running job per key (and a scheduled job once per period); a claim moves
exactly one queued job to running (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, one
single-statement write transaction on SQLite) and counts an attempt. A claim is a lease: the
worker renews it with heartbeats, and a running job whose heartbeat is older than
``STALE_AFTER`` is taken over (queued again, or failed after its last attempt) whatever host
its worker ran on. Heartbeats and the outcome are fenced by the attempt: a worker whose
attempt was taken over can neither renew nor overwrite the next one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shelfware.jobs.schemas import JobKind, JobRequest, JobView
from shelfware.kit.clock import Clock
from shelfware.kit.db import Database, rowcount
from shelfware.models import (
    IntegrationProfile,
    Job,
    JobState,
    RunStatus,
    StagedAccount,
    SyncRun,
)
from shelfware.sync.service import SyncError

STALE_AFTER = timedelta(minutes=5)  # no heartbeat for this long: the worker is gone
ACTIVE = (JobState.QUEUED.value, JobState.RUNNING.value)


class JobConflict(SyncError):
    """A job with the same key is already queued or running."""

    def __init__(self, key: str, job_id: int) -> None:
        super().__init__(f"{key} is already queued or running (job {job_id})")
        self.job_id = job_id


class AlreadyScheduled(JobConflict):
    """A scheduled job with the same key was already queued (and did not fail) this period."""

    def __init__(self, key: str, period: str) -> None:
        SyncError.__init__(self, f"{key} was already queued for {period}")
        self.job_id = 0
        self.period = period


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
    period: str | None = None,
) -> int:
    """Queue ``job`` under ``key``; raises JobConflict when one with the key is active, and
    AlreadyScheduled when ``period`` is given and the key was queued for it already (unless
    that job failed)."""
    existing = _active(session, key)
    if existing is not None:
        raise JobConflict(key, existing)
    if period is not None and _scheduled(session, key, period):
        raise AlreadyScheduled(key, period)
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
        period=period,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # a concurrent add won the race: the indexes are the final guard
        active = _active(session, key)
        if active is None and period is not None:
            raise AlreadyScheduled(key, period) from None
        raise JobConflict(key, active or 0) from None
    return row.id


def _scheduled(session: Session, key: str, period: str) -> bool:
    found = session.scalar(
        select(Job.id)
        .where(Job.key == key, Job.period == period, Job.state != JobState.FAILED)
        .limit(1)
    )
    return found is not None


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


def _owned(job_id: int, worker: str, attempt: int) -> Any:
    """The job is still running as ``worker``'s attempt ``attempt`` (the fence)."""
    return (
        (Job.id == job_id)
        & (Job.locked_by == worker)
        & (Job.attempts == attempt)
        & (Job.state == JobState.RUNNING)
    )


def heartbeat(db: Database, clock: Clock, job_id: int, worker: str, *, attempt: int) -> bool:
    """Renew ``worker``'s lease on attempt ``attempt`` of the job; False when that attempt
    was taken over (the worker should stop: another attempt runs or will)."""
    with db.transaction() as session:
        result = session.execute(
            update(Job).where(_owned(job_id, worker, attempt)).values(heartbeat_at=clock.now())
        )
        return rowcount(result) == 1


def finish(
    db: Database,
    clock: Clock,
    job_id: int,
    worker: str,
    *,
    attempt: int,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    """Record the outcome of attempt ``attempt``, if the job is still that attempt of
    ``worker`` (a job taken over is not); True when recorded."""
    with db.transaction() as session:
        outcome = session.execute(
            update(Job)
            .where(_owned(job_id, worker, attempt))
            .values(
                state=JobState.FAILED if error else JobState.DONE,
                finished_at=clock.now(),
                result=result,
                error=error,
            )
        )
        return rowcount(outcome) == 1


def process_of(worker: str) -> str:
    """``host:pid`` of a worker named ``host:pid:thread:instance`` (a sync run's owner)."""
    parts = worker.rsplit(":", 2)
    return parts[0] if len(parts) == 3 else worker


def requeue_stale(
    session: Session, clock: Clock, stale_after: timedelta = STALE_AFTER
) -> list[int]:
    """Running jobs whose worker fell silent (on any host): queued again, or failed after the
    last attempt. A sync's run left running by that worker is failed too, so the next attempt
    may open its own (the sync service itself can only tell a dead process on its own host)."""
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
            # due as it was: a worker whose clock lags this one's may claim it at once
            job.state, job.error = JobState.QUEUED, gone
        if job.kind == JobKind.SYNC.value and job.locked_by:
            _fail_abandoned_run(session, now, str(job.payload.get("profile")), job.locked_by)
        job.locked_by = None
    return [job.id for job in stale]


def _fail_abandoned_run(session: Session, now: datetime, profile: str, worker: str) -> None:
    owner = process_of(worker)
    run = session.scalar(
        select(SyncRun)
        .join(IntegrationProfile, IntegrationProfile.id == SyncRun.profile_id)
        .where(
            IntegrationProfile.name == profile,
            SyncRun.status == RunStatus.RUNNING,
            SyncRun.owner == owner,
        )
    )
    if run is None:
        return
    run.status, run.finished_at = RunStatus.FAILED, now
    run.error = f"abandoned: the worker {worker} that ran it stopped answering"
    session.execute(delete(StagedAccount).where(StagedAccount.run_id == run.id))


def prune_finished(session: Session, before: datetime, *, batch: int) -> int:
    """Delete up to ``batch`` jobs that ended before ``before``; how many."""
    doomed = (
        select(Job.id)
        .where(Job.state.in_((JobState.DONE, JobState.FAILED)), Job.finished_at < before)
        .limit(batch)
        .scalar_subquery()
    )
    return rowcount(session.execute(delete(Job).where(Job.id.in_(doomed))))


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
