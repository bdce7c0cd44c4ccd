"""What the faces call: build the configured backend, enqueue a sync, follow jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from shelfware.jobs import lease, queue
from shelfware.jobs.backend import EmbeddedBackend, JobBackend
from shelfware.jobs.queue import JobConflict, JobNotFound
from shelfware.jobs.runner import JobContext
from shelfware.jobs.schemas import JobKind, JobView, sync_job
from shelfware.jobs.tick import TickReport, tick
from shelfware.kit.clock import Clock
from shelfware.models import ProfileStatus
from shelfware.profiles import service as profiles
from shelfware.settings import Settings
from shelfware.store import Store
from shelfware.sync.service import SyncError

if TYPE_CHECKING:
    from shelfware.jobs.distributed import DistributedBackend

__all__ = [
    "JobConflict",
    "JobNotFound",
    "backend_for",
    "enqueue_sync",
    "get_job",
    "list_jobs",
    "queued_syncs",
]


def backend_for(
    store: Store, clock: Clock, settings: Settings, *, workers: int | None = None
) -> JobBackend:
    """The backend ``SHELFWARE_JOBS`` names (``embedded`` by default)."""
    ctx = JobContext(db=store.db, keys=store.keys, clock=clock, settings=settings)
    if settings.jobs == "distributed":
        from shelfware.jobs.distributed import DistributedBackend

        return DistributedBackend(ctx)
    return EmbeddedBackend(ctx, workers=settings.jobs_workers if workers is None else workers)


def distributed_backend(store: Store, clock: Clock, settings: Settings) -> DistributedBackend:
    """The engine's side of ``shelfware worker``."""
    from shelfware.jobs.distributed import DistributedBackend

    return DistributedBackend(JobContext(store.db, store.keys, clock, settings))


def enqueue_sync(backend: JobBackend, store: Store, name: str, actor: str) -> JobView:
    """Queue a sync of published profile ``name``: refused at once for an unknown or draft
    profile, or when one is already queued or running (JobConflict names it)."""
    with store.db.sessions() as session:
        profile = profiles.get_profile(session, name)
        if profile.status != ProfileStatus.PUBLISHED:
            raise SyncError(
                f"profile {name!r} is a draft: validate and publish it first "
                f"(`shelfware profile validate {name}` then `shelfware profile publish {name}`)"
            )
    job, key = sync_job(name)
    job_id = backend.enqueue(job, key, actor=actor)
    with store.db.sessions() as session:
        return queue.get_job(session, job_id)


def get_job(session: Session, job_id: int) -> JobView:
    return queue.get_job(session, job_id)


def list_jobs(session: Session, *, state: str | None = None, limit: int = 100) -> list[JobView]:
    return queue.list_jobs(session, state=state, limit=limit)


def queued_syncs(session: Session, profile: str | None = None) -> list[JobView]:
    """Syncs waiting for a worker (of ``profile``, or of every profile), newest first."""
    key = sync_job(profile)[1] if profile else None
    return queue.list_jobs(session, state="queued", kind=JobKind.SYNC, key=key)


def run_due(store: Store, clock: Clock, settings: Settings) -> TickReport:
    """One tick for cron users: enqueue what is due, and with the embedded backend run it all
    here before returning."""
    backend = backend_for(store, clock, settings, workers=0)
    ctx = JobContext(db=store.db, keys=store.keys, clock=clock, settings=settings)
    holder = lease.holder_name()
    try:
        report = tick(ctx, backend, holder=holder)
    finally:  # a one-off tick: leave the lease to the next ticker at once
        lease.release(store.db, lease.SCHEDULE, holder)
    if isinstance(backend, EmbeddedBackend):
        report.ran = backend.drain()
    return report
