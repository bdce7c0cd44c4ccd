"""The schedule tick: a profile whose daily refresh is due is queued, a fresh one is not; the
weekly reconciliation when none is stored from the last week; the workflow's step; a key
queued within the hour is left alone. Time moves through the injected clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from shelfware.jobs import queue
from shelfware.jobs.backend import EmbeddedBackend
from shelfware.jobs.runner import JobContext
from shelfware.jobs.tick import tick
from shelfware.licensing.service import reconciliation_runs
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from tests.jobs.conftest import Rally

pytestmark = pytest.mark.store


def next_refresh(ctx: JobContext, name: str = "rally") -> object:
    with ctx.db.sessions() as session:
        return profiles.get_profile(session, name).next_refresh_at


async def test_the_tick_queues_due_work_and_runs_it(ctx: JobContext, rally: Rally) -> None:
    backend = EmbeddedBackend(ctx, workers=0)  # queued only; drained below
    first = tick(ctx, backend)
    # just published: the first refresh is due now; no reconciliation stored yet
    assert set(first.enqueued) == {"sync:rally", "reconcile", "advance"}
    ran = await asyncio.to_thread(backend.drain)
    assert sorted(ran) == sorted(first.enqueued.values())
    with ctx.db.sessions() as session:
        jobs = {j.key: j for j in queue.list_jobs(session)}
        assert [r.id for r in reconciliation_runs(session)] == [
            jobs["reconcile"].result["reconciliation_id"]  # type: ignore[index]
        ]
    assert all(j.state == "done" for j in jobs.values()), jobs
    assert jobs["advance"].result is not None and "reclaimed" in jobs["advance"].result
    assert next_refresh(ctx) == ctx.clock.now() + profiles.REFRESH_EVERY

    # two hours on: the profile is fresh, the reconciliation recent; the workflow steps hourly
    ctx.clock.advance(timedelta(hours=2))
    assert set(tick(ctx, backend).enqueued) == {"advance"}
    assert tick(ctx, backend).enqueued == {}  # the advance just queued is still active
    await asyncio.to_thread(backend.drain)
    assert tick(ctx, backend).enqueued == {}  # queued within the hour

    # a day on, the refresh is due again; a week on, the reconciliation too
    ctx.clock.advance(timedelta(days=1))
    assert set(tick(ctx, backend).enqueued) == {"sync:rally", "advance"}
    await asyncio.to_thread(backend.drain)
    ctx.clock.advance(timedelta(days=7))
    assert set(tick(ctx, backend).enqueued) == {"sync:rally", "reconcile", "advance"}


async def test_a_failing_refresh_is_retried_hourly_not_every_tick(
    ctx: JobContext, rally: Rally
) -> None:
    rally.sandbox.org.api_key = "revoked"
    backend = EmbeddedBackend(ctx, workers=0)
    assert "sync:rally" in tick(ctx, backend).enqueued
    await asyncio.to_thread(backend.drain)
    due = next_refresh(ctx)
    assert due == ctx.clock.now()  # a failed sync does not move the refresh on
    ctx.clock.advance(timedelta(minutes=30))
    assert "sync:rally" not in tick(ctx, backend).enqueued
    ctx.clock.advance(timedelta(minutes=31))
    assert "sync:rally" in tick(ctx, backend).enqueued


def test_an_empty_store_gets_only_the_workflow_step(ctx: JobContext) -> None:
    assert set(tick(ctx, EmbeddedBackend(ctx, workers=0)).enqueued) == {"advance"}


async def test_a_draft_profile_is_never_queued(ctx: JobContext, rally: Rally) -> None:
    data = ProfileCreate(
        kind="rally", name="draft", url=rally.sandbox.url, secrets={"api_key": "k"}
    )
    with ctx.db.transaction() as session:
        profiles.create_profile(session, ctx.keys, ctx.clock, data)
    enqueued = tick(ctx, EmbeddedBackend(ctx, workers=0)).enqueued
    assert "sync:rally" in enqueued and "sync:draft" not in enqueued
