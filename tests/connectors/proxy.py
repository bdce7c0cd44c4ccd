"""A tiny reverse proxy on loopback (Starlette + uvicorn, real HTTP) in front of a sandbox.

It forwards every request, except those that mention one of `blocked` (in the path or the
body): those the proxy answers itself with a 404 page of its own, as a misrouted load balancer,
an API gateway without the route, or a proxy in front of the wrong service would. Such a 404
says nothing about the account the request was for."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shelfware.sandbox.server import serve_in_thread

HOP_BY_HOP = frozenset(
    {"host", "content-length", "connection", "transfer-encoding", "content-encoding"}
)
# page name -> (body for a request path, media type)
PAGES = ("html", "empty", "json")


def page(kind: str, path: str) -> tuple[bytes, str | None]:
    if kind == "html":
        body = "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1>"
        body += f"<p>The requested URL {path} was not found on this server.</p></body></html>"
        return body.encode(), "text/html"
    if kind == "empty":
        return b"", None
    return json.dumps({"message": "Not Found", "path": path}).encode(), "application/json"


@dataclass
class Proxy:
    url: str  # the proxy's origin plus the upstream URL's path
    blocked: set[str] = field(default_factory=set)
    kind: str = "html"
    answered: int = 0  # 404s the proxy answered itself


@contextlib.contextmanager
def proxy_404(
    upstream_url: str, blocked: set[str] | None = None, kind: str = "html"
) -> Iterator[Proxy]:
    parts = urlsplit(upstream_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    state = Proxy(url="", blocked=set(blocked or ()), kind=kind)

    async def forward(request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        if any(m in path or m.encode() in body for m in state.blocked):
            state.answered += 1
            content, media = page(state.kind, path)
            return Response(content, 404, media_type=media)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with httpx.AsyncClient(base_url=origin, timeout=30) as client:
            answer = await client.request(
                request.method,
                path + (f"?{request.url.query}" if request.url.query else ""),
                headers=headers,
                content=body,
            )
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        return Response(answer.content, answer.status_code, headers=kept)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    app = Starlette(routes=[Route("/{path:path}", forward, methods=methods)])
    with serve_in_thread(app) as server:
        state.url = server.url + parts.path
        yield state
