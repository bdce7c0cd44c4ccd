"""The HTTP kit against a real tiny Starlette app on loopback."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import socket
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from shelfware.connectors.base import AuthenticationError, RequestStats
from shelfware.connectors.toolkit import connector_error
from shelfware.kit.http import (
    HttpAuthenticationError,
    HttpError,
    HttpPolicy,
    HttpStatusError,
    HttpTransportError,
    RateLimitWaitTooLong,
    RetriesExhaustedError,
    VendorClient,
    parse_retry_after,
)
from shelfware.kit.pacing import RESET_MARGIN
from shelfware.kit.redact import (
    MASK,
    Redactor,
    SecretFilter,
    redact_headers,
    redact_url,
    register_secret,
)

SECRET = "_sEcReT-kEy-1234567890"
FAKE_NOW = 1_800_000_000.0  # epoch seconds the fake clock starts at

# --------------------------------------------------------------------------- test server


@dataclass
class ServerState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    hits: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0

    def hit(self, key: str) -> int:
        with self.lock:
            self.hits[key] += 1
            return self.hits[key]


def make_app(state: ServerState) -> Starlette:
    async def flaky(request: Request) -> Response:
        # /flaky?id=x&fail=N: N times 503, then 200
        key = request.query_params["id"]
        fail = int(request.query_params.get("fail", "1"))
        count = state.hit(key)
        if count <= fail:
            return PlainTextResponse("busy", status_code=503)
        return JSONResponse({"ok": True, "attempt": count})

    async def retry_after(request: Request) -> Response:
        key = request.query_params["id"]
        value = request.query_params["value"]
        status = int(request.query_params.get("status", "429"))
        if state.hit(key) == 1:
            return PlainTextResponse(
                "slow down", status_code=status, headers={"Retry-After": value}
            )
        return JSONResponse({"ok": True})

    async def okta(request: Request) -> Response:
        key = request.query_params["id"]
        reset = request.query_params["reset"]
        count = state.hit(key)
        headers = {"X-Rate-Limit-Limit": "10", "X-Rate-Limit-Reset": reset}
        if count == 1:
            headers["X-Rate-Limit-Remaining"] = "0"
            return JSONResponse({"errorCode": "E0000047"}, status_code=429, headers=headers)
        headers["X-Rate-Limit-Remaining"] = request.query_params.get("remaining", "9")
        return JSONResponse({"ok": True}, headers=headers)

    async def limited(request: Request) -> Response:
        headers = {
            "X-Rate-Limit-Limit": "10",
            "X-Rate-Limit-Remaining": request.query_params["remaining"],
            "X-Rate-Limit-Reset": request.query_params["reset"],
        }
        return JSONResponse({"ok": True}, headers=headers)

    async def always(request: Request) -> Response:
        key = request.query_params.get("id", request.url.path)
        state.hit(key)
        return PlainTextResponse("nope", status_code=int(request.query_params["status"]))

    async def slow(request: Request) -> Response:
        with state.lock:
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            await asyncio.sleep(float(request.query_params.get("delay", "0.05")))
        finally:
            with state.lock:
                state.in_flight -= 1
        return JSONResponse({"ok": True})

    async def echo(request: Request) -> Response:
        # Echo the credential back, as a careless vendor error page might.
        status = int(request.query_params.get("status", "500"))
        body = (
            f"bad request from {request.headers.get('zsessionid')} "
            f"url={request.url} auth={request.headers.get('authorization')}"
        )
        return PlainTextResponse(body, status_code=status)

    async def sleepy(request: Request) -> Response:
        state.hit("sleepy")
        await asyncio.sleep(float(request.query_params.get("delay", "1")))
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/flaky", flaky),
            Route("/retry-after", retry_after),
            Route("/okta", okta),
            Route("/limited", limited),
            Route("/always", always, methods=["GET", "POST"]),
            Route("/slow", slow),
            Route("/echo", echo, methods=["GET", "POST"]),
            Route("/sleepy", sleepy, methods=["GET", "POST"]),
        ]
    )


@dataclass
class RunningServer:
    url: str
    state: ServerState


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    state = ServerState()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(make_app(state), log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield RunningServer(url=f"http://127.0.0.1:{port}", state=state)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        sock.close()


# --------------------------------------------------------------------------- fakes


class FakeTime:
    """An injectable clock + sleep: sleeping advances the clock, nothing really waits."""

    def __init__(self, now: float = FAKE_NOW) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def unique(name: str) -> str:
    return f"{name}-{time.monotonic_ns()}"


def make_client(
    server: RunningServer, fake: FakeTime, policy: HttpPolicy | None = None, **kwargs: object
) -> VendorClient:
    return VendorClient(
        base_url=server.url,
        headers={"ZSESSIONID": SECRET},
        policy=policy or HttpPolicy(max_retries=3),
        stats=RequestStats(),
        sleep=fake.sleep,
        clock=fake.clock,
        rng=random.Random(7),
        **kwargs,  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- retries


async def test_retries_503_then_succeeds(server: RunningServer) -> None:
    fake = FakeTime()
    client = make_client(server, fake)
    try:
        response = await client.get("/flaky", params={"id": unique("f"), "fail": 2})
    finally:
        await client.aclose()
    assert response.status_code == 200
    assert response.json()["attempt"] == 3
    assert client.stats.requests == 3
    assert client.stats.retries == 2
    # full jitter: each wait within [0, base * 2**(n-1)]
    assert len(fake.sleeps) == 2
    assert 0 <= fake.sleeps[0] <= 0.5
    assert 0 <= fake.sleeps[1] <= 1.0


async def test_a_response_is_freed_when_its_last_user_drops_it(server: RunningServer) -> None:
    """No reference cycle keeps a read response (and its body) alive until the cyclic
    collector runs: a download's pages would pile up in memory between collections."""
    client = make_client(server, FakeTime())
    gc.disable()
    try:
        response = await client.get("/flaky", params={"id": unique("g"), "fail": 0})
        assert response.json()["attempt"] == 1  # the body is still readable
        freed = weakref.ref(response)
        del response
        assert freed() is None
    finally:
        gc.enable()
        await client.aclose()


async def test_retry_after_seconds_is_honoured(server: RunningServer) -> None:
    fake = FakeTime()
    client = make_client(server, fake)
    try:
        response = await client.get("/retry-after", params={"id": unique("ra"), "value": "7"})
    finally:
        await client.aclose()
    assert response.status_code == 200
    assert fake.sleeps == [7.0]
    assert client.stats.retries == 1


async def test_retry_after_http_date_is_honoured(server: RunningServer) -> None:
    fake = FakeTime()
    when = datetime.fromtimestamp(FAKE_NOW + 42, tz=UTC)
    client = make_client(server, fake)
    try:
        response = await client.get(
            "/retry-after",
            params={
                "id": unique("rad"),
                "value": format_datetime(when, usegmt=True),
                "status": 503,
            },
        )
    finally:
        await client.aclose()
    assert response.status_code == 200
    assert fake.sleeps == [pytest.approx(42.0)]


async def test_retry_after_beyond_cap_fails_clearly(server: RunningServer) -> None:
    fake = FakeTime()
    client = make_client(server, fake, HttpPolicy(max_wait=60))
    try:
        with pytest.raises(RateLimitWaitTooLong) as caught:
            await client.get("/retry-after", params={"id": unique("cap"), "value": "3600"})
    finally:
        await client.aclose()
    message = str(caught.value)
    assert "3600s" in message and "Retry-After" in message and "60s cap" in message
    assert fake.sleeps == []


async def test_okta_429_waits_until_reset(server: RunningServer) -> None:
    fake = FakeTime()
    reset = int(FAKE_NOW) + 25
    client = make_client(server, fake)
    try:
        response = await client.get("/okta", params={"id": unique("okta"), "reset": reset})
    finally:
        await client.aclose()
    assert response.status_code == 200
    assert fake.sleeps == [pytest.approx(25.0 + RESET_MARGIN)]  # one wait, past the reset
    assert client.stats.retries == 1


async def test_remaining_zero_pauses_new_requests_until_reset(server: RunningServer) -> None:
    fake = FakeTime()
    client = make_client(server, fake)
    try:
        # a 200 that uses up the window: the next request waits until the reset
        await client.get("/limited", params={"remaining": 0, "reset": int(FAKE_NOW) + 20})
        assert fake.sleeps == []
        await client.get("/limited", params={"remaining": 5, "reset": int(FAKE_NOW) + 80})
        assert fake.sleeps == [pytest.approx(20.0 + RESET_MARGIN)]
        # a fresh window: no more pausing
        await client.get("/limited", params={"remaining": 4, "reset": int(FAKE_NOW) + 80})
        assert fake.sleeps == [pytest.approx(20.0 + RESET_MARGIN)]
        # a reset too far away fails clearly instead of stalling
        await client.get("/limited", params={"remaining": 0, "reset": int(fake.now) + 500})
        with pytest.raises(RateLimitWaitTooLong, match="rate limit exhausted"):
            await client.get("/limited", params={"remaining": 5, "reset": 0})
    finally:
        await client.aclose()


async def test_post_is_not_retried_unless_idempotent(server: RunningServer) -> None:
    fake = FakeTime()
    client = make_client(server, fake)
    key = unique("post")
    try:
        with pytest.raises(HttpStatusError) as caught:
            await client.post("/always", params={"id": key, "status": 503}, json={"a": 1})
        assert server.state.hits[key] == 1
        assert caught.value.status == 503
        assert "POST" in str(caught.value) and "503" in str(caught.value)

        key2 = unique("post-idem")
        with pytest.raises(RetriesExhaustedError) as exhausted:
            await client.post(
                "/always", params={"id": key2, "status": 503}, json={"a": 1}, idempotent=True
            )
        assert server.state.hits[key2] == 4  # 1 + max_retries=3
        assert "after 4 attempts" in str(exhausted.value)
        assert "HTTP 503" in str(exhausted.value)
    finally:
        await client.aclose()


async def test_get_4xx_is_not_retried_and_401_is_authentication_error(
    server: RunningServer,
) -> None:
    fake = FakeTime()
    client = make_client(server, fake)
    key = unique("404")
    try:
        with pytest.raises(HttpStatusError) as caught:
            await client.get("/always", params={"id": key, "status": 404})
        assert server.state.hits[key] == 1
        assert caught.value.status == 404
        # accepted statuses come back as responses
        response = await client.get(
            "/always", params={"id": unique("ok404"), "status": 404}, accept_status=(404,)
        )
        assert response.status_code == 404
        with pytest.raises(HttpAuthenticationError) as auth:
            await client.get("/always", params={"id": unique("401"), "status": 401})
        assert auth.value.status == 401
        # the kit knows nothing of connectors: the connector kit maps it to the contract's error
        mapped = connector_error(auth.value)
        assert isinstance(mapped, AuthenticationError) and "401" in str(mapped)
    finally:
        await client.aclose()
    assert fake.sleeps == []


# --------------------------------------------------------------------------- concurrency


async def test_concurrency_cap_is_never_exceeded(server: RunningServer) -> None:
    server.state.max_in_flight = 0
    client = VendorClient(base_url=server.url, policy=HttpPolicy(max_concurrency=3))
    try:
        started = time.perf_counter()
        await asyncio.gather(*(client.get("/slow", params={"delay": 0.05}) for _ in range(15)))
        elapsed = time.perf_counter() - started
    finally:
        await client.aclose()
    assert server.state.max_in_flight == 3  # parallel, yet capped
    assert client.max_in_flight == 3
    assert elapsed >= 0.05 * 15 / 3 * 0.9


# --------------------------------------------------------------------------- timeouts


async def test_timeouts_are_retried_then_fail_clearly(server: RunningServer) -> None:
    fake = FakeTime()
    before = server.state.hits["sleepy"]
    client = make_client(server, fake, HttpPolicy(read_timeout=0.1, max_retries=2))
    try:
        with pytest.raises(RetriesExhaustedError) as caught:
            await client.get("/sleepy", params={"delay": 1})
    finally:
        await client.aclose()
    message = str(caught.value)
    assert "GET" in message and "/sleepy" in message
    assert "after 3 attempts" in message
    assert "ReadTimeout" in message
    assert server.state.hits["sleepy"] - before == 3
    assert client.stats.retries == 2


async def test_post_timeout_is_not_retried(server: RunningServer) -> None:
    fake = FakeTime()
    before = server.state.hits["sleepy"]
    client = make_client(server, fake, HttpPolicy(read_timeout=0.1, max_retries=2))
    try:
        with pytest.raises(HttpTransportError) as caught:
            await client.post("/sleepy", params={"delay": 1})
    finally:
        await client.aclose()
    assert "ReadTimeout" in str(caught.value)
    assert server.state.hits["sleepy"] - before == 1


async def test_connection_refused_is_retried_then_fails() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    fake = FakeTime()
    client = VendorClient(
        base_url=f"http://127.0.0.1:{port}",
        policy=HttpPolicy(max_retries=2),
        sleep=fake.sleep,
        clock=fake.clock,
    )
    try:
        with pytest.raises(RetriesExhaustedError) as caught:
            await client.post("/x", json={})  # connect errors are retried even for POST
    finally:
        await client.aclose()
    assert "after 3 attempts" in str(caught.value)
    assert "ConnectError" in str(caught.value)


# --------------------------------------------------------------------------- redaction


async def test_secret_never_in_errors_or_logs(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeTime()
    client = VendorClient(
        base_url=server.url,
        headers={"ZSESSIONID": SECRET, "Authorization": f"Bearer {SECRET}x"},
        secrets=["client-secret-value-42"],
        policy=HttpPolicy(max_retries=2),
        sleep=fake.sleep,
        clock=fake.clock,
    )
    errors: list[str] = []
    try:
        for status in (500, 400, 401):
            with pytest.raises(HttpError) as caught:
                await client.get(
                    "/echo",
                    params={"status": status, "api_key": SECRET, "client_secret": "plain-cs"},
                )
            errors.append(str(caught.value))
            errors.append(repr(caught.value))
        with pytest.raises(HttpError) as caught:
            await client.post("/echo", json={"k": "client-secret-value-42"})
        errors.append(str(caught.value))
    finally:
        await client.aclose()
    text = "\n".join(errors) + "\n" + caplog.text
    assert "bad request from" in text  # the body excerpt is there...
    assert MASK in text
    assert SECRET not in text  # ...but never the key
    assert "plain-cs" not in text  # credential query params are masked even if not registered
    assert "client-secret-value-42" not in text
    # a debug line per request and a warning per retry
    records = [r for r in caplog.records if r.name == "shelfware.http"]
    assert any(r.levelno == logging.DEBUG and "-> 500" in r.getMessage() for r in records)
    assert any(r.levelno == logging.INFO and "retry 1/2" in r.getMessage() for r in records)


def test_secret_filter_scrubs_any_record(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("global-secret-xyz")
    record = logging.LogRecord(
        "other", logging.ERROR, __file__, 1, "token %s leaked", ("global-secret-xyz",), None
    )
    assert SecretFilter().filter(record) is True
    assert record.getMessage() == f"token {MASK} leaked"
    try:
        raise ValueError("inside global-secret-xyz")
    except ValueError:
        import sys

        exc_record = logging.LogRecord(
            "other", logging.ERROR, __file__, 1, "boom", None, sys.exc_info()
        )
    SecretFilter(Redactor(["global-secret-xyz"])).filter(exc_record)
    formatted = logging.Formatter().format(exc_record)
    assert "global-secret-xyz" not in formatted
    assert "inside ***" in formatted


def test_redact_helpers() -> None:
    assert (
        redact_url("https://h.example/a?token=abc&page=2&APIKEY=zz")
        == "https://h.example/a?token=***&page=2&APIKEY=***"
    )
    assert redact_url("https://user:pw@h.example/") == "https://user:***@h.example/"
    headers = redact_headers({"ZSESSIONID": "_k", "Accept": "json", "cookie": "c"})
    assert headers == {"ZSESSIONID": MASK, "Accept": "json", "cookie": MASK}
    redactor = Redactor(["a b/c"])
    assert redactor.redact("x a b/c y a%20b%2Fc z a+b%2Fc") == "x *** y *** z ***"


def test_parse_retry_after() -> None:
    assert parse_retry_after("5", 0) == 5.0
    assert parse_retry_after(None, 0) is None
    assert parse_retry_after("soon", 0) is None
    when = datetime.fromtimestamp(FAKE_NOW + 10, tz=UTC)
    assert parse_retry_after(format_datetime(when, usegmt=True), FAKE_NOW) == pytest.approx(10)
    assert parse_retry_after(format_datetime(when, usegmt=True), FAKE_NOW + 100) == 0.0
