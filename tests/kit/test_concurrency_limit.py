"""kit.asgi.ConcurrencyLimit: at most N requests inside the app; the next waits a short
while for a turn, then gets the refusal (503) with Retry-After; a turn freed in time is taken."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from shelfware.kit.asgi import ConcurrencyLimit


async def refuse(
    _: Scope, status: int, message: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return status, [(b"content-type", b"application/json")], json.dumps({"error": message}).encode()


def slow_app(gate: asyncio.Event, inside: list[int]) -> object:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        inside.append(1)
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def test_the_extra_requests_are_refused_after_the_wait() -> None:
    gate, inside = asyncio.Event(), []
    limited = ConcurrencyLimit(slow_app(gate, inside), limit=3, wait=0.1, refuse=refuse)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=limited)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        admitted = [asyncio.create_task(client.get("/")) for _ in range(3)]
        await asyncio.sleep(0.05)
        extra = await asyncio.gather(*(client.get("/") for _ in range(5)))
        assert [r.status_code for r in extra] == [503] * 5
        assert all(r.headers["retry-after"] == "1" for r in extra)
        assert len(inside) == 3  # the refused never reached the app
        gate.set()
        assert [r.status_code for r in await asyncio.gather(*admitted)] == [200] * 3
        assert (await client.get("/")).status_code == 200  # turns given back


async def test_a_turn_freed_within_the_wait_is_taken() -> None:
    gate, inside = asyncio.Event(), []
    limited = ConcurrencyLimit(slow_app(gate, inside), limit=1, wait=2.0, refuse=refuse)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=limited)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = asyncio.create_task(client.get("/"))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(client.get("/"))
        await asyncio.sleep(0.1)
        gate.set()
        assert (await first).status_code == (await second).status_code == 200


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        ConcurrencyLimit(slow_app(asyncio.Event(), []), limit=0, wait=0, refuse=refuse)  # type: ignore[arg-type]
