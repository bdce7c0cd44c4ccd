"""A local emulator of the Okta Management API: users, groups, apps, app users, the System Log.

Auth is ``Authorization: SSWS <token>`` (also ``SSWS<token>``). Every list pages with
``Link: <...?after=CURSOR&limit=N>; rel="next"`` (absolute URLs from the request's host), and every
response carries ``X-Rate-Limit-Limit/-Remaining/-Reset`` for its endpoint's budget in a fixed
window; over budget: 429 ``E0000047`` without ``Retry-After``.

Assumptions where Okta's behaviour is not documented (kept here, in one place):

- ``limit`` above an endpoint's maximum is lowered to it; below 1 or not a number: 400 E0000001.
- A ``since`` older than the 90-day retention is raised to it; ``since`` defaults to 7 days
  before ``until``; ``since`` is inclusive and ``until`` exclusive.
- Without a filter DEPROVISIONED users are left out; with ``filter`` or ``search`` every match
  is returned, whatever its status.
- Removing a GROUP-scoped assignment answers 403 E0000046 (as Okta does when a group grants the
  app); the removal logs an ``application.user_membership.remove`` event.
- A bad users/groups/apps filter answers 400 E0000031; a bad log filter 400 E0000001.
- Requests with a bad token don't use the budget but still carry the rate-limit headers.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import math
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .faults import FaultDice, FaultSpec
from .okta_filter import FilterError, Getter, compile_filter, parse_time
from .okta_org import (
    RETENTION,
    UNASSIGN,
    Assignment,
    OktaApp,
    OktaGroup,
    OktaOrg,
    OktaUser,
    format_time,
)

API = "/api/v1"
# (default, maximum) page size per list.
PAGE_SIZES: dict[str, tuple[int, int]] = {
    "users": (200, 200),
    "groups": (10_000, 10_000),
    "group_users": (1000, 1000),
    "apps": (20, 200),
    "app_users": (50, 500),
    "logs": (100, 1000),
}
# Requests per window for each rate-limit bucket (Okta's are per minute; these are low on purpose).
BUDGETS: dict[str, int] = {
    "users": 60,
    "groups": 60,
    "apps": 30,
    "app_users": 60,
    "logs": 60,
    "other": 100,
}
DEFAULT_LOG_SPAN = timedelta(days=7)
USER_TYPE_ID = "oty1sandboxdefault00"


@dataclass
class RateLimits:
    """Per-bucket budgets in fixed windows of ``window_s`` seconds aligned on the epoch;
    buckets missing from ``budgets`` keep their default (:data:`BUDGETS`)."""

    budgets: dict[str, int] = field(default_factory=dict)
    window_s: float = 60.0
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if self.window_s <= 0 or any(b < 0 for b in self.budgets.values()):
            raise ValueError("rate limits: window_s must be positive and budgets not negative")
        self.budgets = {**BUDGETS, **self.budgets}


def bucket_of(path: str) -> str:
    """The rate-limit bucket of a request path."""
    parts = path.removeprefix(API).strip("/").split("/")
    if parts[0] == "apps" and len(parts) >= 3 and parts[2] == "users":
        return "app_users"
    return parts[0] if parts[0] in ("users", "groups", "apps", "logs") else "other"


def okta_error(status: int, code: str, summary: str, causes: Sequence[str] = ()) -> Response:
    """An error in Okta's shape."""
    body = {
        "errorCode": code,
        "errorSummary": summary,
        "errorLink": code,
        "errorId": "oae" + uuid.uuid4().hex[:22],
        "errorCauses": [{"errorSummary": c} for c in causes],
    }
    return Response(json.dumps(body), status, media_type="application/json")


def _json(payload: Any) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), media_type="application/json")


def _time(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


class _BadRequest(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _validation(param: str, detail: str) -> _BadRequest:
    return _BadRequest(okta_error(400, "E0000001", f"Api validation failed: {param}", [detail]))


def _not_found(what: str, kind: str) -> Response:
    return okta_error(404, "E0000007", f"Not found: Resource not found: {what} ({kind})")


class OktaSandbox:
    """The mutable state of one Okta sandbox, with counters tests can read."""

    def __init__(
        self,
        org: OktaOrg,
        faults: FaultSpec = FaultSpec(),
        latency_ms: float = 0,
        limits: RateLimits | None = None,
    ) -> None:
        self.org = org
        self.faults = faults
        self.latency_ms = latency_ms
        self.limits = limits or RateLimits()
        self.dice = FaultDice(faults)
        self.requests = 0
        self.throttled = 0  # 429s answered
        self.unassign_calls = 0
        self.injected_errors = 0
        self.injected_timeouts = 0
        self.used: dict[str, tuple[int, int]] = {}  # bucket -> (window number, requests in it)
        self._started = time.monotonic()
        self.reload()

    def now(self) -> datetime:
        """The sandbox's present: the organisation's ``now`` plus the time served since."""
        return self.org.now + timedelta(seconds=time.monotonic() - self._started)

    def reload(self) -> None:
        """Re-index after a test changed the organisation directly."""
        self.users = sorted(self.org.users, key=lambda u: u.id)
        self.user_by_id = {u.id: u for u in self.users}
        self.org.events.sort(key=lambda e: (e["published"], e["uuid"]))
        self.event_keys = [(e["published"], e["uuid"]) for e in self.org.events]

    def add_event(self, event: dict[str, Any]) -> None:
        """Record a System Log event (kept in (published, uuid) order)."""
        key = (event["published"], event["uuid"])
        i = bisect.bisect_right(self.event_keys, key)
        self.event_keys.insert(i, key)
        self.org.events.insert(i, event)

    def rate(self, bucket: str, consume: bool) -> tuple[dict[str, str], bool]:
        """Rate-limit headers for a request to ``bucket``; whether it is over budget."""
        limit = self.limits.budgets.get(bucket, self.limits.budgets["other"])
        t = self.limits.clock()
        window = math.floor(t / self.limits.window_s)
        seen_window, used = self.used.get(bucket, (window, 0))
        if seen_window != window:
            used = 0
        over = consume and used >= limit
        if consume and not over:
            used += 1
        self.used[bucket] = (window, used)
        reset = math.ceil((window + 1) * self.limits.window_s)
        headers = {
            "X-Rate-Limit-Limit": str(limit),
            "X-Rate-Limit-Remaining": str(max(0, limit - used)),
            "X-Rate-Limit-Reset": str(reset),
        }
        return headers, over


def _sandbox(request: Request) -> OktaSandbox:
    sb: OktaSandbox = request.app.state.sandbox
    return sb


def _limit(request: Request, kind: str) -> int:
    default, maximum = PAGE_SIZES[kind]
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _validation("limit", f"limit: {raw!r} is not a number") from None
    if value < 1:
        raise _validation("limit", "limit: must be at least 1")
    return min(value, maximum)


def _link(request: Request, rel: str, **params: str | int) -> str:
    query = {k: v for k, v in request.query_params.items() if k not in params}
    query.update({k: str(v) for k, v in params.items()})
    url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
    if query:
        url += "?" + urlencode(query, quote_via=quote)
    return f'<{url}>; rel="{rel}"'


def _page_response(
    request: Request, items: list[Any], next_after: str | None, limit: int
) -> Response:
    response = _json(items)
    links = [_link(request, "self")]
    if next_after is not None:
        links.append(_link(request, "next", after=next_after, limit=limit))
    response.headers["Link"] = ", ".join(links)
    return response


def _id_page(
    request: Request,
    records: Iterable[Any],
    key: Callable[[Any], str],
    render: Callable[[Any], dict[str, Any]],
    kind: str,
) -> Response:
    """A page of records sorted by ``key`` after the ``after`` cursor (an id)."""
    limit = _limit(request, kind)
    after = request.query_params.get("after") or ""
    chosen = [r for r in sorted(records, key=key) if key(r) > after]
    page = chosen[:limit]
    next_after = key(page[-1]) if len(chosen) > limit else None
    return _page_response(request, [render(r) for r in page], next_after, limit)


def _filtered(
    records: list[Any], text: str | None, attributes: dict[str, Getter], dates: frozenset[str]
) -> list[Any]:
    if text is None:
        return records
    try:
        predicate = compile_filter(text, attributes, dates)
    except FilterError as exc:
        error = okta_error(400, "E0000031", "Invalid search criteria.", [str(exc)])
        raise _BadRequest(error) from None
    return [r for r in records if predicate(r)]


def _one(value: Any) -> list[Any]:
    return [value]


USER_FILTER: dict[str, Getter] = {
    "id": lambda u: _one(u.id),
    "status": lambda u: _one(u.status),
    "lastUpdated": lambda u: _one(u.last_updated),
    "profile.login": lambda u: _one(u.login),
    "profile.email": lambda u: _one(u.email),
    "profile.firstName": lambda u: _one(u.first_name),
    "profile.lastName": lambda u: _one(u.last_name),
    "type.id": lambda u: _one(USER_TYPE_ID),
}
USER_SEARCH: dict[str, Getter] = {
    **USER_FILTER,
    "created": lambda u: _one(u.created),
    "activated": lambda u: _one(u.activated),
    "statusChanged": lambda u: _one(u.status_changed),
    "lastLogin": lambda u: _one(u.last_login),
    "profile.displayName": lambda u: _one(u.display_name),
    "profile.managerId": lambda u: _one(u.manager_id),
}
USER_DATES = frozenset({"lastUpdated", "created", "activated", "statusChanged", "lastLogin"})


def render_user(user: OktaUser, base: str) -> dict[str, Any]:
    return {
        "id": user.id,
        "status": user.status,
        "created": _time(user.created),
        "activated": _time(user.activated),
        "statusChanged": _time(user.status_changed),
        "lastLogin": _time(user.last_login),
        "lastUpdated": _time(user.last_updated),
        "passwordChanged": _time(user.activated),
        "type": {"id": USER_TYPE_ID},
        "profile": user.profile,
        "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
        "_links": {"self": {"href": f"{base}{API}/users/{user.id}"}},
    }


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _prefix(records: list[Any], q: str | None, names: Callable[[Any], list[str]]) -> list[Any]:
    if not q:
        return records
    q = q.lower()
    return [r for r in records if any(n.lower().startswith(q) for n in names(r))]


async def list_users(request: Request) -> Response:
    sb, params = _sandbox(request), request.query_params
    users = sb.users
    if "filter" in params:
        users = _filtered(users, params["filter"], USER_FILTER, frozenset({"lastUpdated"}))
    elif "search" in params:
        users = _filtered(users, params["search"], USER_SEARCH, USER_DATES)
    else:
        users = [u for u in users if u.status != "DEPROVISIONED"]
        users = _prefix(
            users, params.get("q"), lambda u: [u.login, u.email, u.first_name, u.last_name]
        )
    base = _base(request)
    return _id_page(request, users, lambda u: u.id, lambda u: render_user(u, base), "users")


async def get_user(request: Request) -> Response:
    sb = _sandbox(request)
    key = request.path_params["user_id"]
    if key == "me":
        key = sb.org.owner_id
    user = sb.user_by_id.get(key) or sb.org.user(key)
    if user is None:
        return _not_found(key, "User")
    return _json(render_user(user, _base(request)))


def render_group(group: OktaGroup, base: str) -> dict[str, Any]:
    return {
        "id": group.id,
        "created": _time(group.created),
        "lastUpdated": _time(group.created),
        "lastMembershipUpdated": _time(group.created),
        "objectClass": ["okta:user_group"],
        "type": group.type,
        "profile": {"name": group.name, "description": group.description},
        "_links": {"users": {"href": f"{base}{API}/groups/{group.id}/users"}},
    }


GROUP_FILTER: dict[str, Getter] = {
    "id": lambda g: _one(g.id),
    "type": lambda g: _one(g.type),
    "profile.name": lambda g: _one(g.name),
    "lastUpdated": lambda g: _one(g.created),
}


async def list_groups(request: Request) -> Response:
    sb, params = _sandbox(request), request.query_params
    dates = frozenset({"lastUpdated"})
    groups = _filtered(sb.org.groups, params.get("filter"), GROUP_FILTER, dates)
    groups = _prefix(groups, params.get("q"), lambda g: [g.name])
    base = _base(request)
    return _id_page(request, groups, lambda g: g.id, lambda g: render_group(g, base), "groups")


async def get_group(request: Request) -> Response:
    group = _sandbox(request).org.group(request.path_params["group_id"])
    if group is None:
        return _not_found(request.path_params["group_id"], "UserGroup")
    return _json(render_group(group, _base(request)))


async def list_group_users(request: Request) -> Response:
    sb = _sandbox(request)
    group = sb.org.group(request.path_params["group_id"])
    if group is None:
        return _not_found(request.path_params["group_id"], "UserGroup")
    members = [sb.user_by_id[i] for i in group.members if i in sb.user_by_id]
    base = _base(request)
    return _id_page(request, members, lambda u: u.id, lambda u: render_user(u, base), "group_users")


def render_app(app: OktaApp, base: str) -> dict[str, Any]:
    href = f"{base}{API}/apps/{app.id}"
    return {
        "id": app.id,
        "name": app.name,
        "label": app.label,
        "status": app.status,
        "created": _time(app.created),
        "lastUpdated": _time(app.created),
        "signOnMode": app.sign_on_mode,
        "accessibility": {"selfService": False, "errorRedirectUrl": None, "loginRedirectUrl": None},
        "visibility": {
            "autoSubmitToolbar": False,
            "hide": {"iOS": False, "web": False},
            "appLinks": {app.name + "_link": True},
        },
        "features": [],
        "credentials": {
            "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"},
            "signing": {},
        },
        "settings": _app_settings(app),
        "_links": {
            "self": {"href": href},
            "users": {"href": f"{href}/users"},
            "groups": {"href": f"{href}/groups"},
        },
    }


def _app_settings(app: OktaApp) -> dict[str, Any]:
    """The ``settings`` the SDK's application models require for each sign-on mode."""
    if app.sign_on_mode == "BOOKMARK":
        return {"app": {"url": f"https://{app.name}.example.com/", "requestIntegration": False}}
    return {"app": {}}


APP_FILTER: dict[str, Getter] = {
    "id": lambda a: _one(a.id),
    "status": lambda a: _one(a.status),
    "name": lambda a: _one(a.name),
}


async def list_apps(request: Request) -> Response:
    sb, params = _sandbox(request), request.query_params
    apps = _filtered(sb.org.apps, params.get("filter"), APP_FILTER, frozenset())
    apps = _prefix(apps, params.get("q"), lambda a: [a.name, a.label])
    base = _base(request)
    return _id_page(request, apps, lambda a: a.id, lambda a: render_app(a, base), "apps")


async def get_app(request: Request) -> Response:
    app = _sandbox(request).org.app(request.path_params["app_id"])
    if app is None:
        return _not_found(request.path_params["app_id"], "AppInstance")
    return _json(render_app(app, _base(request)))


def render_app_user(sb: OktaSandbox, app: OktaApp, seat: Assignment, base: str) -> dict[str, Any]:
    user = sb.user_by_id[seat.user_id]
    links: dict[str, Any] = {
        "app": {"href": f"{base}{API}/apps/{app.id}"},
        "user": {"href": f"{base}{API}/users/{user.id}"},
    }
    if seat.group_id is not None:
        group = sb.org.group(seat.group_id)
        links["group"] = {
            "name": group.name if group else None,
            "href": f"{base}{API}/groups/{seat.group_id}",
        }
    return {
        "id": user.id,
        "externalId": None,
        "created": _time(seat.created),
        "lastUpdated": _time(seat.created),
        "scope": seat.scope,
        "status": seat.status,
        "statusChanged": _time(seat.created),
        "passwordChanged": None,
        "syncState": "DISABLED",
        "credentials": {"userName": user.login},
        "profile": {"email": user.email, "firstName": user.first_name, "lastName": user.last_name},
        "_links": links,
    }


async def list_app_users(request: Request) -> Response:
    sb = _sandbox(request)
    app = sb.org.app(request.path_params["app_id"])
    if app is None:
        return _not_found(request.path_params["app_id"], "AppInstance")
    seats = [s for s in sb.org.assignments[app.id].values() if s.user_id in sb.user_by_id]
    seats = _prefix(
        seats,
        request.query_params.get("q"),
        lambda s: [sb.user_by_id[s.user_id].login, sb.user_by_id[s.user_id].email],
    )
    base = _base(request)
    return _id_page(
        request,
        seats,
        lambda s: s.user_id,
        lambda s: render_app_user(sb, app, s, base),
        "app_users",
    )


async def app_user(request: Request) -> Response:
    """``GET`` or ``DELETE /api/v1/apps/{appId}/users/{userId}``."""
    sb = _sandbox(request)
    app_id, user_id = request.path_params["app_id"], request.path_params["user_id"]
    app = sb.org.app(app_id)
    if app is None:
        return _not_found(app_id, "AppInstance")
    seat = sb.org.assignments[app.id].get(user_id)
    if request.method == "GET":
        if seat is None:
            return _not_found(user_id, "AppUser")
        return _json(render_app_user(sb, app, seat, _base(request)))
    if request.scope.get("state", {}).get("role") != "super":
        return okta_error(
            403, "E0000006", "You do not have permission to perform the requested action"
        )
    if seat is None:
        return _not_found(user_id, "AppUser")
    if seat.scope == "GROUP":
        return okta_error(
            403,
            "E0000046",
            "Deactivate application for user forbidden.",
            [
                "The application cannot be unassigned from the user while their group "
                "memberships grant them access"
            ],
        )
    del sb.org.assignments[app.id][user_id]
    sb.unassign_calls += 1
    _log_unassign(sb, app, seat)
    return Response(status_code=204)


def _log_unassign(sb: OktaSandbox, app: OktaApp, seat: Assignment) -> None:
    owner, user = sb.user_by_id[sb.org.owner_id], sb.user_by_id[seat.user_id]
    event_id = uuid.uuid4()
    sb.add_event(
        {
            "uuid": str(event_id),
            "published": format_time(sb.now()),
            "eventType": UNASSIGN,
            "version": "0",
            "severity": "INFO",
            "displayMessage": "Remove user from application membership",
            "actor": {
                "id": owner.id,
                "type": "User",
                "alternateId": owner.login,
                "displayName": owner.display_name,
                "detailEntry": None,
            },
            "outcome": {"result": "SUCCESS", "reason": None},
            "target": [
                {
                    "id": seat.app_user_id,
                    "type": "AppUser",
                    "alternateId": user.login,
                    "displayName": user.display_name,
                    "detailEntry": None,
                },
                {
                    "id": app.id,
                    "type": "AppInstance",
                    "alternateId": app.label,
                    "displayName": app.label,
                    "detailEntry": None,
                },
                {
                    "id": user.id,
                    "type": "User",
                    "alternateId": user.login,
                    "displayName": user.display_name,
                    "detailEntry": None,
                },
            ],
            "transaction": {"type": "WEB", "id": event_id.hex[:20], "detail": {}},
            "debugContext": {"debugData": {}},
        }
    )


def _targets(event: dict[str, Any], attr: str) -> list[Any]:
    return [t.get(attr) for t in event.get("target") or []]


LOG_FILTER: dict[str, Getter] = {
    "eventType": lambda e: _one(e["eventType"]),
    "uuid": lambda e: _one(e["uuid"]),
    "actor.id": lambda e: _one(e["actor"]["id"]),
    "actor.alternateId": lambda e: _one(e["actor"]["alternateId"]),
    "actor.type": lambda e: _one(e["actor"]["type"]),
    "target.id": lambda e: _targets(e, "id"),
    "target.type": lambda e: _targets(e, "type"),
    "target.alternateId": lambda e: _targets(e, "alternateId"),
    "outcome.result": lambda e: _one(e["outcome"]["result"]),
    "severity": lambda e: _one(e.get("severity")),
}


def _log_time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise _validation(
            name,
            f"{name}: The date format in your query is not recognized. Please enter "
            "dates using ISO8601 string format.",
        ) from None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _cursor(key: tuple[str, str]) -> str:
    """An opaque ``after`` cursor for a log position: milliseconds since the epoch and a uuid."""
    return f"{(parse_time(key[0]) - _EPOCH) // _MS}_{key[1]}"


def _uncursor(text: str) -> tuple[str, str]:
    ms, sep, event_uuid = text.partition("_")
    try:
        when = _EPOCH + int(ms) * _MS
    except (ValueError, OverflowError, OSError):
        raise _validation("after", f"after: {text!r} is not a cursor of this log") from None
    if not sep:
        raise _validation("after", f"after: {text!r} is not a cursor of this log")
    return format_time(when), event_uuid


async def list_logs(request: Request) -> Response:
    sb, params = _sandbox(request), request.query_params
    limit = _limit(request, "logs")
    order = (params.get("sortOrder") or "ASCENDING").upper()
    if order not in ("ASCENDING", "DESCENDING"):
        raise _validation("sortOrder", "sortOrder: must be ASCENDING or DESCENDING")
    since, until = _log_time(request, "since"), _log_time(request, "until")
    now = sb.now()
    upper = until or now
    lower = max(since or upper - DEFAULT_LOG_SPAN, now - RETENTION)
    if since is not None and until is not None and since > until:
        raise _validation("until", "until: must be after since")
    text = params.get("filter")
    predicate: Callable[[dict[str, Any]], bool] = lambda e: True  # noqa: E731
    if text:
        try:
            predicate = compile_filter(text, LOG_FILTER)
        except FilterError as exc:
            raise _validation("filter", f"filter: {exc}") from None
    after = params.get("after")
    keys, events = sb.event_keys, sb.org.events
    lo, hi = (format_time(lower), ""), (format_time(upper), "")
    page: list[dict[str, Any]] = []
    more = False
    if order == "ASCENDING":
        start = bisect.bisect_left(keys, lo)
        if after:
            start = max(start, bisect.bisect_right(keys, _uncursor(after)))
        indices: Iterable[int] = range(start, bisect.bisect_left(keys, hi))
    else:
        end = bisect.bisect_left(keys, hi)
        if after:
            end = min(end, bisect.bisect_left(keys, _uncursor(after)))
        indices = range(end - 1, bisect.bisect_left(keys, lo) - 1, -1)
    for i in indices:
        if predicate(events[i]):
            if len(page) == limit:
                more = True
                break
            page.append(events[i])
    polling = until is None and order == "ASCENDING"
    next_after: str | None = None
    if page and (more or polling):
        next_after = _cursor((page[-1]["published"], page[-1]["uuid"]))
    elif polling:
        next_after = after or _cursor(lo)
    return _page_response(request, page, next_after, limit)


class _Guard:
    """Latency, auth, rate limits (headers on every response) and random faults."""

    def __init__(self, app: ASGIApp, sandbox: OktaSandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sb = self.sandbox
        sb.requests += 1
        delay_ms = sb.latency_ms + sb.faults.latency_ms
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        role = self._role(Headers(scope=scope).get("authorization", ""))
        headers, over = sb.rate(bucket_of(scope["path"]), consume=role is not None)
        headers["X-Okta-Request-Id"] = uuid.uuid4().hex[:22]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                mutable = MutableHeaders(scope=message)
                for name, value in headers.items():
                    mutable[name] = value
            await send(message)

        response: Response | None
        if role is None:
            response = okta_error(401, "E0000011", "Invalid token provided")
        elif over:
            sb.throttled += 1
            response = okta_error(
                429, "E0000047", "API call exceeded rate limit due to too many requests."
            )
        else:
            response = await self._fault(scope)
        if response is not None:
            await response(scope, receive, send_with_headers)
            return
        scope.setdefault("state", {})["role"] = role
        await self.app(scope, receive, send_with_headers)

    def _role(self, authorization: str) -> str | None:
        scheme, token = authorization[:4], authorization[4:].strip()
        if scheme.upper() != "SSWS" or not token:
            return None
        org = self.sandbox.org
        return {org.api_key: "super", org.read_only_api_key: "read-only"}.get(token)

    async def _fault(self, scope: Scope) -> Response | None:
        sb = self.sandbox
        key = f"{scope['method']} {scope['path']}?{scope['query_string'].decode()}"
        fault = sb.dice.roll(key)
        if fault == "timeout":
            sb.injected_timeouts += 1
            await asyncio.sleep(sb.faults.hang_s)
            return Response(
                "<html><body>504 Gateway Time-out</body></html>", 504, media_type="text/html"
            )
        if fault == "error":
            sb.injected_errors += 1
            if sb.dice.flavour(key):
                return Response(
                    "<html><body>503 Service Unavailable</body></html>", 503, media_type="text/html"
                )
            return okta_error(500, "E0000009", "Internal Server Error (injected fault)")
        return None


async def _http_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, _BadRequest):
        return exc.response
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 405:
        return okta_error(405, "E0000022", "The endpoint does not support the provided HTTP method")
    if status == 404:
        return _not_found(request.url.path, "Resource")
    return okta_error(status, "E0000009", "Internal Server Error")


def create_okta_app(
    org: OktaOrg,
    faults: FaultSpec = FaultSpec(),
    latency_ms: float = 0,
    limits: RateLimits | None = None,
) -> Starlette:
    """The Okta sandbox as an ASGI app; its state is ``app.state.sandbox``."""
    sandbox = OktaSandbox(org, faults, latency_ms, limits)
    get, both = ["GET"], ["GET", "DELETE"]
    app = Starlette(
        routes=[
            Route(f"{API}/users", list_users, methods=get),
            Route(f"{API}/users/{{user_id}}", get_user, methods=get),
            Route(f"{API}/groups", list_groups, methods=get),
            Route(f"{API}/groups/{{group_id}}", get_group, methods=get),
            Route(f"{API}/groups/{{group_id}}/users", list_group_users, methods=get),
            Route(f"{API}/apps", list_apps, methods=get),
            Route(f"{API}/apps/{{app_id}}", get_app, methods=get),
            Route(f"{API}/apps/{{app_id}}/users", list_app_users, methods=get),
            Route(f"{API}/apps/{{app_id}}/users/{{user_id}}", app_user, methods=both),
            Route(f"{API}/logs", list_logs, methods=get),
        ],
        middleware=[Middleware(_Guard, sandbox=sandbox)],
        exception_handlers={_BadRequest: _http_error, HTTPException: _http_error},
    )
    app.state.sandbox = sandbox
    return app
