"""Chaos: PostgreSQL restarted in the middle of a sync's switch-over. The run fails cleanly
(recorded failed, nothing half-written: the snapshot is the previous one) and the next sync
succeeds, as a job.

The cluster is a private throw-away one made by this test (initdb and pg_ctl of
/usr/lib/postgresql/15/bin, run as the `postgres` OS user, on a free port, fsync off), never
the machine's shared server. Without those binaries, or not running as root (to become
`postgres`), the test skips saying why, unless SHELFWARE_REQUIRE_SERVICES=1, where it fails."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from shelfware.jobs import queue
from shelfware.jobs.backend import EmbeddedBackend
from shelfware.jobs.runner import JobContext
from shelfware.jobs.schemas import sync_job
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import RunStatus, StagedAccount, Subscription, SyncRun
from shelfware.settings import Settings
from shelfware.store import upgrade
from shelfware.sync.schemas import NoProgress, SyncSummary
from shelfware.sync.service import SyncError, sync_profile
from tests.helpers import published_rally

PG_BIN = Path(os.environ.get("SHELFWARE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PrivateCluster:
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        data, log = self.directory / "data", self.directory / "log"
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        command = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w"]
        ran = subprocess.run(
            ["runuser", "-u", "postgres", "--", *command, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ran.returncode == 0, f"pg_ctl {args}: {ran.stdout}{ran.stderr}"


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    why = None
    if not (PG_BIN / "initdb").exists():
        why = f"no initdb in {PG_BIN} (set SHELFWARE_TEST_PG_BIN)"
    elif os.geteuid() != 0 or not shutil.which("runuser"):
        why = "a private cluster runs as the `postgres` user: the tests must run as root"
    else:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            why = "no `postgres` OS user to run a private cluster"
    if why:
        if os.environ.get("SHELFWARE_REQUIRE_SERVICES"):
            pytest.fail(f"{why}, and SHELFWARE_REQUIRE_SERVICES is set")
        pytest.skip(why)
    directory = Path(tempfile.mkdtemp(prefix="shelfware-pg-", dir="/tmp"))
    shutil.chown(directory, "postgres", "postgres")
    initdb = [str(PG_BIN / "initdb"), "-D", str(directory / "data"), "-U", "postgres"]
    ran = subprocess.run(
        ["runuser", "-u", "postgres", "--", *initdb, "--auth=trust", "--no-sync"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    server = PrivateCluster(directory, free_port())
    server.pg_ctl("start")
    try:
        yield server
    finally:
        server.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(directory, ignore_errors=True)


class RestartInSwitchOver(NoProgress):
    """A progress hook that restarts the cluster once the switch-over's transaction has
    written (rule evaluation runs inside it), before it commits."""

    def __init__(self, cluster: PrivateCluster) -> None:
        self.cluster, self.restarted = cluster, False

    def stage(self, name: str) -> None:
        if name == "rule evaluation" and not self.restarted:
            self.restarted = True
            self.cluster.pg_ctl("restart", "-m", "fast")


async def test_postgres_restarted_mid_switch_over_fails_the_run_cleanly(
    cluster: PrivateCluster, keys: KeyRing, clock: FrozenClock, rally_factory: Any
) -> None:
    db = Database.from_url(cluster.url)
    try:
        upgrade(db.engine)
        sandbox = rally_factory(users=300, seed=21)
        await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
        hook = RestartInSwitchOver(cluster)
        outcome: list[SyncSummary | BaseException] = []

        def first_sync() -> None:
            try:
                outcome.append(asyncio.run(sync_profile(db, keys, clock, "rally", progress=hook)))
            except BaseException as exc:  # reported below
                outcome.append(exc)

        thread = threading.Thread(target=first_sync)
        thread.start()
        await asyncio.to_thread(thread.join, 120)
        assert hook.restarted, "the sync never reached its switch-over"
        [failed] = outcome
        assert isinstance(failed, SyncError), failed
        with db.sessions() as session:
            [run] = session.scalars(select(SyncRun))
            stored = session.scalar(select(func.count()).select_from(Subscription))
            staged = session.scalar(select(func.count()).select_from(StagedAccount))
        assert run.status == RunStatus.FAILED and run.error, run  # recorded, not left running
        assert stored == 0 and staged == 0  # nothing half-written, nothing left staged

        # the next sync, as a job, succeeds
        ctx = JobContext(db=db, keys=keys, clock=clock, settings=Settings())
        backend = EmbeddedBackend(ctx, workers=0)
        job_id = backend.enqueue(*sync_job("rally"))
        assert await asyncio.to_thread(backend.drain) == [job_id]
        with db.sessions() as session:
            job = queue.get_job(session, job_id)
            statuses = list(session.scalars(select(SyncRun.status).order_by(SyncRun.id)))
            stored = session.scalar(select(func.count()).select_from(Subscription))
        assert job.state == "done" and statuses == [RunStatus.FAILED, RunStatus.SUCCEEDED]
        assert stored == len(sandbox.org.users)
    finally:
        db.dispose()
