"""Reclaim safety: the blast-radius cap stops a run before its first reclaim, and a process
killed (SIGKILL) in the middle of a reclaim batch, run again, reclaims every remaining account
exactly once (requests counted at the Rally sandbox)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from shelfware.accounts.roles import Role
from shelfware.models import AuditEvent, ReclaimLedgerEntry, RemovalCandidate
from shelfware.reclamation.service import (
    CapExceeded,
    ForceNotAllowed,
    Override,
    reclaim_candidates,
    seats_held,
)
from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.faults import parse_faults
from shelfware.sandbox.server import serve_in_thread
from shelfware.sync.service import sync_profile
from tests.conftest import NOW
from tests.helpers import published_rally

pytestmark = pytest.mark.store
USER_WRITE = re.compile(r"/user/(\d+)$")


class CountWrites:
    """ASGI wrapper counting the reclaim calls (POST /user/{oid}) the sandbox carried out, per
    user. A request whose client was killed before the sandbox read it never takes effect
    (the sandbox sees the disconnect) and is not counted."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.writes: Counter[int] = Counter()
        self.arrived = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        match = USER_WRITE.search(scope.get("path", ""))
        if scope["type"] != "http" or scope["method"] != "POST" or not match:
            await self.app(scope, receive, send)
            return
        self.arrived += 1

        async def counted(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] < 300:
                self.writes[int(match.group(1))] += 1
            await send(message)

        await self.app(scope, receive, counted)


@pytest.fixture
def counted_rally() -> Iterator[tuple[Any, Any, str]]:
    app, org = SANDBOXES["rally"](200, 5, NOW, 60, parse_faults(""))
    counter = CountWrites(app)
    with serve_in_thread(counter) as server:
        yield counter, org, f"{server.url}/slm/webservice"


async def _ready(db, keys, clock, url: str, api_key: str) -> list[RemovalCandidate]:  # type: ignore[no-untyped-def]
    await published_rally(db, keys, clock, url, api_key)
    await sync_profile(db, keys, clock, "rally")
    with db.sessions() as s:
        return list(s.scalars(select(RemovalCandidate).where(RemovalCandidate.state == "ready")))


def _cli(db, keys, *args: str) -> list[str]:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "SHELFWARE_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
        "SHELFWARE_SECRET_KEYS": ",".join(k.decode() for k in keys.keys),
        "SHELFWARE_CLOCK": NOW.isoformat(),
    }
    return [sys.executable, "-m", "shelfware.cli.main", *args], env  # type: ignore[return-value]


async def test_a_run_over_the_cap_stops_before_the_first_reclaim(db, keys, clock, counted_rally):  # type: ignore[no-untyped-def]
    counter, org, url = counted_rally
    ready = await _ready(db, keys, clock, url, org.api_key)
    assert len(ready) > 0.1 * len(org.users)  # more than 10% of the seats are idle
    with db.sessions() as s:
        seats = seats_held(s, [ready[0].software_model_id])[ready[0].software_model_id]
    allowed = min(50, seats // 10)

    # no argument to forget: the cap is the configuration's, always
    with pytest.raises(CapExceeded, match="stopped before the first reclaim") as refused:
        await reclaim_candidates(db, keys, clock, all_ready=True)
    assert f"0 of the {allowed} allowed in the last 24 h already reclaimed" in str(refused.value)
    with pytest.raises(CapExceeded, match="reason"):
        await reclaim_candidates(db, keys, clock, all_ready=True, override=ADMIN_NO_REASON)
    with pytest.raises(ForceNotAllowed, match="only an admin"):
        await reclaim_candidates(db, keys, clock, all_ready=True, override=MANAGER_FORCE)
    assert sum(counter.writes.values()) == 0
    with db.sessions() as s:
        assert {c.state for c in s.scalars(select(RemovalCandidate))} == {"ready"}
        assert s.scalar(select(func.count()).where(AuditEvent.action == "reclaim.forced")) == 0
        assert s.scalar(select(func.count()).select_from(ReclaimLedgerEntry)) == 0

    # The CLI says why, in one line, and changes nothing either.
    command, env = _cli(db, keys, "candidates", "reclaim", "--all-ready")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: stopped before the first reclaim: this run would reclaim")
    assert "--force --reason" in line

    # A dry run says a real run would stop; forced by an admin it shows what would happen,
    # and still sends nothing.
    with pytest.raises(CapExceeded, match="a real run would stop before the first reclaim"):
        await reclaim_candidates(db, keys, clock, all_ready=True, dry_run=True)
    shown = await reclaim_candidates(
        db,
        keys,
        clock,
        all_ready=True,
        dry_run=True,
        override=Override("look", "cli:test", Role.ADMIN),
    )
    assert {o.action for o in shown} <= {"would_reclaim", "would_cancel", "already_gone"}
    assert len(shown) == len(ready) and sum(counter.writes.values()) == 0

    # Within the cap: fine, and nothing is recorded as forced.
    few = sorted(c.id for c in ready)[:2]
    outcomes = await reclaim_candidates(db, keys, clock, ids=few)
    assert [o.action for o in outcomes] == ["reclaimed", "reclaimed"]
    assert sum(counter.writes.values()) == 2
    # ... and the window remembers them
    rest = sorted(c.id for c in ready)[2 : allowed + 1]
    with pytest.raises(CapExceeded, match=f"2 of the {allowed} allowed in the last 24 h"):
        await reclaim_candidates(db, keys, clock, ids=rest)


ADMIN_NO_REASON = Override(" ", "token:admin", Role.ADMIN)
MANAGER_FORCE = Override("offboarding", "token:manager", Role.SAM_MANAGER)


async def test_forcing_records_the_reason(db, keys, clock, counted_rally):  # type: ignore[no-untyped-def]
    counter, org, url = counted_rally
    ready = await _ready(db, keys, clock, url, org.api_key)
    outcomes = await reclaim_candidates(
        db,
        keys,
        clock,
        all_ready=True,
        override=Override("licence audit cleanup", "web:alice", Role.ADMIN),
    )
    assert len(outcomes) == len(ready)
    reclaimed = sum(o.action == "reclaimed" for o in outcomes)
    assert reclaimed > 0 and sum(counter.writes.values()) == reclaimed
    with db.sessions() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "reclaim.forced"))
        forced = s.scalar(select(func.count()).where(ReclaimLedgerEntry.forced.is_(True)))
    assert event.actor == "web:alice"
    assert event.detail["reason"] == "licence audit cleanup"
    assert "already reclaimed" in event.detail["over_cap"]
    assert sorted(event.detail["candidates"]) == sorted(c.id for c in ready)
    assert forced == reclaimed  # the ledger counts what was forced, too


async def test_killed_mid_batch_then_rerun_reclaims_each_remaining_account_once(  # type: ignore[no-untyped-def]
    db, keys, clock, counted_rally
):
    counter, org, url = counted_rally
    ready = await _ready(db, keys, clock, url, org.api_key)
    with db.sessions() as s:
        from shelfware.models import Subscription

        targets = {int(s.get_one(Subscription, c.subscription_id).external_id): c.id for c in ready}
    command, env = _cli(
        db, keys, "candidates", "reclaim", "--all-ready", "--force", "--reason", "crash test"
    )
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while sum(counter.writes.values()) < 5:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the reclaim never started"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    time.sleep(0.3)  # requests the killed process had sent finish at the sandbox

    sent_before = sum(counter.writes.values())
    assert 5 <= sent_before < len(targets)  # killed in the middle of the batch
    with db.sessions() as s:
        states = Counter(
            ("in_flight" if c.reclaim_requested_at and not c.reclaimed_at else c.state)
            for c in s.scalars(select(RemovalCandidate))
        )
    assert states["in_flight"] >= 1 and states["ready"] >= 1, states

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr

    assert set(counter.writes) == set(targets)  # only the candidates' accounts were touched
    assert all(count == 1 for count in counter.writes.values()), {
        oid: n for oid, n in counter.writes.items() if n != 1
    }
    assert all(org.by_id[oid].disabled for oid in targets)
    with db.sessions() as s:
        final = list(s.scalars(select(RemovalCandidate)))
    assert {c.state for c in final} == {"awaiting_revocation"}
    assert all(c.reclaimed_at is not None for c in final)
