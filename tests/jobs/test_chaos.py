"""Chaos, on real processes: a `shelfware worker` killed with SIGKILL mid-sync (the job runs
again on another worker process and the snapshot is whole), and the engine's Redis stopped
during a burst of jobs (nothing is lost: the job table is the truth, the tick sends again
what Redis forgot).

Each test starts its own `redis-server` on a free port, never the machine's shared one: the
Redis test stops and restarts it. Without /usr/bin/redis-server (or SHELFWARE_TEST_REDIS_SERVER)
these tests skip saying why, unless SHELFWARE_REQUIRE_SERVICES=1 (CI), where they fail.

The clock: the workers run with SHELFWARE_CLOCK frozen at NOW; this process ticks with its own
injected clock, moved past the heartbeat bound, as a `worker --beat` on another machine would
see the time pass."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from shelfware.jobs import queue
from shelfware.jobs.distributed import DistributedBackend
from shelfware.jobs.runner import JobContext
from shelfware.jobs.schemas import JobView, sync_job
from shelfware.jobs.tick import tick
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import Job, JobState, RunStatus, StagedAccount, Subscription, SyncRun
from shelfware.settings import Settings
from tests.conftest import NOW
from tests.helpers import published_rally
from tests.jobs.conftest import database_url

pytestmark = pytest.mark.store

REDIS_SERVER = os.environ.get("SHELFWARE_TEST_REDIS_SERVER", "/usr/bin/redis-server")
# How long Redis stays down. What the test proves does not depend on it: a Redis without
# persistence forgets every message it held whether it is down 3 s or 30 s, the worker
# reconnects on its own (Celery retries the broker connection), and the tick resends by the
# job table. 3 s keeps the test short; set 30 to reproduce the figure.
REDIS_DOWN_SECONDS = float(os.environ.get("SHELFWARE_TEST_REDIS_DOWN_SECONDS", "3"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PrivateRedis:
    """A redis-server of this test alone, without persistence, that can be stopped."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
                return
            except redis.RedisError:
                assert self.process.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server did not answer"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if not (shutil.which(REDIS_SERVER) or os.access(REDIS_SERVER, os.X_OK)):
        why = f"no redis-server at {REDIS_SERVER} to start a private Redis"
        if os.environ.get("SHELFWARE_REQUIRE_SERVICES"):
            pytest.fail(f"{why}, and SHELFWARE_REQUIRE_SERVICES is set")
        pytest.skip(f"{why}: set SHELFWARE_TEST_REDIS_SERVER")
    directory = tmp_path / "redis"
    directory.mkdir()
    server = PrivateRedis(directory, free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(private_redis: PrivateRedis) -> Settings:
    return Settings(
        jobs="distributed",
        jobs_broker_url=private_redis.url,
        jobs_queue=f"shelfware-chaos-{uuid.uuid4().hex[:12]}",
        jobs_tick_seconds=0.3,
    )


@pytest.fixture
def start_worker(
    ctx: JobContext, settings: Settings, secret_keys: str, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """`shelfware worker` processes on this test's Redis and database, their clock frozen at
    ``at`` (NOW by default)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, at: datetime = NOW) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "SHELFWARE_HOME": str(tmp_path / "home"),
            "SHELFWARE_DATABASE_URL": database_url(ctx.db),
            "SHELFWARE_SECRET_KEYS": secret_keys,
            "SHELFWARE_CLOCK": at.isoformat(),
            "SHELFWARE_JOBS": "distributed",
            "SHELFWARE_JOBS_BROKER_URL": settings.jobs_broker_url.get_secret_value(),
            "SHELFWARE_JOBS_QUEUE": settings.jobs_queue,
        }
        command = [sys.executable, "-m", "shelfware.cli.main", "worker", "--concurrency", "1"]
        process = subprocess.Popen(
            [*command, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def job_of(ctx: JobContext, job_id: int) -> JobView:
    with ctx.db.sessions() as session:
        return queue.get_job(session, job_id)


def wait_until(
    what: str,
    done: Callable[[], Any],
    timeout: float = 60,
    *,
    ctx: JobContext | None = None,
    workers: tuple[subprocess.Popen[bytes], ...] = (),
) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := done()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}: {diagnosis(ctx, workers)}")
        time.sleep(0.05)
    return value


def diagnosis(ctx: JobContext | None, workers: tuple[subprocess.Popen[bytes], ...]) -> str:
    told = []
    if ctx is not None:
        with ctx.db.sessions() as session:
            told += [repr(job) for job in queue.list_jobs(session)]
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
        try:
            out, _ = worker.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            out, _ = worker.communicate()
        told.append(f"worker {worker.pid} exit {worker.returncode}: {out.decode()[-3000:]}")
    return "\n".join(told)


def states(ctx: JobContext) -> dict[int, str]:
    with ctx.db.sessions() as session:
        return dict(session.execute(select(Job.id, Job.state)).tuples().all())


async def test_a_worker_killed_mid_sync_is_replaced_and_the_snapshot_is_whole(
    db: Database,
    keys: KeyRing,
    clock: FrozenClock,
    ctx: JobContext,
    settings: Settings,
    rally_factory: Any,
    start_worker: Callable[..., subprocess.Popen[bytes]],
) -> None:
    # 12 pages of 50, each answered after 400 ms: a sync of seconds
    sandbox = rally_factory(users=600, seed=11, latency_ms=400)
    await published_rally(
        db, keys, clock, sandbox.url, sandbox.org.api_key, options={"page_size": "50"}
    )
    ctx.settings = settings
    backend = DistributedBackend(ctx)
    first = start_worker()
    job_id = backend.enqueue(*sync_job("rally"))

    def downloading() -> bool:
        with ctx.db.sessions() as session:
            run = session.scalar(select(SyncRun.status))
            staged = session.scalar(select(func.count()).select_from(StagedAccount))
        return run == RunStatus.RUNNING and bool(staged)

    wait_until("the first worker has staged a page", downloading, timeout=30)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert job_of(ctx, job_id).state == "running"  # nobody knows yet
    second = start_worker()

    ctx.clock.advance(ctx.stale_after + timedelta(seconds=1))  # its heartbeat went stale
    assert tick(ctx, backend).requeued == [job_id]
    job = wait_until(
        "the job ran again",
        lambda: (j := job_of(ctx, job_id)).state in ("done", "failed") and j,
        timeout=60,
        ctx=ctx,
        workers=(second,),
    )
    assert job.state == "done" and job.attempts == 2, job
    assert job.locked_by is not None and f":{second.pid}:" in job.locked_by
    with ctx.db.sessions() as session:
        runs = list(session.scalars(select(SyncRun).order_by(SyncRun.id)))
        stored = session.scalar(select(func.count()).select_from(Subscription))
        held = set(
            session.scalars(
                select(Subscription.external_id).where(
                    Subscription.active.is_(True), Subscription.gone_at.is_(None)
                )
            )
        )
    killed, succeeded = runs
    assert killed.status == RunStatus.FAILED and "abandoned" in (killed.error or "")
    assert succeeded.status == RunStatus.SUCCEEDED and job.result is not None
    assert job.result["run_id"] == succeeded.id
    assert stored == len(sandbox.org.users) == succeeded.accounts
    assert held == {str(u.object_id) for u in sandbox.org.users if not u.disabled}
    assert second.poll() is None


async def test_redis_stopped_during_a_burst_loses_nothing(
    db: Database,
    keys: KeyRing,
    clock: FrozenClock,
    ctx: JobContext,
    settings: Settings,
    private_redis: PrivateRedis,
    rally_factory: Any,
    start_worker: Callable[..., subprocess.Popen[bytes]],
) -> None:
    sandbox = rally_factory(users=40, seed=12, latency_ms=100)
    names = [f"app-{i}" for i in range(8)]
    for name in names:
        await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key, name=name)
    ctx.settings = settings
    backend = DistributedBackend(ctx)
    # the worker's clock is where this test's will be when it ticks (a clock behind the
    # ticker's would refuse the jobs the tick queues until it caught up)
    worker = start_worker("--concurrency", "2", at=NOW + ctx.stale_after + timedelta(seconds=1))
    before = [backend.enqueue(*sync_job(name)) for name in names[:4]]
    wait_until("the worker took a job", lambda: "running" in states(ctx).values())

    private_redis.stop()  # mid-burst: messages held by Redis are gone with it
    sent = time.monotonic()
    during = [backend.enqueue(*sync_job(name)) for name in names[4:]]  # queued in the table
    assert time.monotonic() - sent < 30  # the engine's refusal does not hang the caller
    time.sleep(REDIS_DOWN_SECONDS)
    private_redis.start()  # empty: it kept nothing

    # what the worker held finishes; what Redis forgot waits in the table, queued
    wait_until(
        "no job is running",
        lambda: "running" not in states(ctx).values(),
        timeout=120,
        ctx=ctx,
        workers=(worker,),
    )
    ctx.clock.advance(ctx.stale_after + timedelta(seconds=1))
    report = tick(ctx, backend)  # sends again what waited too long
    assert report.requeued == [] and set(during) <= set(report.resent), report
    wait_until(
        "every job ended",
        lambda: set(states(ctx).values()) <= {"done", "failed"},
        timeout=120,
        ctx=ctx,
        workers=(worker,),
    )
    final = states(ctx)
    assert {final[i] for i in before + during} == {"done"}, final
    assert all(state == "done" for state in final.values()), final  # the tick's own too
    with ctx.db.sessions() as session:
        ok = session.execute(
            select(SyncRun.profile_id, func.count())
            .where(SyncRun.status == RunStatus.SUCCEEDED)
            .group_by(SyncRun.profile_id)
        ).all()
        failed_jobs = session.scalar(
            select(func.count()).select_from(Job).where(Job.state == JobState.FAILED)
        )
    assert len(ok) == len(names) and all(n == 1 for _, n in ok) and failed_jobs == 0
    assert worker.poll() is None
