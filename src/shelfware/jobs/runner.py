"""What each kind of job does, and running a claimed job with heartbeats. Every kind is
idempotent: a sync refuses a second concurrent run and a re-sync of unchanged data writes
nothing; a reconciliation is a dated snapshot; the workflow's step reclaims each account
exactly once (and runs the access reviews' step, ``reviews.schedule``: each reminder,
escalation and recurring campaign happens once)."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from shelfware.audit.service import acting_as
from shelfware.jobs import queue
from shelfware.jobs.lease import holder_name
from shelfware.jobs.schemas import JobKind
from shelfware.kit.clock import Clock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.licensing.renewals import send_renewal_alerts
from shelfware.licensing.service import record_reconciliation
from shelfware.notifications.service import Notifier
from shelfware.reclamation import workflow
from shelfware.reviews import schedule as review_schedule
from shelfware.settings import Settings
from shelfware.sync.service import SyncError, sync_profile

LOG = logging.getLogger("shelfware.jobs")
SCHEDULE_ACTOR = "schedule"


@dataclass
class JobContext:
    """What running a job needs: the store, the clock, the settings and the pacing."""

    db: Database
    keys: KeyRing
    clock: Clock
    settings: Settings = field(default_factory=Settings)
    heartbeat_seconds: float = 20.0  # wall time between heartbeats
    stale_after: timedelta = queue.STALE_AFTER  # clock time without one: the worker is gone


def worker_name() -> str:
    """``host:pid:thread:instance``: unique to this thread of this process on any machine."""
    host_pid, _, instance = holder_name().rpartition(":")
    return f"{host_pid}:{threading.get_ident()}:{instance}"


async def perform(ctx: JobContext, kind: JobKind, payload: dict[str, Any]) -> dict[str, Any]:
    """Do the work of one job; returns what the job record keeps as its result."""
    if kind is JobKind.SYNC:
        summary = await sync_profile(ctx.db, ctx.keys, ctx.clock, str(payload["profile"]))
        return {"run_id": summary.run_id, "status": summary.status, "accounts": summary.accounts}
    if kind is JobKind.RECONCILE:
        with ctx.db.transaction() as session:
            run, _ = record_reconciliation(session, ctx.clock)
        return {"reconciliation_id": run.id, "models": run.models}
    notifier = Notifier(ctx.settings)
    if kind is JobKind.RENEWAL_ALERTS:
        alerts = await asyncio.to_thread(
            send_renewal_alerts, ctx.db, ctx.clock, notifier, worker_name()
        )
        return alerts.summary()
    report = await workflow.advance(ctx.db, ctx.keys, ctx.clock, notifier)
    # the access reviews' step rides on the workflow's hourly one: reminders, escalations,
    # the next campaign of a quarterly series, revokes reclaimed under the cap
    reviewed = await review_schedule.run_due(ctx.db, ctx.keys, ctx.clock, notifier)
    return {
        "reviews": reviewed.model_dump(),
        "notified": len(report.notified),
        "reminded": len(report.reminded),
        "approvals_requested": len(report.approvals_requested),
        "needs_person": len(report.needs_person),
        "delivery_failed": {str(k): v for k, v in report.delivery_failed.items()},
        "due": len(report.due),
        "reclaimed": sum(1 for o in report.reclaim if o.action == "reclaimed"),
    }


def run_claimed(ctx: JobContext, job: queue.Claimed, worker: str) -> None:
    """Run a claimed job to its end, renewing its lease with heartbeats meanwhile; record done
    or failed. When a heartbeat finds the attempt taken over (this worker was silent too long:
    another worker runs the job now), the work is cancelled and its outcome not recorded."""
    stop = threading.Event()
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[dict[str, Any]]]] = []
    lost = threading.Event()

    def beat() -> None:
        while not stop.wait(ctx.heartbeat_seconds):
            try:
                renewed = queue.heartbeat(ctx.db, ctx.clock, job.id, worker, attempt=job.attempts)
            except Exception:  # a missed beat is survivable; the next one may pass
                LOG.warning("heartbeat of job %s failed", job.id, exc_info=True)
                continue
            if not renewed:
                LOG.warning("job %s attempt %s was taken over: stopping it", job.id, job.attempts)
                lost.set()
                for loop, task in running:
                    loop.call_soon_threadsafe(task.cancel)
                return

    async def main() -> dict[str, Any]:
        task = asyncio.ensure_future(perform(ctx, job.kind, job.payload))
        running.append((asyncio.get_running_loop(), task))
        if lost.is_set():
            task.cancel()
        return await task

    beating = threading.Thread(target=beat, name=f"job-{job.id}-heartbeat", daemon=True)
    beating.start()
    result: dict[str, Any] | None = None
    error: str | None = None
    try:
        with acting_as(job.actor or SCHEDULE_ACTOR):
            result = asyncio.run(main())
    except asyncio.CancelledError:
        error = "cancelled: the attempt was taken over by another worker"
    except Exception as exc:
        error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:2000]
        if isinstance(exc, SyncError) and exc.summary is not None:
            result = {"run_id": exc.summary.run_id, "status": exc.summary.status}
        LOG.warning("job %s (%s) failed: %s", job.id, job.kind, error)
    finally:
        stop.set()
        beating.join()
    queue.finish(
        ctx.db, ctx.clock, job.id, worker, attempt=job.attempts, result=result, error=error
    )


def run_one(ctx: JobContext, worker: str, job_id: int | None = None) -> int | None:
    """Claim one due job (or ``job_id``) and run it; its id, or None when none was claimed."""
    job = queue.claim(ctx.db, ctx.clock, worker, job_id)
    if job is None:
        return None
    run_claimed(ctx, job, worker)
    return job.id
