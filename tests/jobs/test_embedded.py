"""The embedded backend: worker threads claim jobs from our table and run them; one queued or
running job per key; a job whose worker fell silent is run again; the outcome is recorded."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from shelfware.jobs import queue
from shelfware.jobs.backend import EmbeddedBackend
from shelfware.jobs.queue import JobConflict
from shelfware.jobs.runner import JobContext, run_one
from shelfware.jobs.schemas import JobView, sync_job
from shelfware.jobs.tick import tick
from shelfware.models import Job, RunStatus, SyncRun
from tests.jobs.conftest import Rally

pytestmark = pytest.mark.store


def job_of(ctx: JobContext, job_id: int) -> JobView:
    with ctx.db.sessions() as session:
        return queue.get_job(session, job_id)


def wait_done(ctx: JobContext, job_id: int, timeout: float = 30.0) -> JobView:
    deadline = time.monotonic() + timeout
    while (job := job_of(ctx, job_id)).state not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


def runs(ctx: JobContext) -> list[SyncRun]:
    with ctx.db.sessions() as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))


async def test_a_worker_thread_runs_a_queued_sync(ctx: JobContext, rally: Rally) -> None:
    backend = EmbeddedBackend(ctx, workers=2, poll=0.05, linger=0.5)
    job_id = backend.enqueue(*sync_job("rally"), actor="token:tester")
    job = wait_done(ctx, job_id)
    assert job.state == "done" and job.error is None, job
    assert job.attempts == 1 and job.actor == "token:tester"
    [run] = runs(ctx)
    assert run.status == RunStatus.SUCCEEDED and run.accounts > 0
    assert job.result == {"run_id": run.id, "status": "succeeded", "accounts": run.accounts}
    backend.stop()


async def test_a_failed_sync_is_a_failed_job_naming_the_error(
    ctx: JobContext, rally: Rally
) -> None:
    rally.sandbox.org.api_key = "revoked"  # the app now refuses the stored credential
    backend = EmbeddedBackend(ctx, workers=0)
    job_id = backend.enqueue(*sync_job("rally"))
    assert await asyncio.to_thread(backend.drain) == [job_id]
    job = job_of(ctx, job_id)
    [run] = runs(ctx)
    assert job.state == "failed" and "nothing was changed" in (job.error or ""), job
    assert run.status == RunStatus.FAILED and job.result == {"run_id": run.id, "status": "failed"}


async def test_one_queued_or_running_job_per_key(ctx: JobContext, rally: Rally) -> None:
    backend = EmbeddedBackend(ctx, workers=0)  # nobody runs them: they stay queued
    first = backend.enqueue(*sync_job("rally"))
    with pytest.raises(JobConflict, match=rf"sync:rally is already queued .* \(job {first}\)"):
        backend.enqueue(*sync_job("rally"))
    claimed = queue.claim(ctx.db, ctx.clock, "w1")
    assert claimed is not None and claimed.id == first
    assert queue.claim(ctx.db, ctx.clock, "w2") is None  # nothing else is queued
    with pytest.raises(JobConflict):  # still refused while it runs
        backend.enqueue(*sync_job("rally"))
    queue.finish(ctx.db, ctx.clock, first, "w1", attempt=1, result={})
    second = backend.enqueue(*sync_job("rally"))  # once it ended, a new one is welcome
    assert second != first
    with ctx.db.sessions() as session:
        states = {row.id: row.state for row in session.execute(select(Job.id, Job.state))}
    assert states == {first: "done", second: "queued"}


def test_the_index_refuses_a_second_active_job_past_the_check(
    ctx: JobContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ctx.db.transaction() as session:
        first = queue.add(session, ctx.clock, *sync_job("x"))
    monkeypatch.setattr(queue, "_active", lambda *_: None)  # the race the index closes
    with ctx.db.transaction() as session, pytest.raises(JobConflict):
        queue.add(session, ctx.clock, *sync_job("x"))
    monkeypatch.undo()
    with ctx.db.sessions() as session:
        assert [j.id for j in queue.list_jobs(session)] == [first]


async def test_a_job_whose_worker_died_is_run_again(ctx: JobContext, rally: Rally) -> None:
    backend = EmbeddedBackend(ctx, workers=0)
    job_id = backend.enqueue(*sync_job("rally"))
    dead = queue.claim(ctx.db, ctx.clock, "gone-host:1:1")  # then the worker vanished
    assert dead is not None and dead.id == job_id
    assert await asyncio.to_thread(run_one, ctx, "w2") is None  # running: nobody takes it

    ctx.clock.advance(timedelta(minutes=2))  # heartbeat still fresh enough
    assert tick(ctx, backend).requeued == []
    ctx.clock.advance(ctx.stale_after)
    assert tick(ctx, backend).requeued == [job_id]
    assert job_of(ctx, job_id).state == "queued"
    assert job_id in await asyncio.to_thread(backend.drain)  # with the tick's own jobs
    job = job_of(ctx, job_id)
    assert job.state == "done" and job.attempts == 2, job
    # the late answer of the vanished worker changes nothing
    queue.finish(ctx.db, ctx.clock, job_id, "gone-host:1:1", attempt=1, error="late")
    assert job_of(ctx, job_id).state == "done"
    assert [r.status for r in runs(ctx)] == [RunStatus.SUCCEEDED]


def test_a_job_silent_on_its_last_attempt_fails(ctx: JobContext) -> None:
    with ctx.db.transaction() as session:
        job_id = queue.add(session, ctx.clock, *sync_job("x"))
        session.execute(update(Job).where(Job.id == job_id).values(attempts=2))
    assert queue.claim(ctx.db, ctx.clock, "w1") is not None
    ctx.clock.advance(ctx.stale_after + timedelta(seconds=1))
    with ctx.db.transaction() as session:
        assert queue.requeue_stale(session, ctx.clock, ctx.stale_after) == [job_id]
    job = job_of(ctx, job_id)
    assert job.state == "failed" and job.attempts == 3 and "stopped answering" in (job.error or "")


async def test_heartbeats_keep_a_long_job_alive(ctx: JobContext, rally: Rally) -> None:
    backend = EmbeddedBackend(ctx, workers=0)
    job_id = backend.enqueue(*sync_job("rally"))
    claimed = queue.claim(ctx.db, ctx.clock, "w1")
    assert claimed is not None
    ctx.clock.advance(timedelta(minutes=10))
    assert queue.heartbeat(ctx.db, ctx.clock, job_id, "w1", attempt=1)
    assert not queue.heartbeat(ctx.db, ctx.clock, job_id, "w2", attempt=1)  # not its job
    with ctx.db.transaction() as session:
        assert queue.requeue_stale(session, ctx.clock, ctx.stale_after) == []
