"""A local emulator of the Rally Web Services API v2.0 (users, plus what pyral needs to connect).

Served under ``/slm/webservice/v2.0`` (and the type schema under ``/slm/schema/v2.0``), with the
API key in the ``ZSESSIONID`` header. Type names in paths are case-insensitive, as in Rally.

Assumptions where Rally's behaviour is not documented (kept here, in one place):

- ``GET /user/{oid}`` for an unknown object answers 200 with
  ``{"OperationResult": {"Errors": ["Cannot find object to read"]}}``; a POST to an unknown user,
  a malformed JSON body or a bad ``Disabled`` value likewise answer 200 with Errors.
- ``GET /user`` without a query (or with an empty one) answers only the key owner.
- A bad query, fetch or order answers 200 with ``Errors`` and no results (``TotalResultCount`` 0).
- Beyond 12 concurrent requests each new request is slowed by 100 ms per excess request.
- Only ``Disabled`` is writable on a user; other attributes in a POST are ignored.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers, QueryParams
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .faults import FaultDice, FaultLog, FaultSpec, PageHooks, fault_middleware
from .hostile import apply_hostile
from .org import Organisation, SyntheticUser, index_by_object_id
from .rally_query import FieldKind, QueryError, compile_query, format_date

WEBSERVICE = "/slm/webservice/v2.0"
SCHEMA = "/slm/schema/v2.0"
MAX_PAGESIZE = 2000
DEFAULT_PAGESIZE = 20
CONCURRENCY_LIMIT = 12
SLOWDOWN_MS = 100
SUBSCRIPTION_OID = 4_000
WORKSPACE_OID = 5_000
PROJECT_OID = 6_000
PROFILE_OID_OFFSET = 900_000_000
WORKSPACE_NAME = "Sandbox Workspace"
PROJECT_NAME = "Sandbox Project"

API: dict[str, str] = {"_rallyAPIMajor": "2", "_rallyAPIMinor": "0"}
USER_FIELDS: dict[str, FieldKind] = {
    "ObjectID": "int",
    "ObjectUUID": "str",
    "CreationDate": "date",
    "UserName": "str",
    "EmailAddress": "str",
    "DisplayName": "str",
    "FirstName": "str",
    "LastName": "str",
    "Disabled": "bool",
    "SubscriptionAdmin": "bool",
    "SubscriptionPermission": "str",
    "WorkspacePermission": "str",
    "LastLoginDate": "date",
    "LastActiveDate": "date",
}
_NAMED: dict[str, FieldKind] = {
    "ObjectID": "int",
    "ObjectUUID": "str",
    "Name": "str",
    "State": "str",
}
_UUIDS = uuid.UUID("6c0b3f0e-5d1a-4c55-9a41-2f8e0d6a7b13")
_HTML_401 = (
    "<html><head><title>Error 401 The username or password you entered is incorrect."
    "</title></head><body><h2>HTTP ERROR 401</h2></body></html>"
)

Record = dict[str, Any]
Link = Callable[[Record, str], dict[str, Any]]


def _uuid(name: str) -> str:
    return str(uuid.uuid5(_UUIDS, name))


def _json(payload: Any, status: int = 200) -> Response:
    body = json.dumps(payload, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json")


def _html(status: int, title: str) -> Response:
    body = f"<html><head><title>{title}</title></head><body><h2>{title}</h2></body></html>"
    return Response(body, status_code=status, media_type="text/html")


def _operation(errors: list[str], status: int = 200, **extra: Any) -> Response:
    return _json({"OperationResult": {**API, "Errors": errors, "Warnings": [], **extra}}, status)


def _query_result(
    results: list[dict[str, Any]],
    total: int,
    start: int,
    pagesize: int,
    errors: list[str] | None = None,
    warnings: list[str] | None = None,
) -> Response:
    return _json(
        {
            "QueryResult": {
                **API,
                "Errors": errors or [],
                "Warnings": warnings or [],
                "TotalResultCount": total,
                "StartIndex": start,
                "PageSize": pagesize,
                "Results": results,
            }
        }
    )


@dataclass
class Entity:
    """A Rally type: its queryable fields, reference fields and records sorted by ObjectID."""

    type_name: str
    fields: dict[str, FieldKind]
    records: list[Record]
    links: dict[str, Link] = field(default_factory=dict)
    by_id: dict[int, Record] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {r["ObjectID"]: r for r in self.records}

    @property
    def path(self) -> str:
        return self.type_name.lower()

    def fetch_fields(self, fetch: str | None) -> list[str]:
        """The attributes a ``fetch`` asks for; unknown names are ignored, as Rally does."""
        if fetch is None or fetch.strip().strip('"').lower() in ("", "false"):
            return []
        wanted = fetch.strip().strip('"')
        if wanted.lower() == "true":
            return [*self.fields, *self.links]
        names = dict.fromkeys(n.strip().strip('"') for n in wanted.split(","))
        return [n for n in names if n in self.fields or n in self.links]

    def render(self, rec: Record, base: str, fetch: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            **API,
            "_ref": f"{base}/{self.path}/{rec['ObjectID']}",
            "_refObjectUUID": rec["ObjectUUID"],
            "_objectVersion": rec["_objectVersion"],
            "_refObjectName": rec["_refObjectName"],
        }
        for name in fetch:
            link = self.links.get(name)
            out[name] = rec[name] if link is None else link(rec, base)
        out["_type"] = self.type_name
        return out


def user_record(user: SyntheticUser, version: int = 1) -> Record:
    """The Rally representation of a synthetic user (dates preformatted)."""

    def date(value: Any) -> str | None:
        return None if value is None else format_date(value)

    return {
        "ObjectID": user.object_id,
        "ObjectUUID": user.object_uuid,
        "CreationDate": date(user.creation_date),
        "UserName": user.username,
        "EmailAddress": user.email,
        "DisplayName": user.display_name,
        "FirstName": user.first_name,
        "LastName": user.last_name,
        "Disabled": user.disabled,
        "SubscriptionAdmin": user.subscription_admin,
        "SubscriptionPermission": user.permission,
        "WorkspacePermission": user.permission,
        "LastLoginDate": date(user.last_login_date),
        "LastActiveDate": date(user.last_active_date),
        "_refObjectName": user.display_name or user.username,
        "_objectVersion": str(version),
    }


def _named(oid: int, name: str, **extra: Any) -> Record:
    base = {"ObjectID": oid, "ObjectUUID": _uuid(name), "Name": name, "State": "Open"}
    return {**base, **extra, "_refObjectName": name, "_objectVersion": "1"}


def _collection_link(owner: str, attr: str, item_type: str) -> Link:
    def link(rec: Record, base: str) -> dict[str, Any]:
        ref = f"{base}/{owner}/{rec['ObjectID']}/{attr}"
        return {**API, "_ref": ref, "_type": item_type, "Count": 1}

    return link


def _profile_link(rec: Record, base: str) -> dict[str, Any]:
    oid = rec["ObjectID"] + PROFILE_OID_OFFSET
    return {
        **API,
        "_ref": f"{base}/userprofile/{oid}",
        "_refObjectUUID": _uuid(f"profile-{oid}"),
        "_type": "UserProfile",
    }


def _object_link(type_name: str, oid: int, name: str) -> Link:
    def link(rec: Record, base: str) -> dict[str, Any]:
        ref = f"{base}/{type_name.lower()}/{oid}"
        return {**API, "_ref": ref, "_refObjectName": name, "_type": type_name}

    return link


class RallySandbox:
    """The mutable state of one Rally sandbox, with counters tests can read."""

    def __init__(self, org: Organisation, faults: FaultSpec, latency_ms: float) -> None:
        self.org = org
        self.faults = faults
        self.latency_ms = latency_ms
        self.dice = FaultDice(faults)
        self.fault_log = FaultLog()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.throttled = 0
        self.disable_calls = 0
        self.envelope_errors = 0  # injected here: envelope_error_page, fail_reclaim
        self.version = 0  # bumped on every write; keys the query cache
        self._cache: dict[tuple[str, str, str], tuple[int, list[Record]]] = {}
        # the hostile-vendor fixture: which user holds which hostile value
        self.hostile: dict[str, SyntheticUser] = apply_hostile(org) if faults.hostile else {}
        users = Entity("User", USER_FIELDS, [user_record(u) for u in org.users])
        users.records.sort(key=lambda r: r["ObjectID"])
        users.links["UserProfile"] = _profile_link
        subscription = _named(SUBSCRIPTION_OID, "Sandbox Org", SubscriptionID=org.subscription_id)
        del subscription["State"]
        self.entities: dict[str, Entity] = {
            "user": users,
            "subscription": Entity(
                "Subscription",
                {"ObjectID": "int", "ObjectUUID": "str", "Name": "str", "SubscriptionID": "int"},
                [subscription],
                {"Workspaces": _collection_link("Subscription", "Workspaces", "Workspace")},
            ),
            "workspace": Entity(
                "Workspace",
                dict(_NAMED),
                [_named(WORKSPACE_OID, WORKSPACE_NAME)],
                {"Projects": _collection_link("Workspace", "Projects", "Project")},
            ),
            "project": Entity(
                "Project",
                dict(_NAMED),
                [_named(PROJECT_OID, PROJECT_NAME)],
                {"Workspace": _object_link("Workspace", WORKSPACE_OID, WORKSPACE_NAME)},
            ),
        }

    @property
    def injected_errors(self) -> int:
        counts = self.fault_log.counts
        return counts["error"] + counts["fail_page"] + self.envelope_errors

    @property
    def injected_timeouts(self) -> int:
        return self.fault_log.counts["timeout"]

    @property
    def users(self) -> Entity:
        return self.entities["user"]

    def select(self, entity: Entity, query: str | None, order: str) -> list[Record]:
        """Records matching a query in the given order (cached until the next write)."""
        key = (entity.type_name, query or "", order)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == self.version:
            return hit[1]
        field_name, _, direction = order.strip().partition(" ")
        if field_name.lower() != "objectid" or direction.strip().lower() not in ("", "asc", "desc"):
            raise QueryError(f'unsupported order "{order}" (only ObjectID [asc|desc])')
        records = entity.records
        if query:
            predicate = compile_query(query, entity.fields, entity.type_name)
            records = [r for r in records if predicate(r)]
        if direction.strip().lower() == "desc":
            records = records[::-1]
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[key] = (self.version, records)
        return records

    def reload_users(self) -> None:
        """Re-read every user from the organisation after a test or demo changed it directly
        (edited dates, roles; added or removed users): the app "changed on the vendor side"."""
        old = self.users.by_id
        records = []
        for user in self.org.users:
            previous = old.get(user.object_id)
            version = int(previous["_objectVersion"]) if previous else 0
            record = user_record(user, version)
            if previous is None or any(
                previous.get(k) != v for k, v in record.items() if k != "_objectVersion"
            ):
                record = user_record(user, version + 1)
            records.append(record)
        records.sort(key=lambda r: r["ObjectID"])
        self.users.records = records
        self.users.by_id = {r["ObjectID"]: r for r in records}
        self.org.by_id = index_by_object_id(self.org.users)
        self.version += 1

    def set_disabled(self, oid: int, disabled: bool) -> Record:
        """Enable or disable a user (a no-op when nothing changes)."""
        rec = self.users.by_id[oid]
        user = self.org.by_id[oid]
        if user.disabled != disabled:
            user.disabled = disabled
            rec["Disabled"] = disabled
            rec["_objectVersion"] = str(int(rec["_objectVersion"]) + 1)
            self.version += 1
        if disabled:
            self.disable_calls += 1
        return rec


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}{WEBSERVICE}"


def _paging(params: QueryParams) -> tuple[int, int, list[str]]:
    try:
        start = max(1, int(params.get("start", 1)))
        pagesize = int(params.get("pagesize", DEFAULT_PAGESIZE))
    except ValueError:
        raise QueryError("start and pagesize must be integers") from None
    if pagesize < 1:
        raise QueryError(f"pagesize must be between 1 and {MAX_PAGESIZE}")
    if pagesize > MAX_PAGESIZE:
        note = f"The maximum pagesize is {MAX_PAGESIZE}; pagesize {pagesize} was reduced to it."
        return start, MAX_PAGESIZE, [note]
    return start, pagesize, []


def _collection(sb: RallySandbox, entity: Entity, request: Request) -> Response:
    params = request.query_params
    query = params.get("query")
    try:
        start, pagesize, warnings = _paging(params)
        fetch = entity.fetch_fields(params.get("fetch"))
        is_user_list = entity.type_name == "User" and bool(query)
        page = (start - 1) // pagesize + 1
        if is_user_list and page == sb.faults.envelope_error_page:
            sb.envelope_errors += 1
            detail = "Concurrency conflict: the page could not be read (injected fault)"
            return _query_result([], 0, start, pagesize, [detail], warnings)
        if entity.type_name == "User" and not query:
            records = [entity.by_id[sb.org.owner.object_id]]
        else:
            records = sb.select(entity, query, params.get("order") or "ObjectID")
    except QueryError as exc:
        return _query_result([], 0, 0, 0, [str(exc)])
    base = _base(request)
    results = [entity.render(r, base, fetch) for r in records[start - 1 : start - 1 + pagesize]]
    return _query_result(results, len(records), start, pagesize, None, warnings)


def _read(entity: Entity, rec: Record, request: Request) -> Response:
    fetch = request.query_params.get("fetch")
    names = entity.fetch_fields("true" if fetch is None else fetch)
    obj = entity.render(rec, _base(request), names)
    return _json({entity.type_name: {**obj, "Errors": [], "Warnings": []}})


def _read_profile(sb: RallySandbox, oid: int, request: Request) -> Response:
    user = sb.users.by_id.get(oid - PROFILE_OID_OFFSET)
    if user is None:
        return _operation(["Cannot find object to read"])
    base = _base(request)
    ws = _object_link("Workspace", WORKSPACE_OID, WORKSPACE_NAME)(user, base)
    proj = _object_link("Project", PROJECT_OID, PROJECT_NAME)(user, base)
    profile = {
        **API,
        "_ref": f"{base}/userprofile/{oid}",
        "_refObjectUUID": _uuid(f"profile-{oid}"),
        "_objectVersion": "1",
        "_refObjectName": "UserProfile",
        "ObjectID": oid,
        "DefaultWorkspace": ws,
        "DefaultProject": proj,
        "TimeZone": "UTC",
        "_type": "UserProfile",
        "Errors": [],
        "Warnings": [],
    }
    return _json({"UserProfile": profile})


def _parse_disabled(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


async def _update_user(sb: RallySandbox, oid: int, request: Request) -> Response:
    try:
        doc = json.loads(await request.body())
    except ValueError as exc:
        return _operation([f"Cannot parse input stream due to I/O error as JSON document: {exc}"])
    items = doc.items() if isinstance(doc, dict) else []
    payload = next((v for k, v in items if k.lower() == "user"), None)
    if not isinstance(payload, dict):
        return _operation(['Cannot parse input: expected an object like {"User": {...}}'])
    if oid not in sb.users.by_id:
        return _operation(["Cannot find object to update"])
    if oid == sb.faults.fail_reclaim:
        sb.envelope_errors += 1
        return _html(500, "Error 500 Internal Server Error")
    raw = next((v for k, v in payload.items() if k.lower() == "disabled"), None)
    rec = sb.users.by_id[oid]
    if raw is not None:
        disabled = _parse_disabled(raw)
        if disabled is None:
            return _operation([f"Could not convert: {raw!r} is not a valid Boolean for Disabled"])
        rec = sb.set_disabled(oid, disabled)
    obj = sb.users.render(rec, _base(request), sb.users.fetch_fields("true"))
    return _operation([], Object=obj)


async def webservice(request: Request) -> Response:
    """Dispatch ``/slm/webservice/v2.0/{type}[/{oid}[/{collection}]]``."""
    sb: RallySandbox = request.app.state.sandbox
    parts = [p.lower() for p in request.path_params["path"].split("/") if p]
    if parts == ["security", "authorize"]:
        return _operation([], SecurityToken=_uuid(f"token-{sb.org.seed}"))
    entity = sb.entities.get(parts[0]) if parts else None
    if parts and parts[0] == "userprofile" and len(parts) == 2 and parts[1].isdigit():
        return _read_profile(sb, int(parts[1]), request)
    if entity is None or len(parts) > 3 or (len(parts) > 1 and not parts[1].isdigit()):
        return _html(404, f"Error 404 Not Found: {request.url.path}")
    if len(parts) == 1:
        if request.method == "POST":
            return _operation([f"Creating a {entity.type_name} is not supported by the sandbox"])
        if entity.type_name == "Subscription":
            return _read(entity, entity.records[0], request)
        return _collection(sb, entity, request)
    oid = int(parts[1])
    if request.method == "POST":
        if entity.type_name != "User":
            return _operation([f"Updating a {entity.type_name} is not supported by the sandbox"])
        return await _update_user(sb, oid, request)
    rec = entity.by_id.get(oid)
    if rec is None:
        return _operation(["Cannot find object to read"])
    if len(parts) == 2:
        return _read(entity, rec, request)
    child = {("subscription", "workspaces"): "workspace", ("workspace", "projects"): "project"}
    child_type = child.get((parts[0], parts[2]))
    if child_type is None:
        return _html(404, f"Error 404 Not Found: {request.url.path}")
    return _collection(sb, sb.entities[child_type], request)


def _attribute(name: str, kind: str, index: int, base: str, read_only: bool) -> dict[str, Any]:
    return {
        **API,
        "_ref": f"{base}/attributedefinition/-{index}",
        "_refObjectName": name,
        "_type": "AttributeDefinition",
        "ElementName": name,
        "Name": name,
        "AttributeType": kind,
        "Custom": False,
        "Required": name == "ObjectID",
        "ReadOnly": read_only,
        "Filterable": kind != "OBJECT",
        "Hidden": False,
        "SchemaType": kind.lower(),
        "Constrained": False,
        "AllowedValueType": None,
        "AllowedValues": [],
        "MaxLength": -1,
        "MaxFractionalDigits": -1,
    }


def _typedef(
    name: str, attrs: dict[str, str], base: str, index: int, writable: set[str]
) -> dict[str, Any]:
    return {
        **API,
        "_ref": f"{base}/typedefinition/-{index}",
        "_refObjectUUID": _uuid(f"typedef-{name}"),
        "_refObjectName": name,
        "_type": "TypeDefinition",
        "ObjectID": -index,
        "ElementName": name,
        "Name": name,
        "DisplayName": name,
        "TypePath": name,
        "IDPrefix": "US" if name == "HierarchicalRequirement" else None,
        "Abstract": False,
        "Parent": None,
        "Creatable": False,
        "Queryable": True,
        "ReadOnly": not writable,
        "Deletable": False,
        "Restorable": False,
        "Ordinal": -1,
        "RevisionHistory": None,
        "Attributes": [
            _attribute(a, kind, index * 100 + i, base, a not in writable)
            for i, (a, kind) in enumerate(attrs.items())
        ],
    }


async def schema(request: Request) -> Response:
    """``/slm/schema/v2.0/workspace/{oid}[/{hash}]``: the type definitions pyral loads."""
    sb: RallySandbox = request.app.state.sandbox
    parts = [p.lower() for p in request.path_params["path"].split("/") if p]
    if len(parts) < 2 or parts[0] != "workspace" or parts[1] != str(WORKSPACE_OID):
        return _html(404, f"Error 404 Not Found: {request.url.path}")
    kinds = {"int": "INTEGER", "bool": "BOOLEAN", "str": "STRING", "date": "DATE"}
    base = _base(request)
    typedefs = []
    for i, entity in enumerate(sb.entities.values(), start=1):
        attrs = {n: kinds[k] for n, k in entity.fields.items()}
        attrs.update({n: "COLLECTION" if n.endswith("s") else "OBJECT" for n in entity.links})
        writable = {"Disabled"} if entity.type_name == "User" else set()
        typedefs.append(_typedef(entity.type_name, attrs, base, i, writable))
    story = {"ObjectID": "INTEGER", "FormattedID": "STRING", "Name": "STRING"}
    typedefs.append(_typedef("HierarchicalRequirement", story, base, 99, {"Name"}))
    return _query_result(typedefs, len(typedefs), 1, len(typedefs))


def user_list_page(request: Request) -> int | None:
    """The 1-based page of the user list (``GET /user`` with a query) a request reads."""
    path = request.url.path.lower().rstrip("/")
    if request.method != "GET" or path != f"{WEBSERVICE}/user".lower():
        return None
    if not request.query_params.get("query"):
        return None
    try:
        start, pagesize, _ = _paging(request.query_params)
    except QueryError:
        return None
    return (start - 1) // pagesize + 1


def _drop_last_user(body: Any) -> None:
    results = body["QueryResult"]["Results"]
    if results:
        results.pop()


def _shift_total(body: Any, delta: int) -> None:
    body["QueryResult"]["TotalResultCount"] += delta


PAGE_HOOKS = PageHooks(user_list_page, _drop_last_user, _shift_total)
OWN_FAULTS = frozenset({"envelope_error_page", "fail_reclaim", "hostile"})


class _Guard:
    """Counting, latency, slowdown past 12 concurrent requests and auth (then the faults)."""

    def __init__(self, app: ASGIApp, sandbox: RallySandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sb = self.sandbox
        sb.requests += 1
        sb.in_flight += 1
        sb.max_in_flight = max(sb.max_in_flight, sb.in_flight)
        try:
            excess = max(0, sb.in_flight - CONCURRENCY_LIMIT)
            sb.throttled += excess > 0
            delay_ms = sb.latency_ms + excess * SLOWDOWN_MS
            if delay_ms > 0:
                await asyncio.sleep(delay_ms / 1000)
            if Headers(scope=scope).get("zsessionid") != sb.org.api_key:
                await Response(_HTML_401, 401, media_type="text/html")(scope, receive, send)
                return
            await self.app(scope, receive, send)
        finally:
            sb.in_flight -= 1


def create_rally_app(
    org: Organisation, faults: FaultSpec = FaultSpec(), latency_ms: float = 0
) -> Starlette:
    """The Rally sandbox as an ASGI app; its state is ``app.state.sandbox``.

    Raises ValueError for a fault spec the sandbox cannot inject."""
    sandbox = RallySandbox(org, faults, latency_ms)
    methods = ["GET", "POST"]
    app = Starlette(
        routes=[
            Route(WEBSERVICE + "/{path:path}", webservice, methods=methods),
            Route(SCHEMA + "/{path:path}", schema, methods=["GET"]),
        ],
        middleware=[
            Middleware(_Guard, sandbox=sandbox),
            fault_middleware(
                faults, "rally", PAGE_HOOKS, OWN_FAULTS, log=sandbox.fault_log, dice=sandbox.dice
            ),
        ],
    )
    app.state.sandbox = sandbox
    return app
