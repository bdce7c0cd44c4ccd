"""The distributed backend on a real engine: Celery on this machine's Redis, `shelfware worker`
started as a subprocess (the same database, another process), a sync job enqueued here and
completed there; with ``--beat`` the worker's own tick queues the due refresh.

Without a Redis answering at SHELFWARE_TEST_REDIS_URL these tests skip saying why, unless
SHELFWARE_REQUIRE_SERVICES=1 (CI), where they fail instead."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from shelfware.jobs import lease, queue
from shelfware.jobs.distributed import DistributedBackend
from shelfware.jobs.runner import JobContext
from shelfware.jobs.schemas import JobView, sync_job
from shelfware.jobs.tick import tick
from shelfware.models import RunStatus, SyncRun
from shelfware.settings import Settings
from tests.cli.conftest import assert_one_line_error, invoke
from tests.conftest import NOW
from tests.jobs.conftest import Rally, database_url

pytestmark = pytest.mark.store

REDIS_URL = os.environ.get("SHELFWARE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="module")
def broker() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        why = f"Redis at {REDIS_URL} does not answer ({exc})"
        if os.environ.get("SHELFWARE_REQUIRE_SERVICES"):
            pytest.fail(f"{why}, and SHELFWARE_REQUIRE_SERVICES is set")
        pytest.skip(f"{why}: set SHELFWARE_TEST_REDIS_URL to point elsewhere")
    return REDIS_URL


@pytest.fixture
def settings(broker: str) -> Settings:
    # a queue of this test's own: parallel runs never take each other's messages
    queue_name = f"shelfware-test-{uuid.uuid4().hex[:12]}"
    return Settings(
        jobs="distributed", jobs_broker_url=broker, jobs_queue=queue_name, jobs_tick_seconds=0.3
    )


@pytest.fixture
def start_worker(
    ctx: JobContext, settings: Settings, secret_keys: str, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "SHELFWARE_HOME": str(tmp_path / "home"),
            "SHELFWARE_DATABASE_URL": database_url(ctx.db),
            "SHELFWARE_SECRET_KEYS": secret_keys,
            "SHELFWARE_CLOCK": NOW.isoformat(),
            "SHELFWARE_JOBS": "distributed",
            "SHELFWARE_JOBS_BROKER_URL": settings.jobs_broker_url.get_secret_value(),
            "SHELFWARE_JOBS_QUEUE": settings.jobs_queue,
            "SHELFWARE_JOBS_TICK_SECONDS": str(settings.jobs_tick_seconds),
        }
        command = [sys.executable, "-m", "shelfware.cli.main", "worker", "--concurrency", "1"]
        process = subprocess.Popen(
            [*command, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        started.append(process)
        return process

    yield start
    for process in started:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a warm shutdown), then SIGKILL after 15 s; a stopped one is left alone."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# How long a worker process may take to start and finish a small sync. Seconds on a quiet
# machine; the limit is generous because CI machines can be very busy (a miss here says
# "slow", not "wrong": the failure prints the job table and what the workers said).
WAIT_SECONDS = 90


def diagnose(ctx: JobContext, workers: list[subprocess.Popen[bytes]], what: str) -> str:
    """What the job table holds and what each worker printed (it is stopped to read it)."""
    with ctx.db.sessions() as session:
        jobs = [(j.id, j.key, j.state, j.locked_by, j.attempts) for j in queue.list_jobs(session)]
    runs = [(r.id, r.status) for r in sync_runs(ctx)]
    outputs = []
    for worker in workers:
        stop(worker)
        output = worker.stdout.read().decode(errors="replace") if worker.stdout else ""
        outputs.append(f"worker {worker.pid} exit {worker.returncode}:\n{output[-4000:]}")
    return "\n".join([what, f"jobs: {jobs}", f"runs: {runs}", *outputs])


def wait_for(ctx: JobContext, job_id: int, worker: subprocess.Popen[bytes]) -> JobView:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        with ctx.db.sessions() as session:
            job = queue.get_job(session, job_id)
        if job.state in ("done", "failed"):
            return job
        if worker.poll() is not None or time.monotonic() > deadline:
            pytest.fail(diagnose(ctx, [worker], f"job {job_id} is {job.state}"))
        time.sleep(0.1)


def wait_for_finished_run(ctx: JobContext, workers: list[subprocess.Popen[bytes]]) -> list[SyncRun]:
    """The sync runs, once the latest has finished; fails saying why if it does not."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not (runs := sync_runs(ctx)) or runs[-1].status == RunStatus.RUNNING:
        if any(w.poll() is not None for w in workers) or time.monotonic() > deadline:
            pytest.fail(diagnose(ctx, workers, "no sync finished"))
        time.sleep(0.1)
    return runs


def sync_runs(ctx: JobContext) -> list[SyncRun]:
    with ctx.db.sessions() as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))


async def test_a_worker_process_runs_an_enqueued_sync(
    ctx: JobContext,
    settings: Settings,
    rally: Rally,
    start_worker: Callable[..., subprocess.Popen[bytes]],
) -> None:
    ctx.settings = settings
    backend = DistributedBackend(ctx)
    job_id = backend.enqueue(*sync_job("rally"), actor="token:tester")
    backend.announce([job_id])  # a duplicate message: the claim lets only one run it
    worker = start_worker()
    job = wait_for(ctx, job_id, worker)
    assert job.state == "done", job
    assert job.locked_by is not None and f":{worker.pid}:" in job.locked_by  # that process
    [run] = sync_runs(ctx)
    assert run.status == RunStatus.SUCCEEDED and job.result == {
        "run_id": run.id,
        "status": "succeeded",
        "accounts": run.accounts,
    }
    time.sleep(0.5)  # the duplicate message has been consumed by now: nothing more ran
    assert len(sync_runs(ctx)) == 1 and job.attempts == 1


async def test_a_job_whose_message_was_lost_is_sent_again_by_the_tick(
    ctx: JobContext,
    settings: Settings,
    rally: Rally,
    start_worker: Callable[..., subprocess.Popen[bytes]],
) -> None:
    ctx.settings = settings
    with ctx.db.transaction() as session:  # queued, but no message ever reached the engine
        job_id = queue.add(session, ctx.clock, *sync_job("rally"))
    worker = start_worker()
    backend = DistributedBackend(ctx)
    assert tick(ctx, backend).enqueued.keys() == {"reconcile", "advance"}  # not the sync again
    time.sleep(1.0)
    with ctx.db.sessions() as session:
        assert queue.get_job(session, job_id).state == "queued"  # nobody knows of it yet
    ctx.clock.advance(ctx.stale_after + timedelta(seconds=1))
    tick(ctx, backend)
    assert wait_for(ctx, job_id, worker).state == "done"


async def test_a_beat_worker_queues_the_due_refresh_and_runs_it(
    ctx: JobContext,
    settings: Settings,
    rally: Rally,
    start_worker: Callable[..., subprocess.Popen[bytes]],
) -> None:
    worker = start_worker("--beat")
    runs = wait_for_finished_run(ctx, [worker])
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED]
    with ctx.db.sessions() as session:
        [job] = queue.list_jobs(session, key="sync:rally")
    job = wait_for(ctx, job.id, worker)  # the run is recorded a moment before its job
    assert job.actor == "schedule" and job.result == {
        "run_id": runs[0].id,
        "status": "succeeded",
        "accounts": runs[0].accounts,
    }


def test_worker_refuses_the_embedded_setting(tmp_path: Path) -> None:
    ran = invoke(tmp_path, "worker", env={"SHELFWARE_JOBS": "embedded"})
    assert_one_line_error(ran, "SHELFWARE_JOBS=distributed")


async def test_two_beat_workers_one_holds_the_schedule(
    ctx: JobContext,
    settings: Settings,
    rally: Rally,
    start_worker: Callable[..., subprocess.Popen[bytes]],
) -> None:
    """Two `worker --beat` processes: one holds the schedule lease and ticks, the other's
    ticks do nothing; the due refresh is queued and run once."""
    workers = [start_worker("--beat"), start_worker("--beat")]
    wait_for_finished_run(ctx, workers)
    time.sleep(1.0)  # several more ticks of each
    holder = lease.current(ctx.db, ctx.clock, lease.SCHEDULE)
    assert holder is not None
    assert [f":{w.pid}:" in f"{holder}:" for w in workers].count(True) == 1, holder
    with ctx.db.sessions() as session:
        keys = [job.key for job in queue.list_jobs(session)]
    assert sorted(keys) == ["advance", "reconcile", "sync:rally"]
    assert [r.status for r in sync_runs(ctx)] == [RunStatus.SUCCEEDED]
