"""ASGI pieces with no domain words: a request body limit that never buffers past it, and
paths whose encoded slashes stay encoded (so a name holding ``/`` is one path segment).

``BodyLimit(app, limit_for, refuse)``: ``limit_for(scope)`` is the most bytes the request's
body may have (``None``: no limit). A ``Content-Length`` over it is refused before the app
runs; a body without one (chunked) is counted as it streams, and the first chunk past the
limit ends the request: the refusal is sent at once (``Connection: close``), whatever the
app does with the error it then gets from ``receive``, and the rest of the body is never read.

``ConcurrencyLimit(app, limit, wait, refuse)``: at most ``limit`` requests inside ``app`` at
once; one more waits at most ``wait`` seconds for a turn, then gets ``refuse(scope, 503, ...)``
with ``Retry-After``: a server under load says "busy, retry" at once instead of queueing
requests until every one of them times out.

``EncodedSlashes(app)``: servers decode ``scope["path"]`` entirely, so ``/profiles/a%2Fb``
arrives as ``/profiles/a/b``, which no ``{name}`` route can tell from a sub-path. This
rebuilds ``path`` from ``raw_path``, decoding every escape except ``%2F`` and ``%25``; a
route parameter is then decoded once more with :func:`segment` (``%2F`` -> ``/``,
``%25`` -> ``%``). Links are built with :func:`quote_segment`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from urllib.parse import quote, unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Refusal = Callable[[Scope, int, str], Awaitable[tuple[int, list[tuple[bytes, bytes]], bytes]]]

MIB = 1024 * 1024


class ConcurrencyLimit:
    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        wait: float,
        refuse: Refusal,
        retry_after: int = 1,
    ) -> None:
        if limit < 1:
            raise ValueError("the concurrency limit is at least 1")
        self.app = app
        self.limit = limit
        self.wait = wait
        self.refuse = refuse
        self.retry_after = retry_after
        self._turns = asyncio.Semaphore(limit)

    async def _turn(self) -> bool:
        if not self._turns.locked():
            await self._turns.acquire()  # free: no wait
            return True
        if self.wait <= 0:
            return False
        try:
            await asyncio.wait_for(self._turns.acquire(), self.wait)
        except TimeoutError:
            return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not await self._turn():
            message = f"the server is busy ({self.limit} requests at once): retry shortly"
            status, headers, body = await self.refuse(scope, 503, message)
            headers = [
                h for h in headers if h[0].lower() not in (b"content-length", b"retry-after")
            ]
            headers += [
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(self.retry_after).encode()),
            ]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._turns.release()


class BodyTooLarge(Exception):
    """Raised from ``receive`` once the body went past its limit (the refusal is already sent)."""


def _size(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit >= MIB and limit % MIB == 0 else f"{limit:,} bytes"


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        limit_for: Callable[[Scope], int | None],
        refuse: Refusal,
    ) -> None:
        self.app = app
        self.limit_for = limit_for
        self.refuse = refuse

    async def _send_refusal(self, scope: Scope, send: Send, limit: int) -> None:
        message = f"the request body is over the limit of {_size(limit)}"
        status, headers, body = await self.refuse(scope, 413, message)
        headers = [h for h in headers if h[0].lower() not in (b"content-length", b"connection")]
        headers += [(b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._send_refusal(scope, send, limit)
            return
        received = 0
        started = False
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await self._send_refusal(scope, send, limit)
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the refusal was the answer: whatever the app says after it is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            pass
        except Exception:
            if not refused:
                raise
            # the app turned the cut-off body into an error of its own: already answered


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


_KEPT = re.compile(r"(%2[fF]|%25)")


def keep_encoded_slashes(raw_path: bytes) -> str:
    """The path decoded except ``%2F`` and ``%25`` (upper-cased), so segments stay segments."""
    text = raw_path.split(b"?", 1)[0].decode("latin-1")
    parts = _KEPT.split(text)
    return "".join(
        part.upper() if i % 2 else unquote(part, errors="replace") for i, part in enumerate(parts)
    )


class EncodedSlashes:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") if scope["type"] in ("http", "websocket") else None
        if isinstance(raw, bytes) and _KEPT.search(raw.decode("latin-1")):
            # the raw path holds the root path as the path does (uvicorn: full_raw_path)
            scope = {**scope, "path": keep_encoded_slashes(raw)}
        await self.app(scope, receive, send)


def segment(value: str) -> str:
    """A path parameter as its name: the escapes ``EncodedSlashes`` kept, decoded."""
    return unquote(value) if "%" in value else value


def quote_segment(value: object) -> str:
    """A name as one path segment (or query value): every reserved character escaped."""
    return quote(str(value), safe="")
