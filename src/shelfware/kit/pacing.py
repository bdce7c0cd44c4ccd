"""Rate-limit pacing: send requests no faster than the server allows, so that a 429 the client
could have avoided never happens.

A `Pacer` is asked before every request (`acquire`, which may wait) and told after it
(`release`, with the response or None on a transport error). Three pacers:

- `HeaderBudget`: budgets the server announces in `X-Rate-Limit-Limit / -Remaining / -Reset`
  headers (Okta). Requests still in flight when a response arrives are assumed not yet counted
  by the server, so the local estimate never overshoots; once the budget is spent, new requests
  wait until the announced reset (plus a margin for clock skew).
- `RequestQuota`: a documented quota of N requests per period (Asana: 150 or 1500 a minute),
  kept as a sliding window over *completion* times. A request completes after the server saw it,
  so no window the server may count ever holds more than N requests.
- `PacerByKey`: one pacer per endpoint family, for servers with per-endpoint budgets.
- `SharedHeaderBudget`: a `HeaderBudget` whose window outlives its client (validation, then sync).

Waits longer than `max_wait` fail with `BudgetExhausted` instead of stalling a run.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

DEFAULT_MAX_WAIT = 120.0
RESET_MARGIN = 1.0  # seconds past an announced reset before sending again (clock skew)


class BudgetExhausted(Exception):
    """The server's budget would make us wait longer than allowed."""


class Pacer(Protocol):
    async def acquire(self, method: str, url: str) -> float:
        """Wait until a request may be sent; returns the seconds waited."""
        ...

    def release(self, method: str, url: str, response: httpx.Response | None) -> None:
        """The request finished (response None: it failed in transport)."""
        ...


def _header_number(headers: httpx.Headers, name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return float(raw.strip())
    except ValueError:
        return None


class HeaderBudget:
    """Budgets announced in `X-Rate-Limit-*` headers (the reset is epoch seconds)."""

    def __init__(
        self,
        *,
        limit_header: str = "X-Rate-Limit-Limit",
        remaining_header: str = "X-Rate-Limit-Remaining",
        reset_header: str = "X-Rate-Limit-Reset",
        margin: float = RESET_MARGIN,
        max_wait: float = DEFAULT_MAX_WAIT,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.limit_header = limit_header
        self.remaining_header = remaining_header
        self.reset_header = reset_header
        self.margin = margin
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self.limit: float | None = None
        self.remaining: float | None = None  # our estimate for the current window
        self.reset: float | None = None
        self.in_flight = 0

    async def acquire(self, method: str, url: str) -> float:
        waited = 0.0
        async with self._lock:
            while True:
                now = self._clock()
                if self.remaining is None:
                    break  # nothing announced yet
                if self.reset is not None and now >= self.reset + self.margin:
                    # a new window: its budget is the announced limit, if we know it
                    self.remaining = self.limit
                    self.reset = None
                    continue
                if self.remaining >= 1 or self.reset is None:
                    break
                delay = self.reset + self.margin - now
                if delay > self.max_wait:
                    raise BudgetExhausted(
                        f"rate limit exhausted for {_where(url)}; the reset is {delay:.0f}s "
                        f"away, more than the {self.max_wait:.0f}s cap"
                    )
                await self._sleep(delay)
                waited += delay
            if self.remaining is not None:
                self.remaining -= 1
            self.in_flight += 1
        return waited

    def release(self, method: str, url: str, response: httpx.Response | None) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        if response is None:
            return
        headers = response.headers
        remaining = _header_number(headers, self.remaining_header)
        reset = _header_number(headers, self.reset_header)
        limit = _header_number(headers, self.limit_header)
        if limit is not None:
            self.limit = limit
        if response.status_code == 429 and reset is not None:
            remaining = 0.0
        if remaining is None or reset is None:
            return
        observed = remaining - self.in_flight  # in-flight requests may not be counted yet
        if self.reset is None or reset > self.reset or self.remaining is None:
            self.remaining, self.reset = observed, reset  # a newer window
        elif reset == self.reset:
            self.remaining = min(self.remaining, observed)


_windows: dict[str, tuple[float | None, float | None, float | None]] = {}


class SharedHeaderBudget(HeaderBudget):
    """A `HeaderBudget` whose last announced window (limit, remaining, reset) is remembered in
    this process under `key` (e.g. a host, an endpoint family and a hashed credential): the
    next client of the same budget (a sync right after a validation) starts from what the
    server said last, instead of from nothing, and cannot spend a budget already used up."""

    def __init__(self, key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key = key
        with _histories_lock:
            saved = _windows.get(key)
        if saved is not None:
            self.limit, self.remaining, self.reset = saved

    def release(self, method: str, url: str, response: httpx.Response | None) -> None:
        super().release(method, url, response)
        with _histories_lock:
            _windows[self.key] = (self.limit, self.remaining, self.reset)


_histories: dict[str, deque[float]] = {}
_histories_lock = threading.Lock()


def shared_history(key: str) -> deque[float]:
    """The completion times of every request made in this process under `key` (e.g. a host
    and a hashed credential): a validation and the sync after it share one quota."""
    with _histories_lock:
        return _histories.setdefault(key, deque())


class RequestQuota:
    """At most `limit` requests per `period` seconds, as a sliding window of completions.

    Give several quotas the same `history` (`shared_history`) when they spend one budget."""

    def __init__(
        self,
        limit: int,
        period: float = 60.0,
        *,
        history: deque[float] | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("a request quota needs limit >= 1 and period > 0")
        self.limit = limit
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._done: deque[float] = history if history is not None else deque()
        self.in_flight = 0

    async def acquire(self, method: str, url: str) -> float:
        waited = 0.0
        async with self._lock:
            while True:
                now = self._clock()
                while self._done and self._done[0] <= now - self.period:
                    self._done.popleft()
                if len(self._done) + self.in_flight < self.limit:
                    break
                # the oldest completion leaves the window; or, all in flight, poll for one
                delay = self._done[0] + self.period - now if self._done else 0.01
                await self._sleep(max(delay, 0.001))
                waited += max(delay, 0.001)
            self.in_flight += 1
        return waited

    def release(self, method: str, url: str, response: httpx.Response | None) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        self._done.append(self._clock())


class PacerByKey:
    """A separate pacer per endpoint family (servers with per-endpoint budgets).

    `key_of(path)` names the family of a request path; each family gets its own pacer from
    `factory` (or `factory_for(family)`, for pacers that need the name, e.g. shared budgets),
    created on first use.
    """

    def __init__(
        self,
        key_of: Callable[[str], str],
        factory: Callable[[], Pacer] | None = None,
        *,
        factory_for: Callable[[str], Pacer] | None = None,
    ) -> None:
        if (factory is None) == (factory_for is None):
            raise ValueError("PacerByKey needs exactly one of factory and factory_for")
        self._key_of = key_of
        self._factory = factory
        self._factory_for = factory_for
        self._pacers: dict[str, Pacer] = {}

    def pacer_for(self, url: str) -> Pacer:
        key = self._key_of(urlsplit(url).path)
        pacer = self._pacers.get(key)
        if pacer is None:
            if self._factory_for is not None:
                pacer = self._factory_for(key)
            else:
                assert self._factory is not None
                pacer = self._factory()
            self._pacers[key] = pacer
        return pacer

    async def acquire(self, method: str, url: str) -> float:
        return await self.pacer_for(url).acquire(method, url)

    def release(self, method: str, url: str, response: httpx.Response | None) -> None:
        self.pacer_for(url).release(method, url, response)


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}" if parts.netloc else parts.path or url
