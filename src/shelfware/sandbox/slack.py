"""The Slack Web API, as far as direct messages go, over a synthetic workspace.

Served at ``/api/{method}`` like ``https://slack.com/api/{method}`` (set
``SHELFWARE_SLACK_API_URL`` to ``{server.url}/api/``). What it does, as Slack does:

- Arguments from the query string, a form body (``application/x-www-form-urlencoded``) or a
  JSON body (``application/json``), merged; ``blocks`` as a JSON string (form) or a list (JSON).
- The bot token in ``Authorization: Bearer xoxb-...`` (or, the legacy way, a ``token``
  argument in a form body or the query; never in a JSON body). Missing: ``not_authed``;
  anything else than the workspace's bot token: ``invalid_auth``.
- Errors are HTTP 200 with ``{"ok": false, "error": "..."}``; a rate limit is HTTP 429 with
  ``Retry-After`` (whole seconds) and ``{"ok": false, "error": "ratelimited"}``.
- Rate limits per method and token over a sliding window (a minute by default): Tier 3 (50)
  for ``users.lookupByEmail`` and ``conversations.open``, Tier 4 (100) for ``auth.test``;
  ``chat.postMessage`` is "special": about one message a second per channel (60 a minute).
  Tests shrink the window and the limits, or force the next answers to be 429
  (``force_rate_limit``).
- ``auth.test``; ``users.lookupByEmail`` (``email``, case-insensitive: ``users_not_found``,
  also for deactivated members); ``conversations.open`` (``users``: one member id, or up to 8
  comma-separated for a group DM; ``user_not_found``, ``users_list_not_supplied``; the same
  DM comes back with ``already_open``); ``chat.postMessage`` (``channel``: a conversation
  opened before, else ``channel_not_found``; ``text`` and/or ``blocks``, else ``no_text``;
  ``invalid_blocks``, also for a section text over 3,000 characters; ``msg_too_long`` past
  40,000 characters). Unknown methods answer
  ``unknown_method``.

What was delivered: ``SlackSandbox.messages`` (tests, in process) and
``GET /_sandbox/messages`` (with the bot token: a demo's way to see the DMs).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import FaultSpec, fault_middleware
from .org import generate_org

TEAM_ID = "T0SANDBOX"
BOT_USER_ID = "U0SHELFBOT"
BOT_ID = "B0SHELFBOT"
MAX_TEXT = 40_000
MAX_SECTION = 3000  # characters of a section block's text
MAX_GROUP_DM = 8
# Requests per window (per method and token; chat.postMessage per channel).
TIER_3, TIER_4 = 50, 100
DEFAULT_LIMITS: dict[str, int] = {
    "auth.test": TIER_4,
    "users.lookupByEmail": TIER_3,
    "conversations.open": TIER_3,
    "chat.postMessage": 60,
}


@dataclass
class SlackMember:
    id: str
    email: str
    name: str
    real_name: str
    deleted: bool = False
    is_bot: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "tz": "Europe/Paris",
            "profile": {
                "email": self.email,
                "real_name": self.real_name,
                "display_name": self.name,
                "team": TEAM_ID,
            },
        }


@dataclass
class PostedMessage:
    """One message as ``chat.postMessage`` received it."""

    channel: str
    members: tuple[str, ...]  # the conversation's members (the bot excluded)
    emails: tuple[str, ...]
    text: str
    blocks: list[dict[str, Any]]
    ts: str

    def buttons(self) -> dict[str, str]:
        """Label -> url of the link buttons in the message's blocks."""
        found = {}
        for block in self.blocks:
            for element in block.get("elements", []) if isinstance(block, dict) else []:
                if isinstance(element, dict) and element.get("type") == "button":
                    found[str(element.get("text", {}).get("text"))] = str(element.get("url"))
        return found


@dataclass
class SlackWorkspace:
    """The sandbox's workspace: its members and the bot token (``api_key``)."""

    members: dict[str, SlackMember]
    api_key: str

    @property
    def users(self) -> list[SlackMember]:
        return list(self.members.values())


def token_for(seed: int) -> str:
    return "xoxb-0000-" + hashlib.sha256(f"shelfware-slack:{seed}".encode()).hexdigest()[:24]


def generate_workspace(users: int, seed: int, now: datetime) -> SlackWorkspace:
    """Members with the emails of the synthetic organisation of the same seed (so the Rally
    sandbox's people have Slack accounts); those without an email are left out."""
    org = generate_org(users, seed, now)
    members = {}
    for n, user in enumerate(org.users, start=1):
        if user.email:
            member_id = f"U{n:08d}"
            members[member_id] = SlackMember(
                member_id, user.email, user.username.split("@")[0], user.display_name
            )
    return SlackWorkspace(members, token_for(seed))


class RateLimiter:
    """Sliding-window counts per key; ``hit`` answers None (go on) or the seconds to wait."""

    def __init__(self, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window_seconds
        self.clock = clock
        self._seen: dict[tuple[str, ...], deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: tuple[str, ...], limit: int) -> int | None:
        now = self.clock()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if len(seen) >= limit:
                return max(1, math.ceil(seen[0] + self.window - now))
            seen.append(now)
            return None


@dataclass
class SlackSandbox:
    """The state of one Slack sandbox; tests read ``messages`` and ``calls``."""

    workspace: SlackWorkspace
    faults: FaultSpec = field(default_factory=FaultSpec)
    latency_ms: float = 0.0
    window_seconds: float = 60.0
    limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    messages: list[PostedMessage] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # method of every authenticated call
    rate_limited: list[str] = field(default_factory=list)  # methods answered 429
    _dms: dict[tuple[str, ...], str] = field(default_factory=dict)
    _forced: list[int] = field(default_factory=list)  # Retry-After of the next forced 429s
    _ts: int = 0

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.window_seconds)
        self.lock = threading.Lock()

    @property
    def token(self) -> str:
        return self.workspace.api_key

    def add_member(self, email: str, name: str = "", *, deleted: bool = False) -> SlackMember:
        member_id = f"U{len(self.workspace.members) + 1:08d}X"
        local = email.split("@")[0]
        member = SlackMember(member_id, email, local, name or local, deleted=deleted)
        self.workspace.members[member_id] = member
        return member

    def force_rate_limit(self, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls answer 429 with ``Retry-After: retry_after``."""
        self._forced.extend([retry_after] * times)

    def messages_to(self, email: str) -> list[PostedMessage]:
        wanted = email.lower()
        return [m for m in self.messages if wanted in m.emails]

    def by_email(self, email: str) -> SlackMember | None:
        wanted = email.strip().lower()
        for member in self.workspace.members.values():
            if member.email.lower() == wanted:
                return member
        return None

    def next_ts(self) -> str:
        with self.lock:
            self._ts += 1
            return f"{int(time.time())}.{self._ts:06d}"


def _ok(**body: Any) -> JSONResponse:
    return JSONResponse({"ok": True, **body})


def _error(error: str, status: int = 200, **extra: Any) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error, **extra}, status)


def _ratelimited(seconds: int) -> JSONResponse:
    response = _error("ratelimited", 429)
    response.headers["Retry-After"] = str(seconds)
    return response


async def _arguments(request: Request) -> tuple[dict[str, Any], str | None] | JSONResponse:
    """The call's arguments (query, then body) and the token it carried, or an error."""
    args: dict[str, Any] = dict(request.query_params)
    token_in_args = args.pop("token", None)
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and kind == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            return _error("invalid_json")
        if not isinstance(data, dict):
            return _error("json_not_object")
        if "token" in data:  # Slack: a token in a JSON body is not read
            data.pop("token")
        args.update(data)
    elif body and kind in ("application/x-www-form-urlencoded", ""):
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        token_in_args = form.pop("token", None) or token_in_args
        args.update(form)
    elif body and kind != "multipart/form-data":
        return _error("invalid_form_data")
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    token = bearer.strip() if scheme.lower() == "bearer" and bearer.strip() else token_in_args
    return args, token


def create_slack_app(
    workspace: SlackWorkspace,
    faults: FaultSpec | None = None,
    latency_ms: float = 0.0,
    *,
    window_seconds: float = 60.0,
    limits: dict[str, int] | None = None,
) -> Starlette:
    sb = SlackSandbox(
        workspace,
        faults or FaultSpec(),
        latency_ms,
        window_seconds,
        {**DEFAULT_LIMITS, **(limits or {})},
    )

    def auth_test(args: dict[str, Any], token: str) -> JSONResponse:
        return _ok(
            url="https://shelfware-sandbox.slack.com/",
            team="shelfware sandbox",
            user="shelfware",
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id=BOT_ID,
        )

    def lookup_by_email(args: dict[str, Any], token: str) -> JSONResponse:
        email = args.get("email")
        if not isinstance(email, str) or not email.strip():
            return _error("invalid_arguments")
        member = sb.by_email(email)
        if member is None or member.deleted:
            return _error("users_not_found")
        return _ok(user=member.as_json())

    def conversations_open(args: dict[str, Any], token: str) -> JSONResponse:
        raw = args.get("users")
        if isinstance(raw, list):
            raw = ",".join(str(u) for u in raw)
        if not isinstance(raw, str) or not raw.strip():
            if args.get("channel"):
                return _error("method_not_supported_for_channel_type")
            return _error("users_list_not_supplied")
        users = tuple(sorted({u.strip() for u in raw.split(",") if u.strip()}))
        if len(users) > MAX_GROUP_DM:
            return _error("too_many_users")
        for user in users:
            member = sb.workspace.members.get(user)
            if member is None:
                return _error("user_not_found")
            if member.deleted:
                return _error("user_disabled")
        with sb.lock:
            already = users in sb._dms
            if not already:
                prefix = "D" if len(users) == 1 else "C"
                digest = hashlib.sha256(",".join(users).encode()).hexdigest()[:9].upper()
                sb._dms[users] = f"{prefix}{digest}"
        extra = {"no_op": True, "already_open": True} if already else {}
        return _ok(channel={"id": sb._dms[users]}, **extra)

    def post_message(args: dict[str, Any], token: str) -> JSONResponse:
        channel = args.get("channel")
        members = next((u for u, c in sb._dms.items() if c == channel), None)
        if not isinstance(channel, str) or members is None:
            return _error("channel_not_found")
        text = args.get("text")
        blocks: Any = args.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks) if blocks.strip() else None
            except ValueError:
                return _error("invalid_blocks")
        if blocks is not None and (
            not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks)
        ):
            return _error("invalid_blocks")
        for block in blocks or []:  # Slack's block limits, as far as we send blocks
            section = block.get("text") if block.get("type") == "section" else None
            if isinstance(section, dict) and len(str(section.get("text", ""))) > MAX_SECTION:
                return _error("invalid_blocks")
        if not (isinstance(text, str) and text) and not blocks:
            return _error("no_text")
        text = text if isinstance(text, str) else ""
        if len(text) > MAX_TEXT:
            return _error("msg_too_long")
        ts = sb.next_ts()
        emails = tuple(sb.workspace.members[u].email.lower() for u in members)
        sb.messages.append(PostedMessage(channel, members, emails, text, blocks or [], ts))
        message = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "text": text,
            "blocks": blocks or [],
            "ts": ts,
        }
        return _ok(channel=channel, ts=ts, message=message)

    methods: dict[str, Callable[[dict[str, Any], str], JSONResponse]] = {
        "auth.test": auth_test,
        "users.lookupByEmail": lookup_by_email,
        "conversations.open": conversations_open,
        "chat.postMessage": post_message,
    }

    async def api(request: Request) -> Response:
        delay = sb.latency_ms + sb.faults.latency_ms
        if delay:
            await asyncio.sleep(delay / 1000)
        method = request.path_params["method"]
        parsed = await _arguments(request)
        if isinstance(parsed, JSONResponse):
            return parsed
        args, token = parsed
        if method not in methods:
            return _error("unknown_method")
        if not token:
            return _error("not_authed")
        if token != sb.token or not token.startswith("xoxb-"):
            return _error("invalid_auth")
        if sb._forced:
            sb.rate_limited.append(method)
            return _ratelimited(sb._forced.pop(0))
        key: tuple[str, ...] = (method, token)
        if method == "chat.postMessage":  # "special": per channel
            key = (method, token, str(args.get("channel")))
        wait = sb.limiter.hit(key, sb.limits.get(method, TIER_3))
        if wait is not None:
            sb.rate_limited.append(method)
            return _ratelimited(wait)
        sb.calls.append(method)
        return methods[method](args, token)

    async def delivered(request: Request) -> Response:
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or bearer.strip() != sb.token:
            return _error("invalid_auth")
        return _ok(
            messages=[
                {"channel": m.channel, "emails": list(m.emails), "text": m.text, "ts": m.ts}
                | {"blocks": m.blocks}
                for m in sb.messages
            ]
        )

    app = Starlette(
        routes=[
            Route("/api/{method}", api, methods=["GET", "POST"]),
            Route("/_sandbox/messages", delivered, methods=["GET"]),
        ],
        middleware=[fault_middleware(sb.faults, "slack")],
    )
    app.state.slack = sb
    return app
