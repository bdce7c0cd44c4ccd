"""A small real API for the connector kit's tests: one list of items behind every paging style,
auth echoes, an OAuth token endpoint and rate-limited endpoints. Served over loopback with
uvicorn; the tests change its behaviour through `LabState` and query parameters."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class LabState:
    items: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    # a fixed-window budget announced in X-Rate-Limit-* headers
    budget_limit: int = 5
    budget_window: float = 1.0
    budget_used: int = 0
    budget_window_start: float = 0.0
    budget_429s: int = 0
    # a sliding-window quota answered with 429 + Retry-After
    quota_limit: int = 10
    quota_period: float = 1.0
    quota_times: deque[float] = field(default_factory=deque)
    quota_429s: int = 0
    quota_ok: list[float] = field(default_factory=list)
    # oauth
    tokens_issued: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    token_lifetime: int = 3600
    refresh_tokens: set[str] = field(default_factory=lambda: {"refresh-0"})
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (challenge, uri)

    def fill(self, count: int) -> None:
        self.items = [{"id": 1000 + i, "name": f"item-{i}"} for i in range(count)]


def _int(request: Request, name: str, default: int) -> int:
    return int(request.query_params.get(name, default))


def create_lab(state: LabState) -> Starlette:
    async def index(request: Request) -> Response:
        """start/pagesize with a total; ?cap=N caps the page size, ?grow_at=N adds an item
        when that many index requests have been seen, ?short=P drops one item of page P."""
        with state.lock:
            state.requests += 1
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            seen = state.requests
            if seen == _int(request, "grow_at", -1):
                state.items.insert(0, {"id": 1, "name": "newcomer"})
            items = list(state.items)
        try:
            delay = float(request.query_params.get("delay", "0"))
            if delay:
                import asyncio

                await asyncio.sleep(delay)
            start = _int(request, "start", 1)
            size = min(_int(request, "pagesize", 20), _int(request, "cap", 10**9))
            page = items[start - 1 : start - 1 + size]
            if _int(request, "short", -1) == (start - 1) // max(size, 1) + 1 and page:
                page = page[:-1]
            return JSONResponse({"meta": {"total": len(items)}, "items": page})
        finally:
            with state.lock:
                state.in_flight -= 1

    async def numbered(request: Request) -> Response:
        page, per = _int(request, "page", 1), _int(request, "per_page", 10)
        return JSONResponse({"items": state.items[(page - 1) * per : page * per]})

    async def offset(request: Request) -> Response:
        start, limit = _int(request, "offset", 0), _int(request, "limit", 10)
        return JSONResponse({"items": state.items[start : start + limit]})

    async def cursor(request: Request) -> Response:
        """?loop=1 hands out the same cursor forever; ?stream=1 never ends the cursor (the
        end is an empty page)."""
        size = _int(request, "limit", 10)
        raw = request.query_params.get("cursor") or "0"
        at = 0 if raw == "same" else int(raw)
        chunk = state.items[at : at + size]
        following: str | None = str(at + size)
        if request.query_params.get("loop"):
            following = "same"
        elif at + size >= len(state.items) and not request.query_params.get("stream"):
            following = None
        return JSONResponse(
            {"data": chunk, "next_page": {"offset": following} if following else None}
        )

    async def graphql(request: Request) -> Response:
        body = await request.json()
        variables = body.get("variables") or {}
        first, after = int(variables.get("first", 10)), int(variables.get("after") or 0)
        chunk = state.items[after : after + first]
        more = after + first < len(state.items)
        return JSONResponse(
            {
                "data": {
                    "items": {
                        "nodes": chunk,
                        "pageInfo": {"hasNextPage": more, "endCursor": str(after + first)},
                    }
                }
            }
        )

    async def graphql_error(request: Request) -> Response:
        return JSONResponse({"errors": [{"message": "Field 'nope' doesn't exist"}], "data": None})

    def _next_link(request: Request, at: int, size: int) -> str | None:
        if at + size >= len(state.items):
            return None
        host = request.query_params.get("host")
        base = f"http://{host}" if host else str(request.base_url).rstrip("/")
        extra = "&host=" + host if host else ""
        if request.query_params.get("repeat"):
            return f"{base}{request.url.path}?at=0&limit={size}&repeat=1"
        return f"{base}{request.url.path}?at={at + size}&limit={size}{extra}"

    async def next_url(request: Request) -> Response:
        at, size = _int(request, "at", 0), _int(request, "limit", 10)
        return JSONResponse(
            {"items": state.items[at : at + size], "links": {"next": _next_link(request, at, size)}}
        )

    async def link_header(request: Request) -> Response:
        at, size = _int(request, "at", 0), _int(request, "limit", 10)
        link = _next_link(request, at, size)
        own = str(request.url)
        header = f'<{own}>; rel="self"' + (f', <{link}>; rel="next"' if link else "")
        return JSONResponse(state.items[at : at + size], headers={"Link": header})

    async def echo(request: Request) -> Response:
        return JSONResponse({"headers": dict(request.headers), "query": dict(request.query_params)})

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        auth = request.headers.get("authorization", "")
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if form.get("grant_type") == "authorization_code":
            issued = state.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if client_id != "lab-client" or secret != "lab-secret":
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            if issued is None or issued != (challenge, form.get("redirect_uri")):
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "bad code or verifier"},
                    status_code=400,
                )
            state.refresh_tokens.add("refresh-granted")
            state.valid_tokens = {"granted-token"}
            return JSONResponse(
                {
                    "access_token": "granted-token",
                    "refresh_token": "refresh-granted",
                    "expires_in": 3600,
                    "token_type": "bearer",
                }
            )
        if form.get("grant_type") not in ("client_credentials", "refresh_token"):
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if client_id != "lab-client" or secret != "lab-secret":
            return JSONResponse(
                {"error": "invalid_client", "error_description": "unknown client"},
                status_code=401,
            )
        extra: dict[str, str] = {}
        with state.lock:
            if form.get("grant_type") == "refresh_token":
                used = form.get("refresh_token", "")
                if used not in state.refresh_tokens:
                    return JSONResponse(
                        {"error": "invalid_grant", "error_description": "refresh token revoked"},
                        status_code=400,
                    )
                state.refresh_tokens.discard(used)  # rotation: each refresh token works once
                extra["refresh_token"] = f"refresh-{state.tokens_issued + 1}"
                state.refresh_tokens.add(extra["refresh_token"])
            state.tokens_issued += 1
            value = f"lab-token-{state.tokens_issued}"
            state.valid_tokens = {value}  # a new token replaces the old one
        return JSONResponse(
            {
                "access_token": value,
                "token_type": "bearer",
                "expires_in": state.token_lifetime,
                **extra,
            }
        )

    async def authorize(request: Request) -> Response:
        """Approves at once (a person's consent, simulated); ?deny=1 refuses."""
        query = request.query_params
        target = query["redirect_uri"]
        if query.get("deny"):
            return RedirectResponse(f"{target}?error=access_denied&state={query['state']}")
        code = f"code-{len(state.codes) + 1}"
        state.codes[code] = (query["code_challenge"], target)
        return RedirectResponse(f"{target}?code={code}&state={query['state']}")

    async def protected(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in state.valid_tokens:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"ok": True, "token": auth[7:]})

    async def budget(request: Request) -> Response:
        now = time.time()
        with state.lock:
            if now - state.budget_window_start >= state.budget_window:
                state.budget_window_start = now
                state.budget_used = 0
            reset = state.budget_window_start + state.budget_window
            state.budget_used += 1
            remaining = state.budget_limit - state.budget_used
            headers = {
                "X-Rate-Limit-Limit": str(state.budget_limit),
                "X-Rate-Limit-Remaining": str(max(0, remaining)),
                "X-Rate-Limit-Reset": f"{reset:.3f}",
            }
            if remaining < 0:
                state.budget_429s += 1
                return JSONResponse({"errorCode": "E0000047"}, status_code=429, headers=headers)
        return JSONResponse([{"id": 1}], headers=headers)

    async def quota(request: Request) -> Response:
        now = time.monotonic()
        with state.lock:
            while state.quota_times and state.quota_times[0] <= now - state.quota_period:
                state.quota_times.popleft()
            if len(state.quota_times) >= state.quota_limit:
                state.quota_429s += 1
                wait = state.quota_times[0] + state.quota_period - now
                return JSONResponse(
                    {"errors": [{"message": "rate limited"}]},
                    status_code=429,
                    headers={"Retry-After": str(max(1, round(wait)))},
                )
            state.quota_times.append(now)
            state.quota_ok.append(now)
        return JSONResponse({"data": []})

    return Starlette(
        routes=[
            Route("/index", index),
            Route("/numbered", numbered),
            Route("/offset", offset),
            Route("/cursor", cursor),
            Route("/graphql", graphql, methods=["POST"]),
            Route("/graphql-error", graphql_error, methods=["POST"]),
            Route("/next-url", next_url),
            Route("/link", link_header),
            Route("/echo", echo),
            Route("/oauth/token", token, methods=["POST"]),
            Route("/oauth/authorize", authorize),
            Route("/protected", protected),
            Route("/budget", budget),
            Route("/quota", quota),
        ]
    )
