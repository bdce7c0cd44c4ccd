"""A SCIM 2.0 service provider (RFC 7643 / 7644) over a synthetic organisation.

Served under `/scim/v2` with a bearer token. What it offers, as SCIM servers do:

- `GET /ServiceProviderConfig`; `GET /Users?startIndex=&count=&filter=` (`ListResponse`; `count`
  capped at `MAX_RESULTS`; filters `userName eq "..."`, `emails.value eq "..."`,
  `active eq true|false`, combined with `and`); `GET /Users/{id}`.
- `PATCH /Users/{id}` (`PatchOp`; `op` in any case; `path: active` with a boolean, `path:
  userType` with a string, `path: roles` with a list of `{"value": ...}`, or a value object
  `{"active": false, "userType": "Basic"}` without a path) answering 200 with the resource
  (`meta.lastModified` moved on); `DELETE /Users/{id}` answering 204; `POST /Users`.
- Errors in the SCIM shape, `status` as a string, media type `application/scim+json`.

Users come from the synthetic organisation generator (`sandbox.org`): enabled users are
`active`, subscription admins carry the role "admin", `userType` is the plan ("Pro", or
"Basic" for about one in five by a stable hash of the user name: `USER_TYPES`). SCIM has no
last-login attribute.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .faults import FaultDice, FaultSpec
from .org import Organisation, SyntheticUser

BASE = "/scim/v2"
MEDIA_TYPE = "application/scim+json"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# (department, costCenter) of the enterprise extension, by a stable hash of the user name;
# None: the user has no extension (about one in five)
ENTERPRISE: tuple[tuple[str, str] | None, ...] = (
    ("Engineering", "CC-100"),
    ("Sales", "CC-200"),
    ("Marketing", "CC-300"),
    ("Support", "CC-200"),
    None,
)
# `userType` by a stable hash of the user name: the app's plans
USER_TYPES = ("Pro", "Pro", "Basic", "Pro", "Pro")
MAX_RESULTS = 200
DEFAULT_COUNT = 100
_FILTER = re.compile(
    r'^\s*(userName|emails\.value|active)\s+eq\s+(?:"((?:[^"\\]|\\.)*)"|(true|false))\s*$',
    re.IGNORECASE,
)


def _scim(payload: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(payload, separators=(",", ":")), status_code=status, media_type=MEDIA_TYPE
    )


def _error(status: int, detail: str, scim_type: str | None = None) -> Response:
    body: dict[str, Any] = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return _scim(body, status)


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ScimSandbox:
    """The mutable state of one SCIM sandbox, with counters tests can read."""

    org: Organisation
    faults: FaultSpec
    latency_ms: float
    token: str
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> resource
    writes: int = 0
    requests: int = 0

    def __post_init__(self) -> None:
        for user in self.org.users:
            resource = _resource(user)
            self.users[resource["id"]] = resource
        self.dice = FaultDice(self.faults)

    def ordered(self) -> list[dict[str, Any]]:
        return sorted(self.users.values(), key=lambda r: r["meta"]["created"] + r["id"])


def _resource(user: SyntheticUser) -> dict[str, Any]:
    user_id = user.object_uuid or str(uuid.uuid5(uuid.NAMESPACE_URL, user.username))
    resource: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "id": user_id,
        "externalId": str(user.object_id),
        "userName": user.username,
        "name": {
            "givenName": user.first_name,
            "familyName": user.last_name,
            "formatted": f"{user.first_name} {user.last_name}",
        },
        "displayName": user.display_name,
        "userType": USER_TYPES[uuid.uuid5(uuid.NAMESPACE_OID, user.username).int % len(USER_TYPES)],
        "active": not user.disabled,
        "meta": {
            "resourceType": "User",
            "created": _stamp(user.creation_date),
            "lastModified": _stamp(user.creation_date),
            "location": f"{BASE}/Users/{user_id}",
        },
    }
    if user.email:
        resource["emails"] = [{"value": user.email, "type": "work", "primary": True}]
    if user.subscription_admin:
        resource["roles"] = [{"value": "admin", "primary": True}]
    charged = ENTERPRISE[uuid.uuid5(uuid.NAMESPACE_URL, user.username).int % len(ENTERPRISE)]
    if charged is not None:
        resource["schemas"] = [USER_SCHEMA, ENTERPRISE_SCHEMA]
        resource[ENTERPRISE_SCHEMA] = {"department": charged[0], "costCenter": charged[1]}
    return resource


def _matches(resource: dict[str, Any], attribute: str, value: str | bool) -> bool:
    name = attribute.lower()
    if name == "username":
        return str(resource.get("userName", "")).lower() == str(value).lower()
    if name == "emails.value":
        return any(
            str(e.get("value", "")).lower() == str(value).lower()
            for e in resource.get("emails", [])
        )
    return bool(resource.get("active", True)) is value


def _filtered(sb: ScimSandbox, text: str | None) -> list[dict[str, Any]] | Response:
    resources = sb.ordered()
    if not text:
        return resources
    for clause in re.split(r"\s+and\s+", text, flags=re.IGNORECASE):
        match = _FILTER.match(clause)
        if match is None:
            return _error(400, f"unsupported filter: {clause.strip()!r}", "invalidFilter")
        attribute, quoted, boolean = match.groups()
        value: str | bool = quoted if quoted is not None else boolean.lower() == "true"
        resources = [r for r in resources if _matches(r, attribute, value)]
    return resources


def _positive(request: Request, name: str, default: int, minimum: int) -> int | Response:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return max(minimum, int(raw))
    except ValueError:
        return _error(400, f"{name} must be an integer, got {raw!r}", "invalidValue")


def _patched(resource: dict[str, Any], body: Any) -> dict[str, Any] | Response:
    if not isinstance(body, dict) or PATCH_OP not in (body.get("schemas") or []):
        return _error(400, "a PATCH needs the PatchOp schema", "invalidSyntax")
    operations = body.get("Operations")
    if not isinstance(operations, list) or not operations:
        return _error(400, "a PATCH needs Operations", "invalidSyntax")
    updated: dict[str, Any] = json.loads(json.dumps(resource))
    for operation in operations:
        if not isinstance(operation, dict) or str(operation.get("op", "")).lower() not in (
            "replace",
            "add",
        ):
            return _error(400, f"unsupported operation {operation!r}", "invalidSyntax")
        target, value = operation.get("path"), operation.get("value")
        changes = {str(target): value} if target else value
        if not isinstance(changes, dict):
            return _error(400, "a PATCH without path needs an object value", "invalidValue")
        for name, new in changes.items():
            refused = _set(updated, str(name), new)
            if refused is not None:
                return refused
    return updated


def _set(updated: dict[str, Any], name: str, new: Any) -> Response | None:
    """One attribute of a PATCH (names without regard to case, as RFC 7643 says); the
    attributes this sandbox keeps are checked, others are accepted and ignored."""
    key = name.lower()
    if key == "active":
        if isinstance(new, str) and new.lower() in ("true", "false"):
            new = new.lower() == "true"
        if not isinstance(new, bool):
            return _error(400, f"active must be a boolean, got {new!r}", "invalidValue")
        updated["active"] = new
    elif key == "usertype":
        if not isinstance(new, str) or not new.strip():
            return _error(400, f"userType must be a string, got {new!r}", "invalidValue")
        updated["userType"] = new
    elif key == "roles":
        if not isinstance(new, list) or not all(
            isinstance(role, dict) and isinstance(role.get("value"), str) for role in new
        ):
            return _error(400, 'roles must be a list of {"value": ...}', "invalidValue")
        updated["roles"] = new
    return None


def create_scim_app(
    org: Organisation, faults: FaultSpec | None = None, latency_ms: float = 0.0
) -> Starlette:
    sb = ScimSandbox(org, faults or FaultSpec(), latency_ms, token=org.api_key)

    async def guard(request: Request) -> Response | None:
        sb.requests += 1
        delay = sb.latency_ms + sb.faults.latency_ms
        if delay:
            await asyncio.sleep(delay / 1000)
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token != sb.token:
            return _error(401, "missing or invalid bearer token")
        if sb.dice.roll(f"{request.method} {request.url}") == "error":
            return _error(500, "injected failure")
        return None

    async def config(request: Request) -> Response:
        refused = await guard(request)
        if refused:
            return refused
        return _scim(
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
                "patch": {"supported": True},
                "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
                "filter": {"supported": True, "maxResults": MAX_RESULTS},
                "changePassword": {"supported": False},
                "sort": {"supported": False},
                "etag": {"supported": False},
                "authenticationSchemes": [
                    {"type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": True}
                ],
            }
        )

    async def users(request: Request) -> Response:
        refused = await guard(request)
        if refused:
            return refused
        if request.method == "POST":
            return await create(request)
        found = _filtered(sb, request.query_params.get("filter"))
        if isinstance(found, Response):
            return found
        start = _positive(request, "startIndex", 1, 1)
        count = _positive(request, "count", DEFAULT_COUNT, 0)
        if isinstance(start, Response):
            return start
        if isinstance(count, Response):
            return count
        page = found[start - 1 : start - 1 + min(count, MAX_RESULTS)]
        body: dict[str, Any] = {
            "schemas": [LIST_RESPONSE],
            "totalResults": len(found),
            "startIndex": start,
            "itemsPerPage": len(page),
        }
        if page:
            body["Resources"] = page
        return _scim(body)

    async def create(request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, dict) or not body.get("userName"):
            return _error(400, "userName is required", "invalidValue")
        if any(r["userName"].lower() == str(body["userName"]).lower() for r in sb.users.values()):
            return _error(409, "userName already exists", "uniqueness")
        user_id = str(uuid.uuid4())
        now = _stamp(sb.org.now)
        resource = {
            **body,
            "schemas": [USER_SCHEMA],
            "id": user_id,
            "active": body.get("active", True),
            "meta": {"resourceType": "User", "created": now, "lastModified": now},
        }
        sb.users[user_id] = resource
        sb.writes += 1
        return _scim(resource, 201)

    async def user(request: Request) -> Response:
        refused = await guard(request)
        if refused:
            return refused
        user_id = request.path_params["id"]
        resource = sb.users.get(user_id)
        if resource is None:
            return _error(404, f"resource {user_id} not found")
        if request.method == "GET":
            return _scim(resource)
        if request.method == "DELETE":
            del sb.users[user_id]
            sb.writes += 1
            return Response(status_code=204)
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body is not JSON", "invalidSyntax")
        updated = _patched(resource, body)
        if isinstance(updated, Response):
            return updated
        updated["meta"]["lastModified"] = _stamp(sb.org.now)
        sb.users[user_id] = updated
        sb.writes += 1
        return _scim(updated)

    app = Starlette(
        routes=[
            Route(f"{BASE}/ServiceProviderConfig", config),
            Route(f"{BASE}/Users", users, methods=["GET", "POST"]),
            Route(f"{BASE}/Users/{{id}}", user, methods=["GET", "PATCH", "DELETE"]),
        ]
    )
    app.state.sandbox = sb
    return app
