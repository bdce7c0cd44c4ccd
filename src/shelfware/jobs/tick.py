"""The schedule tick: find due work and enqueue it.

- each published profile whose daily refresh is due (``next_refresh_at`` passed: set by
  publishing and moved a day on by every successful sync);
- the weekly reconciliation, when none is stored from the last week (once a profile is
  published: an empty store has nothing to reconcile);
- the reclamation workflow's step (notices, reminders, approvals, reclaims after deadlines),
  which also runs the access reviews' step (reminders, escalations, quarterly campaigns);
- the renewal alerts, when one is due and a channel reaches people (hourly at most; each
  alert is claimed before it is sent, so it goes once whatever runs it).

A key that was queued within ``RETRY_GAP`` is left alone, so a failing sync is retried hourly
rather than every tick, and the workflow steps at most hourly; each scheduled job carries its
period (the refresh's due instant, the ISO week, the hour) and is queued once per period even if
two ticks raced (the job table's unique index; a failed one may be queued again). Running jobs
whose worker fell silent are queued again first; housekeeping (pruning finished jobs, old
runs and ended web sessions) comes last.

The tick runs only in the process holding the database's ``schedule`` lease (``lease.py``):
however many processes tick, one does the work per period; if it dies, another takes over
once the lease lapses (``lease_ttl``: three tick periods, at least ``MIN_LEASE``)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from shelfware.accounts import sessions
from shelfware.jobs import lease, queue, retention
from shelfware.jobs.backend import JobBackend
from shelfware.jobs.runner import SCHEDULE_ACTOR, JobContext
from shelfware.jobs.schemas import (
    JobRequest,
    advance_job,
    reconcile_job,
    renewal_alerts_job,
    sync_job,
)
from shelfware.kit.clock import utc
from shelfware.licensing.pricing import day_of
from shelfware.licensing.renewals import any_alert_due
from shelfware.licensing.service import reconciliation_due
from shelfware.models import IntegrationProfile, ProfileStatus
from shelfware.reclamation import service as reclamation
from shelfware.reclamation.service import Limits
from shelfware.sync.service import SyncError

LOG = logging.getLogger("shelfware.jobs")
RETRY_GAP = timedelta(hours=1)
MIN_LEASE = timedelta(seconds=30)


@dataclass
class TickReport:
    requeued: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)  # queued too long: message lost, sent again
    enqueued: dict[str, int] = field(default_factory=dict)  # key -> job id
    ran: list[int] = field(default_factory=list)  # run here (``jobs run-due``, embedded)
    pruned: dict[str, int] = field(default_factory=dict)  # jobs, runs -> deleted
    held_by: str | None = None  # another process holds the schedule lease: nothing was done


def lease_ttl(ctx: JobContext) -> timedelta:
    """How long a tick's lease lasts: three periods, so a holder renewing every period keeps
    it through a slow tick, and a dead one is replaced within three."""
    return max(MIN_LEASE, timedelta(seconds=3 * ctx.settings.jobs_tick_seconds))


def _instant(value: datetime) -> str:
    return f"{utc(value):%Y-%m-%dT%H:%M:%S}"


def due_work(ctx: JobContext) -> list[tuple[JobRequest, str]]:
    now = ctx.clock.now()
    work: list[tuple[JobRequest, str]] = []
    with ctx.db.sessions() as session:
        due = session.execute(
            select(IntegrationProfile.name, IntegrationProfile.next_refresh_at)
            .where(
                IntegrationProfile.status == ProfileStatus.PUBLISHED,
                IntegrationProfile.next_refresh_at <= now,
            )
            .order_by(IntegrationProfile.next_refresh_at)
        )
        for name, refresh_at in due:  # one refresh per due instant (never None: it passed)
            job, key = sync_job(name)
            work.append(
                (dataclasses.replace(job, period=f"due {_instant(refresh_at or now)}"), key)
            )
        published = session.scalar(
            select(IntegrationProfile.id)
            .where(IntegrationProfile.status == ProfileStatus.PUBLISHED)
            .limit(1)
        )
        if published is not None and reconciliation_due(session, now):
            year, week, _ = utc(now).isocalendar()  # due once a rolling week: once per week
            job, key = reconcile_job()
            work.append((dataclasses.replace(job, period=f"week {year}-W{week:02d}"), key))
        hour = f"hour {_instant(now)[:13]}"
        job, key = advance_job()
        work.append((dataclasses.replace(job, period=hour), key))
        reachable = ctx.settings.smtp_host or ctx.settings.slack_bot_token
        if reachable and any_alert_due(session, day_of(now), ctx.settings.renewal_thresholds):
            job, key = renewal_alerts_job()
            work.append((dataclasses.replace(job, period=hour), key))
        since = now - RETRY_GAP
        return [(job, key) for job, key in work if not queue.created_since(session, key, since)]


def tick(ctx: JobContext, backend: JobBackend, *, holder: str | None = None) -> TickReport:
    """One tick, if this process (``holder``) holds the schedule lease: requeue abandoned
    jobs, enqueue what is due, then the housekeeping."""
    report = TickReport()
    holder = holder or lease.holder_name()
    if not lease.acquire(ctx.db, ctx.clock, lease.SCHEDULE, holder, lease_ttl(ctx)):
        report.held_by = lease.current(ctx.db, ctx.clock, lease.SCHEDULE) or "another process"
        return report
    with ctx.db.transaction() as session:
        report.requeued = queue.requeue_stale(session, ctx.clock, ctx.stale_after)
        lost = queue.waiting(session, ctx.clock, ctx.stale_after)
    report.resent = [job_id for job_id in lost if job_id not in report.requeued]
    for job, key in due_work(ctx):
        try:
            report.enqueued[key] = backend.enqueue(job, key, actor=SCHEDULE_ACTOR)
        except SyncError:  # already queued or running, or done this period: nothing to add
            continue
    backend.announce(sorted({*report.requeued, *report.resent}))
    housekeeping(ctx, report)
    return report


def housekeeping(ctx: JobContext, report: TickReport) -> None:
    """Deletions by age, each step on its own: one failing does not stop the next."""
    try:
        report.pruned = retention.prune(ctx.db, ctx.clock, ctx.settings.jobs_keep_days)
    except Exception:  # the database may be away for a moment; next tick
        LOG.warning("pruning finished jobs and runs failed", exc_info=True)
    try:
        with ctx.db.transaction() as session:
            report.pruned["sessions"] = sessions.prune(session, ctx.clock)
    except Exception:
        LOG.warning("pruning ended web sessions failed", exc_info=True)
    try:
        keep = timedelta(days=ctx.settings.jobs_keep_days)
        with ctx.db.transaction() as session:
            report.pruned["reclaims"] = reclamation.prune_ledger(
                session, ctx.clock.now(), Limits.of(ctx.settings), keep
            )
    except Exception:
        LOG.warning("pruning the reclaim ledger failed", exc_info=True)
