"""One running sync per profile: a second sync is refused at once, the same way on both
stores, and a run whose process is gone (or a zombie) does not block the next one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from shelfware.models import IntegrationProfile, RunStatus, SyncRun
from shelfware.sync.schemas import NoProgress, SyncSummary
from shelfware.sync.service import BULK_ROWS, SyncError, run_owner, sync_profile
from tests.conftest import NOW
from tests.helpers import published_rally

pytestmark = pytest.mark.store


class HoldInRuleEvaluation(NoProgress):
    """Stops the sync inside its switch-over transaction until released."""

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()

    def stage(self, name: str) -> None:
        if name == "rule evaluation":
            self.inside.set()
            self.release.wait(60)


async def test_second_sync_during_a_switch_over_is_refused_at_once(db, keys, clock, rally_factory):
    sandbox = rally_factory(users=300, seed=8)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    holder = HoldInRuleEvaluation()
    outcome: list[SyncSummary | BaseException] = []

    def first_sync() -> None:
        try:
            outcome.append(asyncio.run(sync_profile(db, keys, clock, "rally", progress=holder)))
        except BaseException as exc:  # reported by the assertion below
            outcome.append(exc)

    thread = threading.Thread(target=first_sync)
    thread.start()
    try:
        assert holder.inside.wait(60), "the first sync never reached its switch-over"
        started = time.monotonic()
        with pytest.raises(SyncError, match="already running"):
            await sync_profile(db, keys, clock, "rally")
        # refused at once, not after waiting for the first sync's write lock (30 s)
        assert time.monotonic() - started < 5
    finally:
        holder.release.set()
        thread.join(60)
    assert len(outcome) == 1 and isinstance(outcome[0], SyncSummary), outcome
    assert outcome[0].status == RunStatus.SUCCEEDED
    with db.sessions() as s:
        assert list(s.scalars(select(SyncRun.status))) == [RunStatus.SUCCEEDED]


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
async def test_run_of_a_zombie_process_is_reaped(db, keys, clock, rally_factory):
    sandbox = rally_factory(users=50, seed=2)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    # A child that exits and is not waited for stays a zombie: signal 0 still reaches it.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while _state(child.pid) != "Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.05)
        with db.transaction() as s:
            profile_id = s.scalars(select(IntegrationProfile.id)).one()
            owner = f"{run_owner().rsplit(':', 1)[0]}:{child.pid}"
            s.add(
                SyncRun(
                    profile_id=profile_id, status=RunStatus.RUNNING, started_at=NOW, owner=owner
                )
            )
        summary = await sync_profile(db, keys, clock, "rally")
    finally:
        child.wait()
    assert summary.status == RunStatus.SUCCEEDED
    with db.sessions() as s:
        runs = list(s.scalars(select(SyncRun).order_by(SyncRun.id)))
    assert [r.status for r in runs] == [RunStatus.FAILED, RunStatus.SUCCEEDED]
    assert "abandoned" in (runs[0].error or "")


async def test_stage_timings_are_recorded(db, keys, clock, rally_factory):
    sandbox = rally_factory(users=300, seed=9)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    summary = await sync_profile(db, keys, clock, "rally")
    assert summary.download_seconds > 0
    assert summary.staging_seconds > 0
    assert summary.switch_over_seconds > 0
    assert summary.evaluation_seconds > 0
    assert summary.activity_seconds == 0  # Rally's activity is a field of the account
    assert summary.download_seconds + summary.switch_over_seconds <= summary.seconds
    with db.sessions() as s:
        run = s.scalars(select(SyncRun)).one()
    assert run.download_seconds == summary.download_seconds
    assert run.staging_seconds == summary.staging_seconds
    assert run.switch_over_seconds == summary.switch_over_seconds
    assert run.evaluation_seconds == summary.evaluation_seconds


async def test_two_profiles_switch_over_side_by_side_on_postgresql(db, keys, clock, rally_factory):
    """Workers sync different profiles at once: one profile's open switch-over must not queue
    another's behind it. The planner statistics of the shared staging table used to be taken
    inside the switch-over's transaction (``ANALYZE`` holds its lock until commit), so every
    other profile's switch-over waited for the first one's commit (bench/scale_out.py: 28x)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite allows one writer at a time: switch-overs serialise by design")
    sandbox = rally_factory(users=BULK_ROWS + 200, seed=5)  # enough rows to refresh statistics
    for name in ("first", "second"):
        await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key, name=name)
    # The people exist (both apps are held by the same staff): what is left to collide on is
    # what the two profiles share by design, the staging table, not each other's new rows.
    await sync_profile(db, keys, clock, "first")
    clock.advance(timedelta(minutes=5))
    holder = HoldInRuleEvaluation()
    outcome: list[SyncSummary | BaseException] = []

    def first_sync() -> None:
        try:
            outcome.append(asyncio.run(sync_profile(db, keys, clock, "first", progress=holder)))
        except BaseException as exc:  # reported by the assertion below
            outcome.append(exc)

    thread = threading.Thread(target=first_sync)
    thread.start()
    try:
        assert holder.inside.wait(120), "the first sync never reached its switch-over"
        # the second profile's whole sync runs while the first holds its transaction open
        second = await asyncio.wait_for(sync_profile(db, keys, clock, "second"), timeout=90)
        assert second.status == RunStatus.SUCCEEDED
        assert not outcome, "the first sync ended before it was released"
    finally:
        holder.release.set()
        thread.join(120)
    assert len(outcome) == 1 and isinstance(outcome[0], SyncSummary), outcome
    assert outcome[0].status == RunStatus.SUCCEEDED
