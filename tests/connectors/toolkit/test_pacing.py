"""Rate-limit pacing against real rate-limited endpoints: budgets announced in headers and
per-period quotas are kept without a single avoidable 429; 429s with and without Retry-After
are waited out."""

from __future__ import annotations

import asyncio
import time

from shelfware.connectors.toolkit import HeaderBudget, PacerByKey, RequestQuota, send
from shelfware.kit.http import HttpPolicy
from shelfware.kit.pacing import SharedHeaderBudget, shared_history

from .conftest import Lab


async def test_header_budget_never_runs_into_a_429(lab: Lab) -> None:
    lab.state.budget_limit, lab.state.budget_window = 5, 1.0
    http = lab.client(pacer=HeaderBudget(margin=0.05), policy=HttpPolicy(max_concurrency=3))
    started = time.monotonic()
    try:
        await asyncio.gather(*(send(http, "GET", "/budget") for _ in range(16)))
    finally:
        await http.aclose()
    assert lab.state.budget_429s == 0
    assert http.stats.retries == 0
    assert 2.0 <= time.monotonic() - started < 6.0  # 16 requests at 5 a second: 3+ windows
    assert http.stats.waited_seconds > 1.0  # the wait is reported


async def test_without_pacing_the_same_load_meets_429s_and_waits_until_reset(lab: Lab) -> None:
    lab.state.budget_limit, lab.state.budget_window = 5, 1.0
    http = lab.client(policy=HttpPolicy(max_concurrency=3, honour_rate_limit_headers=True))
    http.pacer = None  # no pacing: only the 429's X-Rate-Limit-Reset tells when to come back
    try:
        await asyncio.gather(*(send(http, "GET", "/budget") for _ in range(8)))
    finally:
        await http.aclose()
    assert lab.state.budget_429s >= 1  # what pacing avoids
    assert http.stats.retries >= 1  # 429 without Retry-After: waited until the reset, retried


async def test_request_quota_keeps_a_sliding_window_and_uses_it_well(lab: Lab) -> None:
    lab.state.quota_limit, lab.state.quota_period = 10, 1.0
    http = lab.client(pacer=RequestQuota(10, 1.0), policy=HttpPolicy(max_concurrency=4))
    started = time.monotonic()
    try:
        await asyncio.gather(*(send(http, "GET", "/quota") for _ in range(35)))
    finally:
        await http.aclose()
    elapsed = time.monotonic() - started
    assert lab.state.quota_429s == 0
    # 35 requests at 10 per second need 3 full periods and a bit; at or above 90% of the rate
    assert 2.9 <= elapsed <= 3.0 / 0.9 + 0.5


async def test_a_429_with_retry_after_is_waited_out(lab: Lab) -> None:
    lab.state.quota_limit, lab.state.quota_period = 3, 1.0
    http = lab.client(policy=HttpPolicy(max_concurrency=1, max_retries=3))
    try:
        for _ in range(4):  # the 4th is refused with Retry-After: 1, then succeeds
            await send(http, "GET", "/quota")
    finally:
        await http.aclose()
    assert lab.state.quota_429s == 1 and http.stats.retries == 1
    assert http.stats.waited_seconds >= 0.9


async def test_pacer_by_key_keeps_one_budget_per_endpoint_family() -> None:
    made: list[RequestQuota] = []

    def factory() -> RequestQuota:
        made.append(RequestQuota(2, 60.0))
        return made[-1]

    pacer = PacerByKey(lambda p: "logs" if p.startswith("/api/v1/logs") else "other", factory)
    await pacer.acquire("GET", "https://x.example.com/api/v1/logs?since=1")
    await pacer.acquire("GET", "https://x.example.com/api/v1/users")
    await pacer.acquire("GET", "https://x.example.com/api/v1/apps/0oa1/users")
    assert len(made) == 2
    assert made[0].in_flight == 1 and made[1].in_flight == 2


async def test_quotas_sharing_a_history_spend_one_budget() -> None:
    """A validation and the sync after it use one token's quota: the second connector must
    count what the first one spent."""
    now = [100.0]
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    history = shared_history("test|host|token-hash")
    first = RequestQuota(3, 60.0, history=history, clock=lambda: now[0], sleep=fake_sleep)
    for _ in range(3):
        await first.acquire("GET", "/x")
        first.release("GET", "/x", None)
    second = RequestQuota(3, 60.0, history=history, clock=lambda: now[0], sleep=fake_sleep)
    await second.acquire("GET", "/x")  # the window is full: it waits for the oldest to age out
    assert waits == [60.0]
    alone = RequestQuota(3, 60.0, clock=lambda: now[0], sleep=fake_sleep)
    await alone.acquire("GET", "/x")
    assert waits == [60.0]  # its own history is empty: no wait


async def test_a_shared_header_budget_outlives_its_client(lab: Lab) -> None:
    """A validation spends the budget; the sync's new client must not start from nothing."""
    lab.state.budget_limit, lab.state.budget_window = 3, 1.0
    key = f"test|{lab.url}|shared"
    first = lab.client(pacer=SharedHeaderBudget(key, margin=0.05))
    try:
        for _ in range(3):
            await send(first, "GET", "/budget")
    finally:
        await first.aclose()
    second = lab.client(pacer=SharedHeaderBudget(key, margin=0.05))
    try:
        await send(second, "GET", "/budget")  # the window is spent: it waits for the reset
    finally:
        await second.aclose()
    assert lab.state.budget_429s == 0 and second.stats.retries == 0
    assert second.stats.waited_seconds > 0
    fresh = HeaderBudget(margin=0.05)  # a budget of its own knows nothing: it would just send
    assert fresh.remaining is None


async def test_pacer_by_key_can_name_the_family_to_its_factory() -> None:
    made: dict[str, RequestQuota] = {}

    def factory_for(family: str) -> RequestQuota:
        made[family] = RequestQuota(2, 60.0)
        return made[family]

    pacer = PacerByKey(lambda p: p.split("/")[3], factory_for=factory_for)
    await pacer.acquire("GET", "https://x.example.com/api/v1/logs")
    await pacer.acquire("GET", "https://x.example.com/api/v1/users")
    assert set(made) == {"logs", "users"}
