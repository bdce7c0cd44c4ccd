"""The one HTTP client every connector uses: timeouts, retries, rate limits, concurrency, redaction.

`VendorClient` wraps `httpx.AsyncClient`:

- every request is bounded by a semaphore (`HttpPolicy.max_concurrency` requests in flight);
- transient failures are retried with exponential backoff and full jitter:
  connect errors and 429 for any method (the server never processed the request), and
  timeouts, transport errors, 500/502/503/504 only for idempotent requests (GET, HEAD, PUT,
  DELETE, OPTIONS by default; POST when the caller passes `idempotent=True`);
- `Retry-After` (seconds or HTTP date) and Okta-style `X-Rate-Limit-Remaining` /
  `X-Rate-Limit-Reset` headers are honoured; a wait longer than `HttpPolicy.max_wait` fails
  with a clear error instead of stalling a run;
- every error message and log line passes through a `Redactor` that knows the secrets in play.

- authentication is an `httpx.Auth` (the connector kit's authenticators), pacing a `Pacer`
  (`kit.pacing`): by default the `X-Rate-Limit-*` header budget.

Errors are `HttpError` subclasses; a 401 raises `HttpAuthenticationError`. The connector kit
turns them into the connector contract's errors.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

from shelfware.kit.netguard import Resolver, guarded_async_client
from shelfware.kit.pacing import RESET_MARGIN, BudgetExhausted, HeaderBudget, Pacer
from shelfware.kit.redact import (
    SENSITIVE_HEADERS,
    Redactor,
    default_redactor,
    install_secret_filter,
    register_secret,
)

logger = logging.getLogger("shelfware.http")

DEFAULT_MAX_CONCURRENCY = 4
BODY_EXCERPT_CHARS = 200
URL_VALUE_CHARS = 60  # query parameter values longer than this are shortened in messages

Sleep = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class RequestStats:
    """Counters a client keeps; a sync run records them."""

    requests: int = 0
    retries: int = 0
    pages: int = 0
    waited_seconds: float = 0.0  # spent waiting for rate limits (pacing and 429s)


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """How a connector's client behaves on the wire."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_retries: int = 5  # retries after the first attempt
    backoff_base: float = 0.5  # seconds; attempt n waits uniform(0, min(cap, base * 2**n))
    backoff_cap: float = 30.0
    # Requests in flight at once. None: the connector's own default (DEFAULT_MAX_CONCURRENCY
    # for a bare client).
    max_concurrency: int | None = None
    # The longest single wait the client accepts from Retry-After / X-Rate-Limit-Reset.
    max_wait: float = 120.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    idempotent_methods: frozenset[str] = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
    honour_rate_limit_headers: bool = True

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")

    def with_concurrency(self, max_concurrency: int) -> HttpPolicy:
        return replace(self, max_concurrency=max_concurrency)

    @property
    def concurrency(self) -> int:
        return self.max_concurrency or DEFAULT_MAX_CONCURRENCY

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.read_timeout,
            pool=self.read_timeout,
        )

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Full-jitter backoff before retry `retry_number` (1-based)."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (retry_number - 1)))
        return rng.uniform(0.0, ceiling)


# --------------------------------------------------------------------------- errors


class HttpError(Exception):
    """An HTTP exchange failed. The message is redacted and names method, URL and cause."""

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        status: int | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url  # redacted
        self.status = status
        self.attempts = attempts


class HttpStatusError(HttpError):
    """The server answered with an error status that is not retried (or no longer)."""


class HttpAuthenticationError(HttpStatusError):
    """401: the app rejected the credential."""


class HttpTransportError(HttpError):
    """No usable answer: connection refused, reset, timed out."""


class RetriesExhaustedError(HttpError):
    """Every attempt failed with a transient error."""


class RateLimitWaitTooLong(HttpError):
    """The server asked us to wait longer than `HttpPolicy.max_wait`."""


# --------------------------------------------------------------------------- helpers


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or HTTP date); None if absent."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def _header_float(headers: httpx.Headers, name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return float(raw.strip())
    except ValueError:
        return None


def _shorten(text: str, limit: int = URL_VALUE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(slots=True)
class _Attempt:
    """What one attempt produced, for the retry decision."""

    response: httpx.Response | None = None
    error: httpx.TransportError | None = None
    cause: str = ""
    wait_hint: float | None = None  # from Retry-After / X-Rate-Limit-Reset
    hint_source: str = ""


# --------------------------------------------------------------------------- client


class VendorClient:
    """An `httpx.AsyncClient` with the policy above. One per connector instance.

    `secrets` are registered with this client's `Redactor` and with the process-wide one (so a
    `SecretFilter` on any handler scrubs them); values of auth headers in `headers` and the
    secrets of `auth` (an object with a `secrets()` method) are registered automatically.

    Its own client connects only to public addresses, checked on the address each connection
    actually uses (`kit.netguard`; `resolver` replaces the system resolver). Pass `client` to
    reuse an existing `httpx.AsyncClient` (e.g. with a test transport); it is then the caller's
    to close, and its own to guard. `sleep`, `rng` and `clock` (epoch seconds) are injectable so
    backoff and rate-limit waits are testable without waiting.
    """

    def __init__(
        self,
        *,
        base_url: str = "",
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str | None] = (),
        policy: HttpPolicy | None = None,
        stats: RequestStats | None = None,
        client: httpx.AsyncClient | None = None,
        auth: httpx.Auth | None = None,
        pacer: Pacer | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        resolver: Resolver | None = None,
    ) -> None:
        self.policy = policy or HttpPolicy()
        self.stats = stats if stats is not None else RequestStats()
        self.base_url = base_url.rstrip("/")
        self._headers = dict(headers or {})
        header_secrets = [
            value for name, value in self._headers.items() if name.lower() in SENSITIVE_HEADERS
        ]
        auth_secrets = getattr(auth, "secrets", None)
        all_secrets = [*secrets, *header_secrets, *(auth_secrets() if auth_secrets else [])]
        self.auth = auth
        # tokens learnt later (OAuth refreshes) reach the process-wide redactor: mask those too
        self.redactor = Redactor(all_secrets, parent=default_redactor())
        register_secret(*all_secrets)
        install_secret_filter()
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self._clock = clock
        self._semaphore = asyncio.Semaphore(self.policy.concurrency)
        if pacer is None and self.policy.honour_rate_limit_headers:
            pacer = HeaderBudget(clock=clock, sleep=self._sleep, max_wait=self.policy.max_wait)
        self.pacer = pacer
        self._pause_until = 0.0  # epoch seconds: a 429 asked everyone to wait until then
        self._owns_client = client is None
        self._client = client or guarded_async_client(
            resolver=resolver,
            timeout=self.policy.timeout(),
            limits=httpx.Limits(
                max_connections=max(self.policy.concurrency, 1),
                max_keepalive_connections=max(self.policy.concurrency, 1),
            ),
            follow_redirects=False,
        )
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def max_concurrency(self) -> int:
        return self.policy.concurrency

    def register_secret(self, *secrets: str | None) -> None:
        """Add secrets learnt after construction (e.g. a refreshed OAuth token)."""
        self.redactor.register(*secrets)
        register_secret(*secrets)

    def url_for(self, url: str) -> str:
        if url.startswith(("http://", "https://")):
            return url
        if not self.base_url:
            return url
        return f"{self.base_url}/{url.lstrip('/')}"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> VendorClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ----------------------------------------------------------------- request

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        accept_status: Collection[int] = (),
    ) -> httpx.Response:
        """Send a request with retries; return the response or raise `HttpError`.

        Statuses below 400 and those in `accept_status` are returned; others raise
        (`HttpAuthenticationError` for 401). `idempotent` overrides the method default.
        """
        method = method.upper()
        full_url = self.url_for(url)
        merged_headers = {**self._headers, **(headers or {})}
        if idempotent is None:
            idempotent = method in self.policy.idempotent_methods
        display_url = self._display_url(full_url, params)
        attempts = 0
        while True:
            attempts += 1
            attempt = await self._attempt(method, full_url, params, json, merged_headers)
            response = attempt.response
            if response is not None and (
                response.status_code < 400 or response.status_code in accept_status
            ):
                return response
            retryable = self._retryable(attempt, idempotent)
            if not retryable or attempts > self.policy.max_retries:
                # `from None`: the library's exception may carry the unredacted request.
                raise self._final_error(method, display_url, attempt, attempts, retryable) from None
            delay = self._delay_for(attempt, attempts)
            if delay > self.policy.max_wait:
                raise RateLimitWaitTooLong(
                    self.redactor.redact(
                        f"{method} {display_url} -> server asked to wait {delay:.0f}s "
                        f"({attempt.hint_source}), more than the {self.policy.max_wait:.0f}s cap; "
                        f"last cause: {attempt.cause}"
                    ),
                    method=method,
                    url=display_url,
                    status=response.status_code if response is not None else None,
                    attempts=attempts,
                )
            self.stats.retries += 1
            logger.info(
                "%s",
                self.redactor.redact(
                    f"{method} {display_url} -> {attempt.cause}; retry {attempts}/"
                    f"{self.policy.max_retries} in {delay:.2f}s"
                ),
            )
            if response is not None and response.status_code == 429 and attempt.hint_source:
                continue  # the client-wide pause (see _pace) holds this request and the others
            await self._sleep(delay)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    # ----------------------------------------------------------------- internals

    def _display_url(self, url: str, params: Mapping[str, Any] | None) -> str:
        """The URL for messages: credentials masked, query decoded, long values shortened."""
        try:
            full = str(httpx.URL(url, params=params)) if params else url
            parts = urlsplit(self.redactor.redact_url(full))
            pairs = parse_qsl(parts.query, keep_blank_values=True)
        except Exception:  # an unparsable URL: still show something, redacted
            return self.redactor.redact_url(url)
        shown = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        if pairs:
            # Redact each decoded value before shortening it, so no fragment of a secret stays.
            query = "&".join(
                f"{name}={_shorten(self.redactor.redact(value))}" for name, value in pairs
            )
            shown = f"{shown}?{query}"
        return self.redactor.redact(shown)

    async def _pace(self, method: str, url: str) -> None:
        """Wait out a 429's pause, then the pacer's budget."""
        delay = self._pause_until - self._clock()
        if delay > 0:
            self.stats.waited_seconds += delay
            await self._sleep(delay)
        if self.pacer is None:
            return
        try:
            waited = await self.pacer.acquire(method, url)
        except BudgetExhausted as error:
            shown = self._display_url(url, None)
            raise RateLimitWaitTooLong(
                self.redactor.redact(f"{method} {shown} -> {error}"), method=method, url=shown
            ) from None
        if waited:
            self.stats.waited_seconds += waited
            logger.info("%s", self.redactor.redact(f"paced {waited:.2f}s for the rate limit"))

    async def _attempt(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str],
    ) -> _Attempt:
        async with self._semaphore:
            await self._pace(method, url)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.stats.requests += 1
            started = time.perf_counter()
            response: httpx.Response | None = None
            try:
                response = await self._client.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=headers,
                    auth=self.auth or httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as error:
                elapsed_ms = (time.perf_counter() - started) * 1000
                cause = f"{type(error).__name__}: {_one_line(str(error)) or 'no detail'}"
                logger.debug(
                    "%s",
                    self.redactor.redact(
                        f"{method} {self._display_url(url, params)} -> {cause} "
                        f"in {elapsed_ms:.1f} ms"
                    ),
                )
                return _Attempt(error=error, cause=self.redactor.redact(cause))
            finally:
                self.in_flight -= 1
                if self.pacer is not None:
                    self.pacer.release(method, url, response)
        # httpx binds the response to the stream its body was read from, and that stream to
        # the response: a cycle only a full collection frees, so vendor pages (a megabyte
        # each) piled up in memory between collections (measured: 50 MB after a 100,000-user
        # download). The body is read; a plain stream of it breaks the cycle.
        response.stream = httpx.ByteStream(response.content)
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.debug(
            "%s",
            self.redactor.redact(
                f"{method} {self._display_url(str(response.request.url), None)} -> "
                f"{response.status_code} in {elapsed_ms:.1f} ms"
            ),
        )
        attempt = _Attempt(response=response, cause=f"HTTP {response.status_code}")
        self._note_rate_limit(response, attempt)
        return attempt

    def _note_rate_limit(self, response: httpx.Response, attempt: _Attempt) -> None:
        """How long a throttled request should wait: Retry-After, else (429 only) the
        announced X-Rate-Limit-Reset. A 429 pauses every request of this client."""
        now = self._clock()
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
        if retry_after is not None:
            attempt.wait_hint = retry_after
            attempt.hint_source = "Retry-After"
        elif response.status_code == 429 and self.policy.honour_rate_limit_headers:
            reset = _header_float(response.headers, "X-Rate-Limit-Reset")
            if reset is not None and reset > now:  # a reset already past: fall back to backoff
                attempt.wait_hint = reset + RESET_MARGIN - now
                attempt.hint_source = "X-Rate-Limit-Reset"
        if response.status_code == 429 and attempt.wait_hint is not None:
            self._pause_until = max(self._pause_until, now + min(attempt.wait_hint, 3600.0))

    def _retryable(self, attempt: _Attempt, idempotent: bool) -> bool:
        if attempt.error is not None:
            if isinstance(attempt.error, httpx.ConnectError | httpx.ConnectTimeout):
                return True  # the request never left: safe for any method
            return idempotent and isinstance(
                attempt.error,
                httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError,
            )
        assert attempt.response is not None
        status = attempt.response.status_code
        if status not in self.policy.retry_statuses:
            return False
        if status == 429:
            return True  # the server refused to process it: safe for any method
        return idempotent

    def _delay_for(self, attempt: _Attempt, attempts: int) -> float:
        if attempt.wait_hint is not None:
            return attempt.wait_hint
        return self.policy.backoff(attempts, self._rng)

    def _excerpt(self, response: httpx.Response) -> str:
        try:
            text = response.text
        except Exception:
            return ""
        # Redact the whole body before cutting it, so no fragment of a secret survives.
        text = _one_line(self.redactor.redact(text))
        if len(text) > BODY_EXCERPT_CHARS:
            text = text[:BODY_EXCERPT_CHARS] + "..."
        return text

    def _final_error(
        self, method: str, url: str, attempt: _Attempt, attempts: int, retryable: bool
    ) -> HttpError:
        response = attempt.response
        status = response.status_code if response is not None else None
        cause = attempt.cause
        if response is not None:
            excerpt = self._excerpt(response)
            if excerpt:
                cause = f"{cause}: {excerpt}"
        if retryable:
            message = f"{method} {url} failed after {attempts} attempts; last cause: {cause}"
            return RetriesExhaustedError(
                self.redactor.redact(message),
                method=method,
                url=url,
                status=status,
                attempts=attempts,
            )
        message = f"{method} {url} -> {cause}"
        if response is None:
            return HttpTransportError(
                self.redactor.redact(message), method=method, url=url, attempts=attempts
            )
        error_class = HttpAuthenticationError if status == 401 else HttpStatusError
        return error_class(
            self.redactor.redact(message),
            method=method,
            url=url,
            status=status,
            attempts=attempts,
        )
