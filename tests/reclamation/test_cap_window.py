"""The blast-radius cap is a rolling window per software model, counted in the database: one
seat at a time cannot get past it, two processes at once cannot both take the last room, it
holds whatever face asks (the CLI after the domain), and after the window has passed (an
injected clock) more may be reclaimed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from shelfware.kit.db import Database
from shelfware.models import ReclaimLedgerEntry, RemovalCandidate, Subscription
from shelfware.reclamation import service
from shelfware.reclamation.service import CapExceeded, reclaim_candidates, seats_held
from shelfware.sync.service import sync_profile
from tests.conftest import NOW
from tests.helpers import published_rally

pytestmark = pytest.mark.store


async def _ready(
    db: Database, keys: Any, clock: Any, rally_factory: Any
) -> tuple[Any, list[int], int]:
    sandbox = rally_factory(users=200, seed=5)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    await sync_profile(db, keys, clock, "rally")
    with db.sessions() as s:
        ready = list(s.scalars(select(RemovalCandidate).where(RemovalCandidate.state == "ready")))
        model = ready[0].software_model_id
        seats = seats_held(s, [model])[model]
    allowed = min(50, seats // 10)  # the defaults: 10% of the seats, 50 accounts, 24 h
    assert len(ready) > allowed + 2, "the sandbox has more idle seats than the cap allows"
    return sandbox, sorted(c.id for c in ready), allowed


def _disabled(sandbox: Any) -> int:
    return sum(1 for u in sandbox.org.users if u.disabled)


async def test_one_seat_at_a_time_stops_at_the_window_then_the_window_moves_on(  # type: ignore[no-untyped-def]
    db, keys, clock, rally_factory
):
    sandbox, ids, allowed = await _ready(db, keys, clock, rally_factory)
    already = _disabled(sandbox)
    for cand in ids[:allowed]:
        [outcome] = await reclaim_candidates(db, keys, clock, ids=[cand])
        assert outcome.action == "reclaimed", outcome
        clock.advance(timedelta(minutes=10))
    assert _disabled(sandbox) == already + allowed
    with pytest.raises(CapExceeded) as refused:
        await reclaim_candidates(db, keys, clock, ids=[ids[allowed]])
    message = str(refused.value)
    assert message.startswith("stopped before the first reclaim")
    assert f"{allowed} of the {allowed} allowed in the last 24 h already reclaimed" in message
    assert _disabled(sandbox) == already + allowed

    # another face, in another process: the CLI reads the same window from the database
    env = {
        **os.environ,
        "SHELFWARE_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
        "SHELFWARE_SECRET_KEYS": ",".join(k.decode() for k in keys.keys),
        "SHELFWARE_CLOCK": clock.now().isoformat(),
    }
    command = [sys.executable, "-m", "shelfware.cli.main", "candidates", "reclaim"]
    done = subprocess.run(
        [*command, str(ids[allowed])], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1 and "already reclaimed" in done.stderr, done
    assert _disabled(sandbox) == already + allowed

    # a dry run says what the real run would do
    with pytest.raises(CapExceeded, match="a real run would stop"):
        await reclaim_candidates(db, keys, clock, ids=[ids[allowed]], dry_run=True)

    # 24 hours after the first reclaim, the first one has left the window: one more fits
    clock.advance(NOW + timedelta(hours=24, seconds=1) - clock.now())
    [outcome] = await reclaim_candidates(db, keys, clock, ids=[ids[allowed]])
    assert outcome.action == "reclaimed"
    with pytest.raises(CapExceeded, match=f"{allowed} of the {allowed} allowed"):
        await reclaim_candidates(db, keys, clock, ids=[ids[allowed + 1]])
    assert _disabled(sandbox) == already + allowed + 1


async def test_a_candidate_not_touched_gives_its_room_back(db, keys, clock, rally_factory):  # type: ignore[no-untyped-def]
    """Reserved, then canceled on re-read (active again): not counted in the window."""
    sandbox, ids, _allowed = await _ready(db, keys, clock, rally_factory)
    with db.sessions() as s:
        sub = s.get_one(Subscription, s.get_one(RemovalCandidate, ids[0]).subscription_id)
    sandbox.org.by_id[int(sub.external_id)].last_login_date = NOW - timedelta(days=1)
    sandbox.state.reload_users()
    [outcome] = await reclaim_candidates(db, keys, clock, ids=[ids[0]])
    assert outcome.action == "canceled", outcome
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ReclaimLedgerEntry)) == 0


def test_two_processes_at_once_never_both_take_the_last_room(  # type: ignore[no-untyped-def]
    db, keys, clock, rally_factory, monkeypatch
):
    """Two workers, each with its own engine (its own connections, as two processes have),
    reclaim one seat at a time, interleaved, started together: together they reclaim exactly
    what the window allows. The check waits (up to 0.3 s, a real delay, nothing replaced)
    for the other worker to be checking too: without the per-model serialisation both count
    the same room on every call and both take the last seat; with it the other worker cannot
    get there until the first has reserved (and the wait times out)."""
    import asyncio

    sandbox, ids, allowed = asyncio.run(_ready(db, keys, clock, rally_factory))
    # one seat first, so that the pairs of calls meet at the last room (allowed - 1)
    assert allowed % 2 == 0
    [first] = asyncio.run(reclaim_candidates(db, keys, clock, ids=[ids.pop(0)]))
    assert first.action == "reclaimed"
    counted = service.seats_held
    meeting = threading.Barrier(2, timeout=0.3)

    def meeting_seats_held(*args: Any) -> dict[int, int]:
        held = counted(*args)
        try:
            meeting.wait()  # both checking at once, unless the other cannot get here
        except threading.BrokenBarrierError:
            meeting.reset()
        return held

    monkeypatch.setattr(service, "seats_held", meeting_seats_held)
    already = _disabled(sandbox)
    url = db.engine.url.render_as_string(hide_password=False)
    halves = [ids[0::2], ids[1::2]]
    start = threading.Barrier(2)
    results: list[list[str]] = [[], []]

    def worker(n: int) -> None:
        own = Database.from_url(url)
        try:
            start.wait()
            for cand in halves[n]:
                try:
                    [outcome] = asyncio.run(reclaim_candidates(own, keys, clock, ids=[cand]))
                    results[n].append(outcome.action)
                except CapExceeded:
                    results[n].append("over_cap")
        finally:
            own.dispose()

    threads = [threading.Thread(target=worker, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    done = results[0] + results[1]
    assert len(done) == len(ids), results
    assert done.count("reclaimed") == allowed - 1, results
    assert done.count("over_cap") == len(ids) - (allowed - 1), results
    assert _disabled(sandbox) == already + allowed - 1
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ReclaimLedgerEntry)) == allowed


async def test_advance_reclaims_within_the_cap_and_stops_before_the_first_over_it(
    world: Any,
) -> None:
    """The workflow's step calls the same reclaim: over the cap (here one account per model
    in the window) it stops before the first reclaim; within it, it reclaims."""
    from shelfware.notifications.service import Notifier
    from shelfware.reclamation import rules, workflow
    from shelfware.reclamation.schemas import RuleChange
    from tests.reclamation.conftest import MODEL

    with world.db.transaction() as s:
        rules.set_rule(s, world.clock, RuleChange(model=MODEL, notify=False, auto_reclaim_days=7))
    ready = world.candidates("ready")
    assert len(ready) > 1
    world.clock.advance(timedelta(days=8))
    one = Notifier(
        world.notifier.settings.model_copy(
            update={"auto_reclaim_unnotified": True, "reclaim_max_accounts": 1}
        )
    )
    with pytest.raises(CapExceeded, match="0 of the 1 allowed in the last 24 h"):
        await workflow.advance(world.db, world.keys, world.clock, one)
    assert not any(world.user(c).disabled for c in ready)
    assert len(world.candidates("ready")) == len(ready)

    roomy = Notifier(
        one.settings.model_copy(
            update={"reclaim_max_accounts": len(ready), "reclaim_max_percent": 100}
        )
    )
    report = await workflow.advance(world.db, world.keys, world.clock, roomy)
    assert sorted(report.due) == sorted(c["id"] for c in ready)
    assert all(world.user(c).disabled for c in ready)


async def test_reclaims_older_than_the_window_and_the_keep_span_are_pruned(  # type: ignore[no-untyped-def]
    db, keys, clock, rally_factory
):
    """The tick's housekeeping deletes ledger entries no cap can count again: older than both
    the window and the jobs' keep span (whichever is longer), never younger ones."""
    _sandbox, ids, _allowed = await _ready(db, keys, clock, rally_factory)
    outcomes = await reclaim_candidates(db, keys, clock, ids=ids[:2])
    assert [o.action for o in outcomes] == ["reclaimed", "reclaimed"]
    day = timedelta(days=1)
    limits = service.Limits(10.0, 50, window=day)
    keep = 30 * day
    with db.transaction() as s:  # 30 days on: at the edge, kept
        assert service.prune_ledger(s, clock.now() + keep, limits, keep) == 0
    long_window = service.Limits(10.0, 50, window=60 * day)
    with db.transaction() as s:  # a window longer than the keep span wins
        assert service.prune_ledger(s, clock.now() + 31 * day, long_window, keep) == 0
    with db.transaction() as s:
        assert service.prune_ledger(s, clock.now() + 31 * day, limits, keep) == 2
        assert s.scalar(select(func.count()).select_from(ReclaimLedgerEntry)) == 0
