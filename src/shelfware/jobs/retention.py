"""Pruning by age (the tick's housekeeping): finished jobs and sync runs older than
``SHELFWARE_JOBS_KEEP_DAYS`` are deleted with set-based ``DELETE``s in batches, each batch its
own short transaction, at most ``MAX_BATCHES`` per kind and tick (the rest goes next tick).

Never pruned: queued or running jobs, running runs, and each profile's latest run and latest
successful run (the profile page, the run history's head and the dashboard's freshness read
them). Nothing else references a sync run but its staged rows (deleted with it, ``ON DELETE
CASCADE``); reconciliations are dated snapshots of their own and are kept."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from shelfware.jobs import queue
from shelfware.kit.clock import Clock
from shelfware.kit.db import Database, rowcount
from shelfware.models import RunStatus, SyncRun

BATCH = 1000
MAX_BATCHES = 20


def prune_runs(session: Session, before: datetime, *, batch: int) -> int:
    """Delete up to ``batch`` sync runs that ended before ``before`` and are neither their
    profile's latest run nor its latest successful one; how many."""
    latest = select(func.max(SyncRun.id)).group_by(SyncRun.profile_id)
    latest_success = (
        select(func.max(SyncRun.id))
        .where(SyncRun.status == RunStatus.SUCCEEDED)
        .group_by(SyncRun.profile_id)
    )
    doomed = (
        select(SyncRun.id)
        .where(
            SyncRun.status != RunStatus.RUNNING,
            SyncRun.finished_at < before,
            SyncRun.id.not_in(latest),
            SyncRun.id.not_in(latest_success),
        )
        .limit(batch)
        .scalar_subquery()
    )
    return rowcount(session.execute(delete(SyncRun).where(SyncRun.id.in_(doomed))))


def prune(db: Database, clock: Clock, keep_days: int) -> dict[str, int]:
    """Delete finished jobs and runs older than ``keep_days``; how many of each."""
    before = clock.now() - timedelta(days=keep_days)
    pruned: dict[str, int] = {}
    for name, step in (("jobs", queue.prune_finished), ("runs", prune_runs)):
        total = 0
        for _ in range(MAX_BATCHES):
            with db.transaction() as session:
                deleted = step(session, before, batch=BATCH)
            total += deleted
            if deleted < BATCH:
                break
        pruned[name] = total
    return pruned
