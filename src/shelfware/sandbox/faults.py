"""Fault injection for every sandbox: the ``--faults`` option.

Syntax: comma-separated ``key=value`` pairs, e.g. ``latency_ms=50,error_rate=0.05,seed=7``.

Request-level faults (any request of any sandbox, applied by `FaultMiddleware`):

- ``latency_ms=MS``: extra latency on every request;
- ``error_rate=R``: share of requests answered 500 (JSON) or 503 (HTML);
- ``timeout_rate=R``: share of requests that hang ``hang_s=S`` seconds (default 30), then 504;
- ``rate_limit_rate=R``: share of requests answered 429 (with ``Retry-After`` as below);
- ``truncate_rate=R``: share of requests whose 200 body is cut in half (valid HTTP, broken JSON);
- ``bad_json_rate=R``: share of requests whose 200 body is replaced by a non-JSON page
  (still labelled ``application/json``);
- ``retry_after=S``: the ``Retry-After`` seconds of every injected 429 (default 1; fractions
  are non-standard but keep tests fast), or ``retry_after=none`` for a 429 without the header.

Page-level faults, on the N-th (1-based) page of the account list; they need the sandbox's
`PageHooks` (which request is page N, how to drop a record, how to change the reported total):

- ``fail_page=N``: page N always answers 500;
- ``rate_limit_page=N``: page N answers 429 the first ``rate_limit_times=K`` times (default 1);
- ``truncate_page=N`` / ``bad_json_page=N``: page N always has a truncated / non-JSON body;
- ``short_page=N``: page N always lacks its last record (the reported total is unchanged);
- ``total_change_page=N``: page N and every later page report a total shifted by
  ``total_delta=D`` (default 1, may be negative): the list changed mid-download.

Vendor-specific faults, handled by the sandbox itself (Rally):

- ``envelope_error_page=N``: page N answers 200 with errors in the vendor's envelope;
- ``fail_reclaim=ID``: the reclaim call for that account answers 500;
- ``hostile=1``: the hostile-vendor fixture (sandbox/hostile.py): NUL, a 20,000-character
  name, Rich markup, Slack mrkdwn, escape sequences, CSV formulas, years 1500 and 9999, an
  email with CR/LF and a Bcc header, one with two addresses, a name with ``/ ? #``; each on an
  idle account of its own (``app.state.sandbox.hostile`` says which).

Vendor-shaped throttling, handled by the sandbox itself (Microsoft 365, Google):

- ``graph_ru=N``: Microsoft Graph's identity-service budget per app and tenant, N resource units
  per 10 seconds (Graph documents 3,500 / 5,000 / 8,000 for small / medium / large tenants); a
  request costs what Graph's table says (``GET /users`` 2, minus 1 with ``$select``; others 1);
  over the budget: 429 ``TooManyRequests`` in Graph's error shape, ``Retry-After`` the whole
  seconds until the budget has room;
- ``graph_throttle_rate=R``: share of Graph requests answered 429 ``TooManyRequests`` or 503
  ``serviceNotAvailable`` (alternately), ``Retry-After`` as ``retry_after`` above;
- ``google_qpm=N``: Google's per-user quota, N queries per minute per impersonated user (the
  Admin SDK documents 2,400); over it: 403 ``userRateLimitExceeded`` (no ``Retry-After``: Google
  asks for exponential backoff with jitter);
- ``google_quota_rate=R``: share of Google API requests answered 403 ``rateLimitExceeded``.

``seed=N`` picks the random draws. They come from a hash of (seed, request, how many times that
request was seen), so they are deterministic for a given seed whatever the interleaving of
concurrent requests, and a retried request gets a fresh draw.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, fields
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class FaultSpec:
    """Faults a sandbox injects; the defaults inject none."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    hang_s: float = 30.0
    rate_limit_rate: float = 0.0
    truncate_rate: float = 0.0
    bad_json_rate: float = 0.0
    retry_after: float | None = 1.0
    fail_page: int | None = None
    rate_limit_page: int | None = None
    rate_limit_times: int = 1
    truncate_page: int | None = None
    bad_json_page: int | None = None
    short_page: int | None = None
    total_change_page: int | None = None
    total_delta: int = 1
    envelope_error_page: int | None = None
    fail_reclaim: int | None = None
    # Roadmunk: answer roles as GraphQL enums (ACCOUNT_ADMIN, REVIEWER, ...): 1 on, 0 off
    enum_roles: int = 0
    hostile: int | None = None
    # vendor-shaped throttling (Microsoft 365 and Google sandboxes)
    graph_ru: int | None = None
    graph_throttle_rate: float = 0.0
    google_qpm: int | None = None
    google_quota_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if sum(getattr(self, k) for k in RATES) > 1:
            raise ValueError(f"fault rates add up to more than 1 ({', '.join(sorted(RATES))})")

    def set_keys(self) -> set[str]:
        """The keys that differ from the defaults."""
        default = FaultSpec()
        return {f.name for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)}


RATES = frozenset(
    {"error_rate", "timeout_rate", "rate_limit_rate", "truncate_rate", "bad_json_rate"}
)
_POSITIVE_INTS = frozenset(
    {
        "fail_page",
        "rate_limit_page",
        "rate_limit_times",
        "truncate_page",
        "bad_json_page",
        "short_page",
        "total_change_page",
        "envelope_error_page",
        "fail_reclaim",
        "hostile",
        "graph_ru",
        "google_qpm",
    }
)
# Shares a vendor sandbox draws itself (not added to the kit's RATES, which must sum to <= 1).
VENDOR_RATES = frozenset({"graph_throttle_rate", "google_quota_rate"})
_FLAGS = frozenset({"enum_roles"})  # 0 or 1
_INTS = _POSITIVE_INTS | _FLAGS | {"seed", "total_delta"}
_SECONDS = frozenset({"latency_ms", "hang_s", "retry_after"})
PAGE_KEYS = frozenset(
    {"fail_page", "rate_limit_page", "truncate_page", "bad_json_page", "short_page"}
    | {"total_change_page"}
)
# Keys FaultMiddleware handles itself; any other key set in a spec is the sandbox's to handle.
KIT_KEYS = RATES | _SECONDS | PAGE_KEYS | {"rate_limit_times", "total_delta", "seed"}


def _convert(key: str, value: str) -> float | int | None:
    if key == "retry_after" and value.lower() == "none":
        return None
    try:
        number: float | int = int(value) if key in _INTS else float(value)
    except ValueError:
        raise ValueError(f"fault {key!r}: bad value {value!r}") from None
    bad = (
        (key in RATES | VENDOR_RATES and not 0 <= number <= 1)
        or (key in _POSITIVE_INTS and number < 1)
        or (key == "total_delta" and number == 0)
        or (key in _FLAGS and number not in (0, 1))
        or (key in _SECONDS and not 0 <= number < float("inf"))
    )
    if bad:
        raise ValueError(f"fault {key!r}: value {value!r} out of range")
    return number


def parse_faults(text: str) -> FaultSpec:
    """Parse a ``--faults`` spec; unknown keys or bad values raise ValueError."""
    known = {f.name for f in fields(FaultSpec)}
    values: dict[str, float | int | None] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value:
            raise ValueError(f"fault {part!r}: expected key=value")
        if key not in known:
            raise ValueError(f"unknown fault {key!r} (known: {', '.join(sorted(known))})")
        values[key] = _convert(key, value)
    return FaultSpec(**values)  # type: ignore[arg-type]


class FaultDice:
    """Deterministic per-request draws for the random faults of a spec."""

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self._seen: Counter[str] = Counter()

    def draw(self, request_key: str) -> tuple[float, float]:
        """Two uniform numbers in [0, 1) for this occurrence of ``request_key``."""
        n = self._seen[request_key]
        self._seen[request_key] = n + 1
        digest = hashlib.blake2b(
            f"{self.spec.seed}\0{request_key}\0{n}".encode(), digest_size=16
        ).digest()
        return (
            int.from_bytes(digest[:8], "big") / 2**64,
            int.from_bytes(digest[8:], "big") / 2**64,
        )

    def roll(self, request_key: str) -> str | None:
        """The random fault for one request: ``"timeout"``, ``"error"``, ``"rate_limit"``,
        ``"truncate"``, ``"bad_json"`` or None."""
        spec = self.spec
        kinds = (
            ("timeout", spec.timeout_rate),
            ("error", spec.error_rate),
            ("rate_limit", spec.rate_limit_rate),
            ("truncate", spec.truncate_rate),
            ("bad_json", spec.bad_json_rate),
        )
        if not any(rate for _, rate in kinds):
            return None
        a, _ = self.draw(request_key)
        bound = 0.0
        for kind, rate in kinds:
            bound += rate
            if a < bound:
                return kind
        return None

    def flavour(self, request_key: str) -> bool:
        """Whether an injected error is a 503 with an HTML body (else a 500 with JSON)."""
        return self.draw(request_key + "\0flavour")[0] < 0.5


@dataclass(frozen=True)
class PageHooks:
    """What a sandbox tells the kit about its account list, for the page-level faults.

    ``page_number`` gets the request (its body unread) and answers which 1-based page of the
    account list it reads, or None for any other request. ``drop_last_record`` and
    ``change_total`` edit a decoded 200 body of such a page in place; ``change_total`` is None
    when the API reports no total (then ``total_change_page`` is refused).
    """

    page_number: Callable[[Request], int | None]
    drop_last_record: Callable[[Any], None]
    change_total: Callable[[Any, int], None] | None = None


@dataclass
class FaultEvent:
    kind: str
    request: str  # "METHOD /path?query"
    page: int | None
    at: float  # time.monotonic()


@dataclass
class FaultLog:
    """What was injected, for tests: counts by kind and every event in order; and when each
    request for a page arrived (faulty or not), to see how long a client waited to retry."""

    counts: Counter[str] = field(default_factory=Counter)
    events: list[FaultEvent] = field(default_factory=list)
    page_requests: list[tuple[int, float]] = field(default_factory=list)  # (page, monotonic)

    def add(self, kind: str, request: str, page: int | None) -> None:
        self.counts[kind] += 1
        self.events.append(FaultEvent(kind, request, page, time.monotonic()))


def check_supported(
    spec: FaultSpec, sandbox: str, hooks: PageHooks | None, own: Collection[str] = ()
) -> None:
    """Refuse a spec that sets a fault this sandbox cannot inject (one clear error)."""
    for key in sorted(spec.set_keys()):
        if key in PAGE_KEYS and hooks is None:
            raise ValueError(f"fault {key!r} is not supported by the {sandbox} sandbox (no pages)")
        if key == "total_change_page" and hooks is not None and hooks.change_total is None:
            raise ValueError(f"fault {key!r}: the {sandbox} sandbox's API reports no total")
        if key not in KIT_KEYS and key not in own:
            raise ValueError(f"fault {key!r} is not supported by the {sandbox} sandbox")


_BAD_JSON = b"<html><body><h1>Service temporarily unavailable</h1></body></html>"


def _html(status: int, title: str) -> Response:
    body = f"<html><head><title>{title}</title></head><body><h2>{title}</h2></body></html>"
    return Response(body, status_code=status, media_type="text/html")


def fault_middleware(
    spec: FaultSpec,
    sandbox: str,
    hooks: PageHooks | None = None,
    own: Collection[str] = (),
    *,
    log: FaultLog | None = None,
    dice: FaultDice | None = None,
) -> Middleware:
    """The kit's faults for a sandbox app: ``Starlette(..., middleware=[..., fault_middleware(
    spec, "acme", hooks)])``. ``own`` names the vendor faults the sandbox injects itself; a spec
    setting anything else it cannot inject raises ValueError here, before serving."""
    check_supported(spec, sandbox, hooks, own)
    return Middleware(FaultMiddleware, spec=spec, hooks=hooks, log=log, dice=dice)


class FaultMiddleware:
    """Inject a spec's kit-level faults into any sandbox app (outside its routing).

    Built by `fault_middleware`; pass ``log`` (a `FaultLog`) to read what was injected.
    """

    def __init__(
        self,
        app: ASGIApp,
        spec: FaultSpec,
        hooks: PageHooks | None = None,
        log: FaultLog | None = None,
        dice: FaultDice | None = None,
    ) -> None:
        self.app = app
        self.spec = spec
        self.hooks = hooks
        self.log = log if log is not None else FaultLog()
        self.dice = dice or FaultDice(spec)
        self._rate_limited: Counter[int] = Counter()

    def _page_fault(self, page: int | None) -> str | None:
        spec = self.spec
        if page is None:
            return None
        if page == spec.fail_page:
            return "fail_page"
        if page == spec.rate_limit_page and self._rate_limited[page] < spec.rate_limit_times:
            self._rate_limited[page] += 1
            return "rate_limit"
        for kind in ("truncate", "bad_json", "short"):
            if page == getattr(spec, f"{kind}_page"):
                return kind
        if spec.total_change_page is not None and page >= spec.total_change_page:
            return "total_change"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        spec = self.spec
        if spec.latency_ms:
            await asyncio.sleep(spec.latency_ms / 1000)
        key = f"{scope['method']} {scope['path']}?{scope['query_string'].decode()}"
        page = self.hooks.page_number(Request(scope)) if self.hooks else None
        if page is not None:
            self.log.page_requests.append((page, time.monotonic()))
        fault = self._page_fault(page) or self.dice.roll(key)
        if fault is None:
            await self.app(scope, receive, send)
            return
        self.log.add(fault, key, page)
        if fault == "timeout":
            await asyncio.sleep(spec.hang_s)
            await _html(504, "504 Gateway Time-out")(scope, receive, send)
        elif fault == "error":
            if self.dice.flavour(key):
                response = _html(503, "503 Service Temporarily Unavailable")
            else:
                message = {"errors": ["An unexpected error occurred (injected fault)"]}
                response = Response(json.dumps(message), 500, media_type="application/json")
            await response(scope, receive, send)
        elif fault == "fail_page":
            await _html(500, "Error 500 Internal Server Error")(scope, receive, send)
        elif fault == "rate_limit":
            headers = {}
            if spec.retry_after is not None:
                headers["Retry-After"] = f"{spec.retry_after:g}"
            body = "429 Too Many Requests (injected fault)"
            await Response(body, 429, headers, media_type="text/plain")(scope, receive, send)
        else:
            await self._rewrite(fault, scope, receive, send)

    async def _rewrite(self, fault: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, buffer its answer and corrupt a 200 body."""
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        if start.get("status") == 200:
            body = self._corrupt(fault, body)
        headers = MutableHeaders(raw=list(start.get("headers", [])))
        headers["content-length"] = str(len(body))
        await send({**start, "headers": headers.raw})
        await send({"type": "http.response.body", "body": body})

    def _corrupt(self, fault: str, body: bytes) -> bytes:
        if fault == "truncate":
            return body[: len(body) // 2]
        if fault == "bad_json":
            return _BAD_JSON
        assert self.hooks is not None
        doc = json.loads(body)
        if fault == "short":
            self.hooks.drop_last_record(doc)
        else:
            assert self.hooks.change_total is not None
            self.hooks.change_total(doc, self.spec.total_delta)
        return json.dumps(doc, separators=(",", ":")).encode()
