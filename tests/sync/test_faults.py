"""The sync against the sandbox fault catalogue, through the real pipeline and real HTTP.

A 429 (with or without ``Retry-After``) is waited out and the result is right; a broken body,
a short page or a total that moves mid-download ends in a clean failure that changes nothing.
Each faulty sandbox serves the same organisation as the first sync's, changed in ways a partial
download would wrongly apply (50 users disabled, 30 removed).
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shelfware.models import (
    IntegrationProfile,
    RunStatus,
    StagedAccount,
    Subscription,
    SyncRun,
)
from shelfware.sync.service import SyncError, sync_profile
from tests.conftest import NOW
from tests.helpers import idle_expected, is_admin, last_run, published_rally, snapshot

pytestmark = pytest.mark.store

USERS = 1000
SEED = 5
PAGE_SIZE = "200"  # 5 pages


async def first_sync(db, keys, clock, rally_factory):  # type: ignore[no-untyped-def]
    good = rally_factory(users=USERS, seed=SEED)
    await published_rally(
        db, keys, clock, good.url, good.org.api_key, options={"page_size": PAGE_SIZE}
    )
    await sync_profile(db, keys, clock, "rally")


def faulty(db, rally_factory, faults: str):  # type: ignore[no-untyped-def]
    """The same organisation, changed, behind a faulty sandbox the profile now points at."""
    sandbox = rally_factory(users=USERS, seed=SEED, faults=faults)
    org = sandbox.org
    for user in org.users[1:51]:
        user.disabled = True
    org.users[:] = [u for i, u in enumerate(org.users) if not 100 <= i < 130]
    sandbox.state.reload_users()
    with db.transaction() as s:
        s.scalars(select(IntegrationProfile)).one().url = sandbox.url
    return sandbox


def held(db) -> set[str]:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return set(
            s.scalars(
                select(Subscription.external_id).where(
                    Subscription.active.is_(True), Subscription.gone_at.is_(None)
                )
            )
        )


def candidates(db) -> set[str]:  # type: ignore[no-untyped-def]
    from shelfware.reclamation.service import list_candidates

    with db.sessions() as s:
        return {c["external_id"] for c in list_candidates(s, state="ready")}


def assert_right(db, org) -> None:  # type: ignore[no-untyped-def]
    """The store matches the organisation the sandbox serves."""
    enabled = {str(u.object_id) for u in org.users if not u.disabled}
    assert held(db) == enabled
    expected = {
        str(u.object_id)
        for u in org.users
        if not u.disabled and not is_admin(u) and idle_expected(u, NOW)
    }
    assert expected and candidates(db) == expected


@pytest.mark.parametrize(
    ("faults", "wait", "at_least"),
    [
        ("rate_limit_page=2,rate_limit_times=2,retry_after=0.4", 0.4, 0.8),
        ("rate_limit_page=1,retry_after=0.3", 0.3, 0.3),
        ("rate_limit_page=4,rate_limit_times=2,retry_after=none", 0.0, 0.0),
        ("rate_limit_rate=0.3,retry_after=0.1,seed=3", 0.1, 0.1),
    ],
    ids=["retry-after-page-2", "retry-after-page-1", "no-retry-after", "random-429s"],
)
async def test_429_is_waited_out_and_the_result_is_right(
    db, keys, clock, rally_factory, faults, wait, at_least
):
    await first_sync(db, keys, clock, rally_factory)
    sandbox = faulty(db, rally_factory, faults)
    clock.advance(timedelta(hours=1))
    began = time.monotonic()
    summary = await sync_profile(db, keys, clock, "rally")
    elapsed = time.monotonic() - began

    log = sandbox.state.fault_log
    limited = log.counts["rate_limit"]
    assert limited >= 1
    assert summary.retries >= limited
    assert elapsed >= at_least
    for event in (e for e in log.events if e.page is not None):
        # each retry of a page came no sooner than Retry-After asked
        retry = next(at for page, at in log.page_requests if page == event.page and at > event.at)
        assert retry - event.at >= wait - 0.02, (event, retry)
    assert (summary.gone, summary.accounts) == (30, USERS - 30)
    assert_right(db, sandbox.org)
    assert last_run(db).status == RunStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("faults", "page", "cause"),
    [
        ("truncate_page=3", 3, r"not JSON|invalid JSON"),
        ("bad_json_page=2", 2, r"not JSON|invalid JSON"),
        ("truncate_page=1", 1, r"not JSON|invalid JSON"),
        ("short_page=3", 3, r"held 199 users|short|expected"),
        ("short_page=5", 5, r"held 169 users|short|expected"),
        ("total_change_page=3", 3, r"changed|count|total"),
        ("total_change_page=2,total_delta=-1", 2, r"changed|count|total"),
        ("total_change_page=1", None, r"held|expected|changed|count|total"),
    ],
    ids=[
        "truncated-page-3",
        "invalid-json-page-2",
        "truncated-first-page",
        "short-page-3",
        "short-last-page",
        "total-up-from-page-3",
        "total-down-from-page-2",
        "total-up-from-page-1",
    ],
)
async def test_broken_download_fails_cleanly_and_changes_nothing(
    db, keys, clock, rally_factory, faults, page, cause
):
    await first_sync(db, keys, clock, rally_factory)
    before = snapshot(db)
    assert before["subscriptions"] and before["candidates"] and before["watermarks"][0][1]
    sandbox = faulty(db, rally_factory, faults)
    clock.advance(timedelta(hours=1))

    with pytest.raises(SyncError) as failure:
        await sync_profile(db, keys, clock, "rally")

    assert sandbox.state.fault_log.events  # the fault really was served
    assert "nothing was changed" in str(failure.value)
    assert snapshot(db) == before
    run = last_run(db)
    assert run.status == RunStatus.FAILED and run.finished_at is not None
    error = run.error or ""
    assert re.search(cause, error), error
    if page is not None:
        assert re.search(rf"\bpage {page}\b", error), error
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(StagedAccount)) == 0
        assert s.scalar(select(func.count()).where(SyncRun.status == RunStatus.RUNNING)) == 0


async def test_a_clean_sync_after_a_failed_one_applies_everything(db, keys, clock, rally_factory):
    await first_sync(db, keys, clock, rally_factory)
    faulty(db, rally_factory, "short_page=2")
    clock.advance(timedelta(hours=1))
    with pytest.raises(SyncError):
        await sync_profile(db, keys, clock, "rally")
    healed = faulty(db, rally_factory, "")
    clock.advance(timedelta(hours=1))
    summary = await sync_profile(db, keys, clock, "rally")
    assert summary.gone == 30
    assert_right(db, healed.org)
