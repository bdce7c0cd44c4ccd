"""kit/asgi.py: the body limit (over a real socket to uvicorn) and names as path segments."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Scope

from shelfware.kit.asgi import (
    BodyLimit,
    EncodedSlashes,
    keep_encoded_slashes,
    quote_segment,
    segment,
)
from shelfware.sandbox.server import serve_in_thread

LIMIT = 1000
seen: list[int] = []


async def echo(request: Request) -> PlainTextResponse:
    body = await request.body()
    seen.append(len(body))
    return PlainTextResponse(f"got {len(body)}")


async def named(request: Request) -> PlainTextResponse:
    return PlainTextResponse(segment(request.path_params["name"]))


async def refuse(
    _: Scope, status: int, message: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return status, [(b"content-type", b"text/plain")], message.encode()


def _app() -> EncodedSlashes:
    inner = Starlette(
        routes=[
            Route("/echo", echo, methods=["POST"]),
            Route("/open", echo, methods=["POST"]),
            Route("/things/{name}", named),
            Route("/things/{name}/sub", named),
        ]
    )
    limited = BodyLimit(
        inner,
        limit_for=lambda scope: None if scope["path"] == "/open" else LIMIT,
        refuse=refuse,
    )
    return EncodedSlashes(limited)


@pytest.fixture
def url() -> Iterator[str]:
    with serve_in_thread(_app()) as server:  # type: ignore[arg-type]
        yield server.url


def test_bodies_within_the_limit_pass_whole(url: str) -> None:
    seen.clear()
    assert httpx.post(f"{url}/echo", content=b"x" * LIMIT).text == f"got {LIMIT}"
    chunks = iter([b"x" * 500, b"x" * 500])
    assert httpx.post(f"{url}/echo", content=chunks).text == f"got {LIMIT}"
    assert httpx.post(f"{url}/open", content=b"x" * 50_000).text == "got 50000"


def test_declared_length_over_the_limit_never_reaches_the_app(url: str) -> None:
    seen.clear()
    answer = httpx.post(f"{url}/echo", content=b"x" * (LIMIT + 1))
    assert answer.status_code == 413
    assert answer.text == "the request body is over the limit of 1,000 bytes"
    assert answer.headers["connection"] == "close"
    assert seen == []


def test_a_streamed_body_is_cut_where_it_passes_the_limit(url: str) -> None:
    seen.clear()
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"3e8\r\n"
            + b"x" * 1000
            + b"\r\n"  # exactly the limit: still fine
            + b"1\r\nx\r\n"  # one byte more, and the body never ends
        )
        answer = b""
        while b"over the limit" not in answer:
            more = sock.recv(65536)
            assert more, answer
            answer += more
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"over the limit" in answer
    assert seen == []  # the app's own read was cut off, its answer dropped


NAMES = ["a/b?c#d %e", "100%", "x%2Fy", "%25", "ü☃ 😀", "a//b", "/lead", "trail/", "a.b"]


@pytest.mark.parametrize("name", NAMES)
def test_a_name_is_one_segment_over_http(url: str, name: str) -> None:
    answer = httpx.get(f"{url}/things/{quote_segment(name)}")
    assert answer.status_code == 200 and answer.text == name
    sub = httpx.get(f"{url}/things/{quote_segment(name)}/sub")
    assert sub.status_code == 200 and sub.text == name


def test_keep_encoded_slashes() -> None:
    assert keep_encoded_slashes(b"/a%2fb%25c%20d%3F?q=%2F") == "/a%2Fb%25c d?"
    assert keep_encoded_slashes(b"/plain") == "/plain"


@given(st.text(min_size=1))
def test_quote_route_decode_is_the_identity(name: str) -> None:
    raw = ("/things/" + quote_segment(name)).encode("ascii")
    path = keep_encoded_slashes(raw)
    routed = path.removeprefix("/things/")
    assert "/" not in routed
    assert segment(routed) == name.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
