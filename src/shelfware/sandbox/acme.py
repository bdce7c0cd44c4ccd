"""Acme: a made-up SaaS admin API that no built-in connector knows (for custom profiles).

Its shape differs on purpose from every vendor the built-in connectors speak:

- Auth: the API key in the ``X-Acme-Key`` header (missing or wrong: 401).
- ``GET /v1/members?limit=&cursor=``: ``{"items": [...], "meta": {"next_cursor": str | null}}``,
  members ordered by ``member_id``; ``limit`` 1..:data:`MAX_LIMIT` (default 50). A member::

      {"member_id": "mbr_000010000",
       "person": {"login": "...", "email": "..." | null, "name": {"given": "...", "family": "..."}},
       "is_enabled": true, "is_admin": false, "seat_type": "pro" | "standard" | "viewer",
       "joined": "DD/MM/YYYY HH:MM"}                                          (UTC)

- ``GET /v1/members/{member_id}``: one member (404 when unknown).
- ``GET /v1/events?since=&limit=&cursor=``: activity events ``{"event_id", "member_id",
  "kind", "at"}`` with ``at`` in epoch seconds, oldest first, ``since`` (epoch seconds,
  inclusive) filtering them; same envelope and ``limit`` range (default 100, max
  :data:`MAX_EVENT_LIMIT`). A member's newest event is at its ``last_activity`` (to the second).
- ``DELETE /v1/members/{member_id}``: removes the seat (204); unknown member 404; the account
  owner (the API key's holder) 403.
- ``PATCH /v1/members/{member_id}`` with ``{"seat_type": "pro" | "standard" | "viewer"}``:
  changes the member's seat type (200 with the member); another value or body 400; unknown
  member 404.
- Errors: ``{"error": {"code": "...", "message": "...", "request_id": "req_..."}}`` with the HTTP
  status (400 ``bad_request``, 401 ``unauthorized``, 403 ``forbidden``, 404 ``not_found``,
  500 ``internal``).
- Faults: latency, ``error_rate``/``timeout_rate``, ``fail_page`` (1-based page of
  ``/v1/members``, the cursor's position // ``limit`` + 1) and ``fail_reclaim`` (ObjectID of the
  member whose DELETE fails) answer 500.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import hashlib
import itertools
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .faults import FaultDice, FaultSpec
from .org import Organisation, SyntheticUser, generate_org

BASE = "/v1"
KEY_HEADER = "X-Acme-Key"
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_EVENT_LIMIT = 500
DEFAULT_EVENT_LIMIT = 100
SEAT_TYPES: tuple[str, ...] = ("pro", "standard", "viewer")
JOINED_FORMAT = "%d/%m/%Y %H:%M"  # UTC
EVENT_KINDS: tuple[str, ...] = ("sign_in", "board_view", "export")
_SEAT_CUM = (30, 75, 100)  # pro, standard, viewer (percent, cumulative)


@dataclass(frozen=True)
class AcmeEvent:
    event_id: str
    member_id: str
    kind: str
    at: int  # epoch seconds


@dataclass
class AcmeOrganisation(Organisation):
    """A generated organisation as an Acme workspace; ``seat_types`` maps ObjectID -> edition."""

    seat_types: dict[int, str] = field(default_factory=dict)
    events: list[AcmeEvent] = field(default_factory=list)  # sorted by (at, event_id)

    def seat_type(self, user: SyntheticUser) -> str:
        return self.seat_types.get(user.object_id, "standard")

    def sign_in(self, user: SyntheticUser, at: datetime) -> AcmeEvent:
        """Record a sign-in (a new event; the user's last login moves forward to ``at``)."""
        event = AcmeEvent(
            f"evt_{len(self.events) + 1:08d}", acme_member_id(user), "sign_in", epoch(at)
        )
        bisect.insort(self.events, event, key=lambda e: (e.at, e.event_id))
        if user.last_login_date is None or at > user.last_login_date:
            user.last_login_date = at
        return event


def acme_key(seed: int) -> str:
    """The sandbox API key for a seed."""
    return "acme_live_" + hashlib.sha256(f"shelfware-acme:{seed}".encode()).hexdigest()[:32]


def acme_member_id(user: SyntheticUser) -> str:
    return f"mbr_{user.object_id:09d}"


def epoch(value: datetime) -> int:
    """Epoch seconds, rounded down (as Acme reports event times)."""
    return int(value.timestamp())


def _events(rng: random.Random, users: list[SyntheticUser]) -> list[AcmeEvent]:
    """1-4 events per user with activity, the newest at its ``last_activity``."""
    counter = itertools.count(1)
    events = []
    for user in users:
        latest = user.last_activity
        if latest is None:
            continue
        span = max(0.0, (latest - user.creation_date).total_seconds())
        times = [latest - timedelta(seconds=rng.uniform(0, span)) for _ in range(rng.randint(0, 3))]
        for at in [*times, latest]:
            kind = "sign_in" if at == user.last_login_date else rng.choice(EVENT_KINDS)
            event_id = f"evt_{next(counter):08d}"
            events.append(AcmeEvent(event_id, acme_member_id(user), kind, epoch(at)))
    events.sort(key=lambda e: (e.at, e.event_id))
    return events


def generate_acme_org(users: int, seed: int, now: datetime) -> AcmeOrganisation:
    """An Acme workspace over the generated organisation of ``seed``."""
    base = generate_org(users, seed, now)
    rng = random.Random(f"acme:{seed}")
    seats = {
        u.object_id: "pro"
        if u.subscription_admin
        else rng.choices(SEAT_TYPES, cum_weights=_SEAT_CUM)[0]
        for u in base.users
    }
    return AcmeOrganisation(
        users=base.users,
        seed=seed,
        now=base.now,
        api_key=acme_key(seed),
        subscription_id=base.subscription_id,
        seat_types=seats,
        events=_events(rng, base.users),
    )


def member(org: AcmeOrganisation, user: SyntheticUser) -> dict[str, Any]:
    """A user as Acme renders a member."""
    return {
        "member_id": acme_member_id(user),
        "person": {
            "login": user.username,
            "email": user.email or None,
            "name": {"given": user.first_name, "family": user.last_name},
        },
        "is_enabled": not user.disabled,
        "is_admin": user.subscription_admin,
        "seat_type": org.seat_type(user),
        "joined": user.creation_date.astimezone(UTC).strftime(JOINED_FORMAT),
    }


class AcmeSandbox:
    """The mutable state of one Acme sandbox, with counters tests can read."""

    def __init__(self, org: AcmeOrganisation, faults: FaultSpec, latency_ms: float) -> None:
        self.org = org
        self.faults = faults
        self.latency_ms = latency_ms
        self.dice = FaultDice(faults)
        self.requests = 0
        self.deleted: list[str] = []  # member ids, in order
        self.injected_errors = 0
        self.injected_timeouts = 0
        self._requests = itertools.count(1)

    def ordered(self) -> list[SyntheticUser]:
        return sorted(self.org.users, key=acme_member_id)

    def find(self, member_id: str) -> SyntheticUser | None:
        return next((u for u in self.org.users if acme_member_id(u) == member_id), None)

    def remove(self, user: SyntheticUser) -> None:
        self.org.users.remove(user)
        self.org.by_id.pop(user.object_id, None)
        self.deleted.append(acme_member_id(user))

    def error(self, status: int, code: str, message: str) -> Response:
        request_id = f"req_{self.org.seed:x}{next(self._requests):07d}"
        body = {"error": {"code": code, "message": message, "request_id": request_id}}
        return Response(json.dumps(body), status, media_type="application/json")


class _BadRequest(Exception):
    pass


def _json(payload: Any, status: int = 200) -> Response:
    body = json.dumps(payload, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json")


def _encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode(cursor: str, prefix: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    if not text.startswith(prefix):
        raise _BadRequest(f"cursor {cursor!r} is not valid")
    return text.removeprefix(prefix)


def _int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise _BadRequest(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _page(items: list[Any], keys: list[str], request: Request, prefix: str, limit: int) -> Any:
    cursor = request.query_params.get("cursor")
    start = bisect.bisect_right(keys, _decode(cursor, prefix)) if cursor else 0
    page = items[start : start + limit]
    more = start + limit < len(items)
    return start, page, _encode(prefix + keys[start + len(page) - 1]) if more and page else None


async def _guard(sb: AcmeSandbox, request: Request) -> Response | None:
    sb.requests += 1
    delay = sb.latency_ms + sb.faults.latency_ms
    if delay > 0:
        await asyncio.sleep(delay / 1000)
    key = request.headers.get(KEY_HEADER)
    if not key:
        return sb.error(401, "unauthorized", f"missing API key: send it in the {KEY_HEADER} header")
    if key != sb.org.api_key:
        return sb.error(401, "unauthorized", "invalid API key")
    roll_key = f"{request.method} {request.url.path}?{request.url.query}"
    fault = sb.dice.roll(roll_key)
    if fault == "timeout":
        sb.injected_timeouts += 1
        await asyncio.sleep(sb.faults.hang_s)
        return Response("upstream request timeout", 504, media_type="text/plain")
    if fault == "error":
        sb.injected_errors += 1
        if sb.dice.flavour(roll_key):
            return Response("<html><body>503 Service Unavailable</body></html>", 503)
        return sb.error(500, "internal", "unexpected error (injected fault)")
    return None


async def members(request: Request) -> Response:
    """``GET /v1/members?limit=&cursor=``."""
    sb: AcmeSandbox = request.app.state.sandbox
    refused = await _guard(sb, request)
    if refused is not None:
        return refused
    try:
        limit = _int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        ordered = sb.ordered()
        keys = [acme_member_id(u) for u in ordered]
        start, page, next_cursor = _page(ordered, keys, request, "m:", limit)
    except _BadRequest as exc:
        return sb.error(400, "bad_request", str(exc))
    if start // limit + 1 == sb.faults.fail_page:
        sb.injected_errors += 1
        return sb.error(500, "internal", "could not read members (injected fault)")
    return _json({"items": [member(sb.org, u) for u in page], "meta": {"next_cursor": next_cursor}})


async def one_member(request: Request) -> Response:
    """``GET``, ``PATCH`` or ``DELETE /v1/members/{member_id}``."""
    sb: AcmeSandbox = request.app.state.sandbox
    refused = await _guard(sb, request)
    if refused is not None:
        return refused
    member_id = request.path_params["member_id"]
    user = sb.find(member_id)
    if user is None:
        return sb.error(404, "not_found", f"no member {member_id!r}")
    if request.method == "GET":
        return _json(member(sb.org, user))
    if request.method == "PATCH":
        try:
            body = await request.json()
        except ValueError:
            body = None
        seat = body.get("seat_type") if isinstance(body, dict) else None
        if seat not in SEAT_TYPES:
            return sb.error(400, "bad_request", f"seat_type must be one of {', '.join(SEAT_TYPES)}")
        sb.org.seat_types[user.object_id] = seat
        return _json(member(sb.org, user))
    if user is sb.org.owner:
        return sb.error(403, "forbidden", "the workspace owner cannot be removed")
    if user.object_id == sb.faults.fail_reclaim:
        sb.injected_errors += 1
        return sb.error(500, "internal", "could not remove the member (injected fault)")
    sb.remove(user)
    return Response(status_code=204)


async def events(request: Request) -> Response:
    """``GET /v1/events?since=&limit=&cursor=``."""
    sb: AcmeSandbox = request.app.state.sandbox
    refused = await _guard(sb, request)
    if refused is not None:
        return refused
    try:
        since = _int(request, "since", 0, 0, 2**40)
        limit = _int(request, "limit", DEFAULT_EVENT_LIMIT, 1, MAX_EVENT_LIMIT)
        found = sb.org.events[bisect.bisect_left(sb.org.events, since, key=lambda e: e.at) :]
        keys = [f"{e.at:012d}:{e.event_id}" for e in found]
        _, page, next_cursor = _page(found, keys, request, "e:", limit)
    except _BadRequest as exc:
        return sb.error(400, "bad_request", str(exc))
    items = [
        {"event_id": e.event_id, "member_id": e.member_id, "kind": e.kind, "at": e.at} for e in page
    ]
    return _json({"items": items, "meta": {"next_cursor": next_cursor}})


async def _not_found(request: Request, exc: Exception) -> Response:
    sb: AcmeSandbox = request.app.state.sandbox
    return sb.error(404, "not_found", f"no such endpoint: {request.method} {request.url.path}")


async def _not_allowed(request: Request, exc: Exception) -> Response:
    sb: AcmeSandbox = request.app.state.sandbox
    return sb.error(405, "method_not_allowed", f"{request.method} is not allowed here")


def create_acme_app(
    org: AcmeOrganisation, faults: FaultSpec = FaultSpec(), latency_ms: float = 0
) -> Starlette:
    """The Acme API as an ASGI app; its state is ``app.state.sandbox``."""
    app = Starlette(
        routes=[
            Route(f"{BASE}/members", members, methods=["GET"]),
            Route(f"{BASE}/members/{{member_id}}", one_member, methods=["GET", "PATCH", "DELETE"]),
            Route(f"{BASE}/events", events, methods=["GET"]),
        ],
        exception_handlers={404: _not_found, 405: _not_allowed},
    )
    app.state.sandbox = AcmeSandbox(org, faults, latency_ms)
    return app
