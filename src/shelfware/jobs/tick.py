"""The schedule tick: find due work and enqueue it.

- each published profile whose daily refresh is due (``next_refresh_at`` passed: set by
  publishing and moved a day on by every successful sync);
- the weekly reconciliation, when none is stored from the last week (once a profile is
  published: an empty store has nothing to reconcile);
- the reclamation workflow's step (notices, reminders, approvals, reclaims after deadlines).

A key that was queued within ``RETRY_GAP`` is left alone, so a failing sync is retried hourly
rather than every tick, and the workflow steps at most hourly. Running jobs whose worker fell
silent are queued again first; ended and expired web sessions are deleted."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from shelfware.accounts import sessions
from shelfware.jobs import queue
from shelfware.jobs.backend import JobBackend
from shelfware.jobs.runner import SCHEDULE_ACTOR, JobContext
from shelfware.jobs.schemas import JobRequest, advance_job, reconcile_job, sync_job
from shelfware.licensing.service import reconciliation_due
from shelfware.models import IntegrationProfile, ProfileStatus
from shelfware.sync.service import SyncError

RETRY_GAP = timedelta(hours=1)


@dataclass
class TickReport:
    requeued: list[int] = field(default_factory=list)
    enqueued: dict[str, int] = field(default_factory=dict)  # key -> job id
    ran: list[int] = field(default_factory=list)  # run here (``jobs run-due``, embedded)
    sessions_pruned: int = 0  # ended and expired web sessions deleted


def due_work(ctx: JobContext) -> list[tuple[JobRequest, str]]:
    now = ctx.clock.now()
    work: list[tuple[JobRequest, str]] = []
    with ctx.db.sessions() as session:
        names = session.scalars(
            select(IntegrationProfile.name)
            .where(
                IntegrationProfile.status == ProfileStatus.PUBLISHED,
                IntegrationProfile.next_refresh_at <= now,
            )
            .order_by(IntegrationProfile.next_refresh_at)
        )
        work += [sync_job(name) for name in names]
        published = session.scalar(
            select(IntegrationProfile.id)
            .where(IntegrationProfile.status == ProfileStatus.PUBLISHED)
            .limit(1)
        )
        if published is not None and reconciliation_due(session, now):
            work.append(reconcile_job())
        work.append(advance_job())
        since = now - RETRY_GAP
        return [(job, key) for job, key in work if not queue.created_since(session, key, since)]


def tick(ctx: JobContext, backend: JobBackend) -> TickReport:
    """One tick: requeue abandoned jobs, then enqueue what is due."""
    report = TickReport()
    with ctx.db.transaction() as session:
        report.requeued = queue.requeue_stale(session, ctx.clock, ctx.stale_after)
        lost = queue.waiting(session, ctx.clock, ctx.stale_after)
        report.sessions_pruned = sessions.prune(session, ctx.clock)
    for job, key in due_work(ctx):
        try:
            report.enqueued[key] = backend.enqueue(job, key, actor=SCHEDULE_ACTOR)
        except SyncError:  # already queued or running: nothing to add
            continue
    backend.announce(sorted({*report.requeued, *lost}))
    return report
