"""Scaling out, in process: the schedule lease (one ticker per period however many tick, a
dead holder replaced once its lease lapses, race-safe), scheduled jobs once per period, a
job whose worker died on another host taken over with its sync run, heartbeats and outcomes
fenced by attempt (a taken-over worker stops and records nothing), and pruning by age that
keeps the job table bounded through a simulated year of daily syncs of 200 profiles.

Time moves through the injected clock; the store is SQLite, or PostgreSQL with
SHELFWARE_TEST_DATABASE_URL."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, update

from shelfware.jobs import lease, queue, retention
from shelfware.jobs.backend import EmbeddedBackend
from shelfware.jobs.queue import AlreadyScheduled
from shelfware.jobs.runner import JobContext, run_claimed
from shelfware.jobs.schemas import JobView, sync_job
from shelfware.jobs.tick import due_work, lease_ttl, tick
from shelfware.models import (
    IntegrationProfile,
    Job,
    JobState,
    ProfileStatus,
    RunStatus,
    SchedulerLease,
    SyncRun,
)
from tests.jobs.conftest import Rally

pytestmark = pytest.mark.store


def job_of(ctx: JobContext, job_id: int) -> JobView:
    with ctx.db.sessions() as session:
        return queue.get_job(session, job_id)


def runs(ctx: JobContext) -> list[SyncRun]:
    with ctx.db.sessions() as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))


# -- the schedule lease -------------------------------------------------------------------


def test_one_holder_at_a_time_until_its_lease_lapses(ctx: JobContext) -> None:
    ttl = timedelta(minutes=3)
    assert lease.acquire(ctx.db, ctx.clock, "schedule", "host-a:1:a", ttl)
    assert not lease.acquire(ctx.db, ctx.clock, "schedule", "host-b:1:b", ttl)
    ctx.clock.advance(timedelta(minutes=2))
    assert lease.acquire(ctx.db, ctx.clock, "schedule", "host-a:1:a", ttl)  # renewed
    ctx.clock.advance(timedelta(minutes=2))  # 4 minutes after it was taken: renewal holds
    assert not lease.acquire(ctx.db, ctx.clock, "schedule", "host-b:1:b", ttl)
    assert lease.current(ctx.db, ctx.clock, "schedule") == "host-a:1:a"
    ctx.clock.advance(ttl)  # host a died: nobody renewed
    assert lease.current(ctx.db, ctx.clock, "schedule") is None
    assert lease.acquire(ctx.db, ctx.clock, "schedule", "host-b:1:b", ttl)  # taken over
    assert not lease.acquire(ctx.db, ctx.clock, "schedule", "host-a:1:a", ttl)  # came back
    lease.release(ctx.db, "schedule", "host-a:1:a")  # not its own: nothing happens
    assert lease.current(ctx.db, ctx.clock, "schedule") == "host-b:1:b"
    lease.release(ctx.db, "schedule", "host-b:1:b")  # a stopping holder hands over at once
    assert lease.acquire(ctx.db, ctx.clock, "schedule", "host-a:1:a", ttl)


def test_racing_candidates_get_one_lease(ctx: JobContext) -> None:
    """Eight threads (eight connections) ask at the same instant: exactly one wins."""
    ttl, candidates = timedelta(minutes=3), 8
    start = threading.Barrier(candidates)
    won: list[str] = []

    def ask(i: int) -> None:
        start.wait()
        if lease.acquire(ctx.db, ctx.clock, "race", f"host-{i}:1:x", ttl):
            won.append(f"host-{i}:1:x")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(candidates)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and lease.current(ctx.db, ctx.clock, "race") == won[0]


async def test_two_tickers_tick_once_and_a_dead_one_is_replaced(
    ctx: JobContext, rally: Rally
) -> None:
    backend = EmbeddedBackend(ctx, workers=0)
    first = tick(ctx, backend, holder="host-a:1:a")
    assert set(first.enqueued) == {"sync:rally", "reconcile", "advance"}
    assert first.held_by is None
    other = tick(ctx, backend, holder="host-b:2:b")  # a second `worker --beat`
    assert other.enqueued == {} and other.requeued == [] and other.held_by == "host-a:1:a"
    await asyncio.to_thread(backend.drain)

    ctx.clock.advance(timedelta(days=1))  # host a stopped ticking a day ago (it died)
    assert lease_ttl(ctx) < timedelta(days=1)
    taken = tick(ctx, backend, holder="host-b:2:b")
    assert taken.held_by is None and set(taken.enqueued) == {"sync:rally", "advance"}
    assert tick(ctx, backend, holder="host-a:1:a").held_by == "host-b:2:b"
    with ctx.db.sessions() as session:
        [row] = session.scalars(select(SchedulerLease))
        assert row.holder == "host-b:2:b" and row.expires_at == ctx.clock.now() + lease_ttl(ctx)


async def test_a_scheduled_job_is_queued_once_per_period_when_ticks_raced(
    ctx: JobContext, rally: Rally
) -> None:
    """Two tickers read the due work before either queued it (the lease normally prevents
    this; a paused holder whose lease lapsed mid-tick does not): the first queues and runs
    it, the second's copies are refused, so the week gets one reconciliation."""
    backend = EmbeddedBackend(ctx, workers=0)
    seen_by_a, seen_by_b = due_work(ctx), due_work(ctx)
    assert {key for _, key in seen_by_a} == {"sync:rally", "reconcile", "advance"}
    for job, key in seen_by_a:
        backend.enqueue(job, key)
    await asyncio.to_thread(backend.drain)
    for job, key in seen_by_b:
        with pytest.raises(AlreadyScheduled, match=f"{key} was already queued for "):
            backend.enqueue(job, key)
    with ctx.db.sessions() as session:
        kinds = session.execute(select(Job.key, func.count()).group_by(Job.key)).all()
    assert dict(kinds) == {"sync:rally": 1, "reconcile": 1, "advance": 1}
    assert len(runs(ctx)) == 1

    # a failed one does not hold its period: it is retried (after the retry gap)
    [(job, key)] = [(j, k) for j, k in seen_by_b if k == "advance"]
    with ctx.db.transaction() as session:
        session.execute(update(Job).where(Job.key == "advance").values(state=JobState.FAILED))
    assert backend.enqueue(job, key) > 0
    # a job asked for by someone has no period: never refused once the last one ended
    with ctx.db.transaction() as session:
        session.execute(update(Job).where(Job.state == JobState.QUEUED).values(state=JobState.DONE))
    assert backend.enqueue(dataclasses.replace(job, period=None), key) > 0


# -- taking a job over ----------------------------------------------------------------------


async def test_a_sync_whose_worker_died_on_another_host_is_taken_over(
    ctx: JobContext, rally: Rally
) -> None:
    """The worker on host "far" claimed the sync, opened its run, and vanished: no process of
    this host can tell it is dead, only its stale heartbeat. The takeover fails its run so
    the next attempt runs (before: "a sync of profile 'rally' is already running")."""
    backend = EmbeddedBackend(ctx, workers=0)
    job_id = backend.enqueue(*sync_job("rally"))
    far = "far:4242:139:5eedc0ffee00"
    claimed = queue.claim(ctx.db, ctx.clock, far)
    assert claimed is not None and claimed.attempts == 1
    with ctx.db.transaction() as session:
        profile_id = session.scalar(select(IntegrationProfile.id))
        session.add(
            SyncRun(
                profile_id=profile_id,
                status=RunStatus.RUNNING,
                started_at=ctx.clock.now(),
                owner="far:4242",
            )
        )
    ctx.clock.advance(ctx.stale_after + timedelta(seconds=1))
    assert tick(ctx, backend).requeued == [job_id]
    assert job_id in await asyncio.to_thread(backend.drain)
    job = job_of(ctx, job_id)
    assert job.state == "done" and job.attempts == 2, job
    abandoned, succeeded = runs(ctx)
    assert abandoned.status == RunStatus.FAILED and "far:4242:139" in (abandoned.error or "")
    assert succeeded.status == RunStatus.SUCCEEDED and job.result is not None
    assert job.result["run_id"] == succeeded.id
    # the far worker comes back from its pause: its attempt is over, its outcome ignored
    assert not queue.heartbeat(ctx.db, ctx.clock, job_id, far, attempt=1)
    assert not queue.finish(ctx.db, ctx.clock, job_id, far, attempt=1, error="late")
    assert job_of(ctx, job_id).state == "done"


def test_outcomes_are_fenced_by_attempt_not_only_by_worker_name(ctx: JobContext) -> None:
    """The same worker name claims the job again after a takeover (a restarted container
    reusing host and pid): the first attempt's late answer must not end the second."""
    with ctx.db.transaction() as session:
        job_id = queue.add(session, ctx.clock, *sync_job("x"))
    first = queue.claim(ctx.db, ctx.clock, "box:1:1:a")
    assert first is not None
    ctx.clock.advance(ctx.stale_after + timedelta(seconds=1))
    with ctx.db.transaction() as session:
        assert queue.requeue_stale(session, ctx.clock, ctx.stale_after) == [job_id]
    second = queue.claim(ctx.db, ctx.clock, "box:1:1:a")
    assert second is not None and second.attempts == 2
    assert not queue.heartbeat(ctx.db, ctx.clock, job_id, "box:1:1:a", attempt=1)
    assert not queue.finish(ctx.db, ctx.clock, job_id, "box:1:1:a", attempt=1, error="old")
    assert job_of(ctx, job_id).state == "running"
    assert queue.finish(ctx.db, ctx.clock, job_id, "box:1:1:a", attempt=2, result={})
    job = job_of(ctx, job_id)
    assert job.state == "done" and job.attempts == 2 and job.error is None


async def test_a_worker_whose_attempt_was_taken_over_stops_and_records_nothing(
    ctx: JobContext, rally_factory: object
) -> None:
    """A live but paused worker (its heartbeats did not reach the store for too long) was
    taken over: its next heartbeat finds the attempt gone, so it cancels the sync at once
    (the run is failed, nothing switched over) and leaves the job to the new attempt."""
    from tests.helpers import published_rally

    sandbox = rally_factory(users=40, seed=5, latency_ms=700)  # type: ignore[operator]
    await published_rally(ctx.db, ctx.keys, ctx.clock, sandbox.url, sandbox.org.api_key)
    with ctx.db.transaction() as session:
        job_id = queue.add(session, ctx.clock, *sync_job("rally"))
    claimed = queue.claim(ctx.db, ctx.clock, "slow:1:1:a")
    assert claimed is not None
    worker = threading.Thread(target=run_claimed, args=(ctx, claimed, "slow:1:1:a"))
    worker.start()
    deadline = time.monotonic() + 60  # a busy machine: the thread may start late
    while not runs(ctx):  # the sync started downloading
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    with ctx.db.transaction() as session:  # what a takeover and another worker's claim do
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(attempts=Job.attempts + 1, locked_by="other:2:2:b")
        )
    started = time.monotonic()
    await asyncio.to_thread(worker.join, 10)
    assert not worker.is_alive() and time.monotonic() - started < 2  # not the whole sync
    job = job_of(ctx, job_id)
    assert job.state == "running" and job.locked_by == "other:2:2:b" and job.attempts == 2
    [run] = runs(ctx)
    assert run.status == RunStatus.FAILED and run.error == "interrupted"


# -- pruning by age -------------------------------------------------------------------------


def add_profiles(ctx: JobContext, count: int) -> dict[str, int]:
    now = ctx.clock.now()
    with ctx.db.transaction() as session:
        session.execute(
            insert(IntegrationProfile),
            [
                {
                    "name": f"app-{i:03d}",
                    "kind": "rally",
                    "status": ProfileStatus.DRAFT,  # nothing real to sync: the tick leaves it
                    "url": "https://rally.invalid",
                    "analyze_activity_from": now,
                    "created_at": now,
                    "updated_at": now,
                    "connection_changed_at": now,
                }
                for i in range(count)
            ],
        )
        return dict(session.execute(select(IntegrationProfile.name, IntegrationProfile.id)).all())


def syncs_of_days(
    ctx: JobContext, days: int, profiles: dict[str, int], status: dict[str, str]
) -> None:
    """What ``days`` days of scheduled syncs leave, a day apart from now on (the clock moves
    on with them): a finished job and a finished run per profile and day, written in bulk
    (no real sync)."""
    jobs, runs_ = [], []
    for _ in range(days):
        now = ctx.clock.now()
        later = now + timedelta(minutes=3)
        jobs += [
            {
                "kind": "sync",
                "key": sync_job(name)[1],
                "payload": {"profile": name},
                "state": JobState.DONE,
                "attempts": 1,
                "max_attempts": 3,
                "run_after": now,
                "created_at": now,
                "started_at": now,
                "finished_at": later,
                "actor": "schedule",
                "period": f"due {now:%Y-%m-%dT%H:%M:%S}",
            }
            for name in profiles
        ]
        runs_ += [
            {
                "profile_id": profile_id,
                "status": status.get(name, RunStatus.SUCCEEDED),
                "started_at": now,
                "finished_at": later,
            }
            for name, profile_id in profiles.items()
        ]
        ctx.clock.advance(timedelta(days=1))
    with ctx.db.transaction() as session:
        session.execute(insert(Job.__table__), jobs)
        session.execute(insert(SyncRun.__table__), runs_)


def count(ctx: JobContext, *where: object) -> int:
    with ctx.db.sessions() as session:
        return session.scalar(select(func.count()).select_from(Job).where(*where)) or 0  # type: ignore[arg-type]


def test_a_year_of_daily_syncs_keeps_the_tables_bounded(ctx: JobContext) -> None:
    """A year of daily syncs of 200 profiles; the tick runs once a week here (every minute in
    production: a week at once is the harder catch-up) and leaves 30 days of finished jobs
    and runs, and the due work, each time."""
    keep_days, profiles = ctx.settings.jobs_keep_days, 200
    assert keep_days == 30  # the default
    names = add_profiles(ctx, profiles)
    backend = EmbeddedBackend(ctx, workers=0)
    # app-000 is synced once, then never again: its one run stays however old it gets;
    # app-001 fails every day after its first: its last successful run stays too.
    syncs_of_days(ctx, 1, names, {})
    first_runs = {run.profile_id: run.id for run in runs(ctx)}
    daily = {n: i for n, i in names.items() if n != "app-000"}
    bound = (keep_days + 1) * profiles  # the day the cut falls on included
    pruned = 0
    for _week in range(52):
        syncs_of_days(ctx, 7, daily, {"app-001": RunStatus.FAILED})
        report = tick(ctx, backend)
        assert report.held_by is None
        pruned += report.pruned["jobs"]
        queued = count(ctx, Job.state == JobState.QUEUED)  # the due work (the workflow step)
        assert queued <= 2 and count(ctx) <= bound + queued
    with ctx.db.sessions() as session:
        kept = session.scalars(select(SyncRun.id)).all()
        oldest = session.scalar(select(func.min(Job.finished_at)))
    cut = ctx.clock.now() - timedelta(days=keep_days)
    assert pruned + count(ctx, Job.kind == "sync") == 200 + 364 * 199
    assert count(ctx, Job.state == JobState.DONE) >= keep_days * (profiles - 1)
    assert oldest is not None and oldest >= cut  # nothing younger than 30 days was deleted
    assert len(kept) <= bound + 2
    assert first_runs[names["app-000"]] in kept  # a profile's latest run
    assert first_runs[names["app-001"]] in kept  # its latest successful run
    assert first_runs[names["app-002"]] not in kept  # an ordinary old run


def test_pruning_goes_in_batches_and_leaves_the_rest_to_the_next_tick(
    ctx: JobContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = add_profiles(ctx, 5)
    syncs_of_days(ctx, 10, names, {})
    ctx.clock.advance(timedelta(days=40))
    monkeypatch.setattr(retention, "BATCH", 7)
    monkeypatch.setattr(retention, "MAX_BATCHES", 3)
    first = retention.prune(ctx.db, ctx.clock, 30)
    assert first == {"jobs": 21, "runs": 21}  # three batches of seven each
    second = retention.prune(ctx.db, ctx.clock, 30)
    assert second == {"jobs": 21, "runs": 21}
    # the last five runs are each profile's latest: never pruned
    assert retention.prune(ctx.db, ctx.clock, 30) == {"jobs": 8, "runs": 3}
    assert retention.prune(ctx.db, ctx.clock, 30) == {"jobs": 0, "runs": 0}
    assert len(runs(ctx)) == 5
