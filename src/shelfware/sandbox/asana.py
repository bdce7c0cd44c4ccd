"""A local emulator of the Asana REST API 1.0 (workspaces, memberships, audit log, removeUser).

Served under ``/api/1.0`` with ``Authorization: Bearer <token>`` (a personal access token of the
organisation, or an access token from the sandbox's own OAuth server under ``/-/``, see
:mod:`.asana_oauth`). Errors use ``{"errors": [{"message", "help"}]}``. Time (retention, token
and offset expiry, the rate-limit window) is a :class:`SandboxClock` that starts at the
organisation's ``now`` and that tests may ``advance``.

Assumptions where Asana's behaviour is not documented (kept here, in one place):

- An unknown ``opt_fields`` name answers 400; a nested object asked for without a sub-field
  (``opt_fields=user``) gives its ``gid`` and ``resource_type``.
- Without ``limit`` a collection comes whole (no ``next_page``) unless it holds more than
  :data:`MAX_UNPAGINATED` items (400, "use pagination"); the audit log then pages by 1000.
- Offsets are bound to their path and filters, and expire ``offset_ttl`` seconds after issue.
- ``GET /users`` lists the active members only; a workspace the token's user is not an active
  member of answers 403; the Audit Log API answers 402 outside Enterprise organisations and 403
  to a non-admin.
- The audit log's ``next_page`` is null only when no event matches the filters; otherwise it is
  always present, the end showing as an empty ``data`` page (the stream behaviour).
- The rate limit counts authorised requests of all tokens together in a sliding 60-second window;
  beyond 50 concurrent reads or 15 concurrent writes requests answer 429 too.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import hashlib
import hmac
import json
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.datastructures import Headers, QueryParams
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .asana_oauth import AuthorizationServer
from .asana_org import RETENTION, AsanaOrganisation, AsanaUser, AuditEvent, Membership, Workspace
from .faults import FaultDice, FaultSpec

API = "/api/1.0"
MAX_LIMIT = 100
MAX_UNPAGINATED = 1000
AUDIT_DEFAULT_LIMIT = 1000
DEFAULT_RATE_LIMIT = 1500
DEFAULT_OFFSET_TTL = 30 * 60.0
MAX_READS, MAX_WRITES = 50, 15
HELP = (
    "For more information on API status codes and how to handle them, "
    "read the docs on errors: https://developers.asana.com/docs/errors"
)

Record = dict[str, Any]
T = TypeVar("T")


class ApiError(Exception):
    """An error answered in Asana's shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body: Record = {"message": message, "help": HELP}
    if status >= 500:
        body["phrase"] = "6 sad squid snuggle softly"
    return JSONResponse({"errors": [body]}, status, headers=headers)


def format_time(value: datetime) -> str:
    """Asana's timestamp format, e.g. ``2025-06-01T12:00:00.000Z``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class SandboxClock:
    """The sandbox's time: ``start`` plus real elapsed time plus whatever tests ``advance``."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self._t0 = time.monotonic()
        self._skew = 0.0

    def seconds(self) -> float:
        return time.monotonic() - self._t0 + self._skew

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds())

    def advance(self, seconds: float) -> None:
        self._skew += seconds


# --- representations --------------------------------------------------------------------------


def workspace_full(ws: Workspace) -> Record:
    domains = ws.email_domains
    return {**ws.compact(), "is_organization": ws.is_organization, "email_domains": domains}


def user_full(user: AsanaUser, workspaces: list[Workspace] | None = None) -> Record:
    out = {**user.compact(), "email": user.email, "photo": None}
    if workspaces is not None:
        out["workspaces"] = [w.compact() for w in workspaces]
    return out


def membership_full(m: Membership) -> Record:
    return {
        "gid": m.gid,
        "resource_type": "workspace_membership",
        "user": user_full(m.user),
        "workspace": workspace_full(m.workspace),
        "is_active": m.is_active,
        "is_admin": m.is_admin,
        "is_guest": m.is_guest,
        "is_view_only": False,
        "created_at": format_time(m.created_at),
        "vacation_dates": None,
    }


def membership_compact(m: Membership) -> Record:
    return {
        "gid": m.gid,
        "resource_type": "workspace_membership",
        "user": m.user.compact(),
        "workspace": m.workspace.compact(),
    }


def event_record(e: AuditEvent) -> Record:
    if e.event_category == "logins":
        resource = {"resource_type": "user", "gid": e.actor.gid, "name": e.actor.name}
    else:
        name = f"Task {e.resource_gid}"
        resource = {"resource_type": "task", "gid": e.resource_gid, "name": name}
    octet = int(e.gid) % 250 + 1
    return {
        "gid": e.gid,
        "created_at": format_time(e.created_at),
        "event_type": e.event_type,
        "event_category": e.event_category,
        "actor": {
            "actor_type": "user",
            "gid": e.actor.gid,
            "name": e.actor.name,
            "email": e.actor.email,
        },
        "resource": resource,
        "details": {},
        "context": {
            "context_type": "web",
            "client_ip_address": f"192.0.2.{octet}",
            "user_agent": "Mozilla/5.0 (sandbox)",
        },
    }


def project(full: Record, paths: list[str], where: str = "") -> Record:
    """``gid`` plus exactly the (dotted) fields asked for."""
    out: Record = {"gid": full["gid"]} if "gid" in full else {}
    groups: dict[str, list[str]] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        groups.setdefault(head, [])
        if rest:
            groups[head].append(rest)
    for head, rests in groups.items():
        if head not in full:
            raise ApiError(400, f"opt_fields: Unknown field: {where}{head}")
        value = full[head]
        nested = value if isinstance(value, dict) else None
        items = value if isinstance(value, list) else None
        if not rests:
            if nested is not None:
                value = {k: nested[k] for k in ("gid", "resource_type") if k in nested}
            elif items is not None:
                value = [{k: v[k] for k in ("gid", "resource_type") if k in v} for v in items]
            out[head] = value
        elif nested is not None:
            out[head] = project(nested, rests, f"{where}{head}.")
        elif items is not None:
            out[head] = [project(v, rests, f"{where}{head}.") for v in items]
        else:
            raise ApiError(400, f"opt_fields: {where}{head} has no sub-fields")
    return out


def render(full: Record, compact: Record, params: QueryParams) -> Record:
    raw = params.get("opt_fields")
    if raw is None:
        return compact
    paths = [p.strip() for p in raw.split(",") if p.strip()]
    return project(full, paths)


# --- state ----------------------------------------------------------------------------------------


class AsanaSandbox:
    """The mutable state of one Asana sandbox, with counters tests can read."""

    def __init__(
        self,
        org: AsanaOrganisation,
        faults: FaultSpec = FaultSpec(),
        latency_ms: float = 0,
        *,
        rate_limit: int = DEFAULT_RATE_LIMIT,
        offset_ttl: float = DEFAULT_OFFSET_TTL,
        access_token_ttl: float = 3600,
        clock: SandboxClock | None = None,
    ) -> None:
        self.org = org
        self.faults = faults
        self.latency_ms = latency_ms
        self.rate_limit = rate_limit
        self.offset_ttl = offset_ttl
        self.clock = clock or SandboxClock(org.now)
        self.dice = FaultDice(faults)
        self.oauth = AuthorizationServer(
            self.clock.now, self.user_info, org.owner.gid, access_token_ttl
        )
        self.requests = 0
        self.throttled = 0
        self.remove_calls = 0
        self.injected_errors = 0
        self.injected_timeouts = 0
        self.reads = self.writes = 0
        self.window: deque[float] = deque()
        self.event_times = [e.created_at for e in org.events]
        self.event_keys = [f"{format_time(e.created_at)}|{e.gid}" for e in org.events]
        self._secret = hashlib.sha256(f"asana-offsets:{org.seed}".encode()).digest()

    def user_info(self, gid: str) -> Record:
        user = self.org.by_gid[gid]
        return {"id": int(gid), "gid": gid, "name": user.name, "email": user.email}

    def authenticate(self, authorization: str | None) -> tuple[str | None, str]:
        """(user gid, "") for a valid bearer token, else (None, why)."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "Not Authorized"
        token = token.strip()
        gid = self.org.tokens.get(token)
        if gid is not None:
            return gid, ""
        gid, why = self.oauth.user_for(token)
        return gid, why or "Not Authorized"

    def admit(self) -> float | None:
        """Record a request in the sliding window; the seconds to wait when over the limit."""
        now = self.clock.seconds()
        while self.window and self.window[0] <= now - 60:
            self.window.popleft()
        if len(self.window) >= self.rate_limit:
            return self.window[0] + 60 - now
        self.window.append(now)
        return None

    # offsets: base64url(JSON) + "." + HMAC, bound to a scope (path and filters)

    def offset_for(self, scope: str, key: str) -> str:
        payload = json.dumps({"s": scope, "k": key, "t": self.clock.seconds()}).encode()
        body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        sig = hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()[:24]
        return f"{body}.{sig}"

    def read_offset(self, scope: str, token: str) -> str:
        body, _, sig = token.partition(".")
        good = hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()[:24]
        try:
            if not hmac.compare_digest(sig, good):
                raise ValueError
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            key, issued, bound = str(data["k"]), float(data["t"]), str(data["s"])
        except (ValueError, KeyError, TypeError):
            raise ApiError(400, "offset: Your pagination token is invalid.") from None
        if bound != scope:
            raise ApiError(400, "offset: Your pagination token belongs to another request.")
        if self.clock.seconds() - issued > self.offset_ttl:
            raise ApiError(
                400, "offset: Your pagination token has expired. Start again without an offset."
            )
        return key

    def active_workspaces(self, user_gid: str) -> list[Workspace]:
        return [
            w
            for w in self.org.workspaces
            if (m := self.org.membership(w.gid, user_gid)) is not None and m.is_active
        ]

    def workspace_for(self, gid: str, user_gid: str) -> Workspace:
        if not gid.isdigit():
            raise ApiError(400, f"workspace: Not a recognized ID: {gid}")
        ws = self.org.workspace(gid)
        if ws is None:
            raise ApiError(404, f"workspace: Unknown object: {gid}")
        member = self.org.membership(gid, user_gid)
        if member is None or not member.is_active:
            raise ApiError(403, "Forbidden: you are not a member of this workspace.")
        return ws

    def remove_user(self, ws: Workspace, actor_gid: str, ref: str) -> None:
        actor = self.org.membership(ws.gid, actor_gid)
        if actor is None or not actor.is_admin:
            raise ApiError(403, "Forbidden: only an admin of the workspace can remove users.")
        members = self.org.members(ws.gid)
        if ref == "me":
            ref = actor_gid
        target = next(
            (m for m in members if m.user.gid == ref or m.user.email.lower() == ref.lower()),
            None,
        )
        if target is None:
            raise ApiError(404, f"user: Unknown object: {ref}")
        self.remove_calls += 1
        target.is_active = False


# --- endpoints --------------------------------------------------------------------------------


def _limit(params: QueryParams, default: int | None) -> int | None:
    raw = params.get("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, f"limit: Not a valid integer: {raw}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"limit: Must be between 1 and {MAX_LIMIT}, got {limit}.")
    return limit


def _scope(request: Request, filters: Iterable[str]) -> str:
    p = request.query_params
    return request.url.path + "?" + "&".join(f"{k}={p.get(k, '')}" for k in filters)


def _next_page(request: Request, offset: str) -> Record:
    params = {k: v for k, v in request.query_params.items() if k != "offset"}
    params["offset"] = offset
    path = request.url.path.removeprefix(API) + "?" + urlencode(params)
    base = f"{request.url.scheme}://{request.url.netloc}{API}"
    return {"offset": offset, "path": path, "uri": base + path}


def paged(
    sb: AsanaSandbox,
    request: Request,
    keys: Sequence[str],
    items: Sequence[T],
    to_record: Callable[[T], Record],
    filters: Iterable[str] = (),
) -> Response:
    """One page of ``items`` (sorted by their ``keys``): ``limit`` and ``offset``."""
    params = request.query_params
    offset = params.get("offset")
    limit = _limit(params, MAX_LIMIT if offset is not None else None)
    scope = _scope(request, filters)
    if limit is None:
        if len(items) > MAX_UNPAGINATED:
            raise ApiError(400, "The result is too large. You should use pagination (limit).")
        return JSONResponse({"data": [to_record(i) for i in items]})
    start = 0
    if offset is not None:
        start = bisect.bisect_right(keys, sb.read_offset(scope, offset))
    page = items[start : start + limit]
    end = start + len(page)
    more = len(items) > end
    next_page = _next_page(request, sb.offset_for(scope, keys[end - 1])) if more else None
    return JSONResponse({"data": [to_record(i) for i in page], "next_page": next_page})


def _sandbox(request: Request) -> tuple[AsanaSandbox, str]:
    return request.app.state.sandbox, request.scope["asana_user"]


async def list_workspaces(request: Request) -> Response:
    sb, me = _sandbox(request)
    p = request.query_params
    spaces = sb.active_workspaces(me)
    keys = [w.gid for w in spaces]
    return paged(sb, request, keys, spaces, lambda w: render(workspace_full(w), w.compact(), p))


async def get_workspace(request: Request) -> Response:
    sb, me = _sandbox(request)
    ws = sb.workspace_for(request.path_params["gid"], me)
    return JSONResponse({"data": render(workspace_full(ws), ws.compact(), request.query_params)})


async def get_user(request: Request) -> Response:
    sb, me = _sandbox(request)
    gid = request.path_params["gid"]
    gid = me if gid == "me" else gid
    user = sb.org.by_gid.get(gid)
    if user is None:
        raise ApiError(404, f"user: Unknown object: {gid}")
    full = user_full(user, sb.active_workspaces(user.gid))
    return JSONResponse({"data": render(full, user.compact(), request.query_params)})


async def list_users(request: Request) -> Response:
    sb, me = _sandbox(request)
    raw = request.query_params.get("workspace")
    spaces = [sb.workspace_for(raw, me)] if raw is not None else sb.active_workspaces(me)
    users: dict[str, AsanaUser] = {}
    for ws in spaces:
        users.update({m.user.gid: m.user for m in sb.org.members(ws.gid) if m.is_active})
    p = request.query_params
    keys = sorted(users)
    objects = [users[k] for k in keys]

    def to_record(u: AsanaUser) -> Record:
        return render(user_full(u), u.compact(), p)

    return paged(sb, request, keys, objects, to_record, ["workspace"])


async def list_memberships(request: Request) -> Response:
    sb, me = _sandbox(request)
    ws = sb.workspace_for(request.path_params["gid"], me)
    p = request.query_params
    members = sb.org.members(ws.gid)
    keys = sb.org.member_keys(ws.gid)
    return paged(
        sb, request, keys, members, lambda m: render(membership_full(m), membership_compact(m), p)
    )


async def user_memberships(request: Request) -> Response:
    """`GET /users/{gid}/workspace_memberships`: a user's memberships in the workspaces the
    caller can see (how a connector re-reads one member)."""
    sb, me = _sandbox(request)
    gid = request.path_params["gid"]
    gid = me if gid == "me" else gid
    if gid not in sb.org.by_gid:
        raise ApiError(404, f"user: Unknown object: {gid}")
    visible = {w.gid for w in sb.active_workspaces(me)}
    found = [m for m in sb.org.memberships if m.user.gid == gid and m.workspace.gid in visible]
    p = request.query_params
    return paged(
        sb,
        request,
        [m.gid for m in found],
        found,
        lambda m: render(membership_full(m), membership_compact(m), p),
    )


async def get_membership(request: Request) -> Response:
    sb, me = _sandbox(request)
    gid = request.path_params["gid"]
    m = next((m for m in sb.org.memberships if m.gid == gid), None)
    if m is None:
        raise ApiError(404, f"workspace_membership: Unknown object: {gid}")
    sb.workspace_for(m.workspace.gid, me)
    data = render(membership_full(m), membership_compact(m), request.query_params)
    return JSONResponse({"data": data})


def _time_param(params: QueryParams, name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace(" ", "+"))
    except ValueError:
        raise ApiError(400, f"{name}: Not a valid ISO 8601 date-time: {raw}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


AUDIT_FILTERS = ("start_at", "end_at", "event_type", "actor_type", "actor_gid", "resource_gid")


async def audit_log_events(request: Request) -> Response:
    """The Audit Log API: a stream over the events kept (90 days), ascending."""
    sb, me = _sandbox(request)
    ws = sb.workspace_for(request.path_params["gid"], me)
    if not (ws.is_organization and ws.enterprise):
        raise ApiError(402, "The Audit Log API is only available to Enterprise organizations.")
    member = sb.org.membership(ws.gid, me)
    if member is None or not member.is_admin:
        raise ApiError(403, "Forbidden: the Audit Log API needs an admin or service account.")
    p = request.query_params
    now = sb.clock.now()
    start, end = _time_param(p, "start_at"), _time_param(p, "end_at")
    floor = now - RETENTION if start is None else max(start, now - RETENTION)
    ceiling = now if end is None else min(end, now)
    kind, actor, actor_type = p.get("event_type"), p.get("actor_gid"), p.get("actor_type")
    resource = p.get("resource_gid")
    limit = _limit(p, AUDIT_DEFAULT_LIMIT)
    assert limit is not None
    scope = _scope(request, AUDIT_FILTERS)
    offset = p.get("offset")
    after = sb.read_offset(scope, offset) if offset is not None else None
    events, keys = sb.org.events, sb.event_keys
    i = bisect.bisect_left(sb.event_times, floor)
    hi = bisect.bisect_left(sb.event_times, ceiling)
    if after is not None:
        i = max(i, bisect.bisect_right(keys, after))
    page: list[int] = []
    while i < hi and len(page) < limit:
        e = events[i]
        if (
            e.workspace_gid == ws.gid
            and (kind is None or e.event_type == kind)
            and (actor is None or e.actor.gid == actor)
            and (actor_type is None or actor_type == "user")
            and (resource is None or resource in (e.resource_gid, e.actor.gid))
        ):
            page.append(i)
        i += 1
    if after is None and not page:  # no event matches the filters at all
        return JSONResponse({"data": [], "next_page": None})
    last = keys[page[-1]] if page else (after or "")
    return JSONResponse(
        {
            "data": [event_record(events[j]) for j in page],
            "next_page": _next_page(request, sb.offset_for(scope, last)),
        }
    )


async def remove_user(request: Request) -> Response:
    sb, me = _sandbox(request)
    ws = sb.workspace_for(request.path_params["gid"], me)
    try:
        doc = json.loads(await request.body())
    except ValueError:
        raise ApiError(400, "Could not parse request data, invalid JSON") from None
    data = doc.get("data") if isinstance(doc, dict) else None
    ref = data.get("user") if isinstance(data, dict) else None
    if not isinstance(ref, str) or not ref.strip():
        raise ApiError(400, 'user: Missing input (expected {"data": {"user": "<gid or email>"}})')
    sb.remove_user(ws, me, ref.strip())
    return JSONResponse({"data": {}})


async def not_found(request: Request) -> Response:
    return error_response(404, "No matching route for request")


def _api(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        try:
            response: Response = await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.message)
        return response

    return run


# --- guard ------------------------------------------------------------------------------------


class _Guard:
    """Latency, bearer auth, the per-minute and concurrency limits, and random faults."""

    def __init__(self, app: ASGIApp, sandbox: AsanaSandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sb = self.sandbox
        delay_ms = sb.latency_ms + sb.faults.latency_ms
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        if not scope["path"].startswith(API + "/"):
            await self.app(scope, receive, send)
            return
        sb.requests += 1
        user, why = sb.authenticate(Headers(scope=scope).get("authorization"))
        if user is None:
            await error_response(401, why)(scope, receive, send)
            return
        wait = sb.admit()
        write = scope["method"] != "GET"
        busy = sb.writes >= MAX_WRITES if write else sb.reads >= MAX_READS
        if wait is not None or busy:
            sb.throttled += 1
            seconds = max(1, math.ceil(wait)) if wait is not None else 1
            msg = "You have made too many requests recently. Please, be chill."
            response = error_response(429, msg, {"Retry-After": str(seconds)})
            await response(scope, receive, send)
            return
        scope["asana_user"] = user
        key = f"{scope['method']} {scope['path']}?{scope['query_string'].decode()}"
        fault = sb.dice.roll(key)
        if write:
            sb.writes += 1
        else:
            sb.reads += 1
        try:
            if fault == "timeout":
                sb.injected_timeouts += 1
                await asyncio.sleep(sb.faults.hang_s)
                await error_response(504, "Gateway Timeout (injected fault)")(scope, receive, send)
            elif fault == "error":
                sb.injected_errors += 1
                await error_response(500, "Server Error (injected fault)")(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            if write:
                sb.writes -= 1
            else:
                sb.reads -= 1


def create_asana_app(
    org: AsanaOrganisation,
    faults: FaultSpec = FaultSpec(),
    latency_ms: float = 0,
    **options: Any,
) -> Starlette:
    """The Asana sandbox as an ASGI app; its state is ``app.state.sandbox``.

    ``options`` go to :class:`AsanaSandbox` (``rate_limit``, ``offset_ttl``,
    ``access_token_ttl``, ``clock``).
    """
    sandbox = AsanaSandbox(org, faults, latency_ms, **options)
    get, post = ["GET"], ["POST"]
    api = [
        ("/workspaces", list_workspaces, get),
        ("/workspaces/{gid}", get_workspace, get),
        ("/workspaces/{gid}/workspace_memberships", list_memberships, get),
        ("/workspaces/{gid}/audit_log_events", audit_log_events, get),
        ("/workspaces/{gid}/removeUser", remove_user, post),
        ("/workspace_memberships/{gid}", get_membership, get),
        ("/users", list_users, get),
        ("/users/{gid}", get_user, get),
        ("/users/{gid}/workspace_memberships", user_memberships, get),
    ]
    routes = [Route(API + path, _api(fn), methods=m) for path, fn, m in api]
    routes += [
        Route("/-/oauth_authorize", sandbox.oauth.authorize, methods=get),
        Route("/-/oauth_token", sandbox.oauth.token, methods=post),
        Route("/-/oauth_revoke", sandbox.oauth.revoke_endpoint, methods=post),
        Route(API + "/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(_Guard, sandbox=sandbox)])
    app.state.sandbox = sandbox
    return app
