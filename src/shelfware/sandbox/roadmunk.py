"""A local emulator of the Roadmunk (Tempo Strategic Roadmaps) GraphQL API and its user report.

One sandbox serves one region's gateway (``app``, ``eu`` or ``apac``); the account, its users and
its API token differ by region, so a client proves it reached the right gateway by the account
it sees (``account { id name region }``) and a token from another region is refused.

- ``POST /graphql`` with ``{"query", "variables", "operationName"}`` and
  ``Authorization: Bearer <API token>``; the schema is :data:`SCHEMA_SDL`, executed by
  graphql-core. No mutation is offered: Roadmunk users are deactivated by hand.
- ``GET /reports/users.csv`` (same Bearer token): the "Download User CSV" report of the same
  account, see :func:`render_user_report`.

Assumptions where Roadmunk's behaviour is not public (kept here, in one place):

- No ``Authorization: Bearer`` header at all: HTTP 401 with a GraphQL error body
  (code ``UNAUTHENTICATED``), as a gateway would answer. A Bearer token that is wrong (or from
  another region): HTTP 200 with ``{"errors": [{..., "extensions": {"code":
  "UNAUTHENTICATED"}}], "data": null}``. A client must handle both.
- Parse and validation errors (unknown field, bad argument type, any mutation): HTTP 200 with
  codes ``GRAPHQL_PARSE_FAILED`` / ``GRAPHQL_VALIDATION_FAILED`` and no ``data``. A body that
  is not a JSON object with a ``query`` string: HTTP 400, code ``BAD_REQUEST``.
- ``users(first, after)``: ``first`` defaults to 50 and must be 1..:data:`MAX_FIRST`; a bad
  ``first`` or an unknown cursor is an error inside HTTP 200 (code ``BAD_USER_INPUT``, ``users``
  null). Users are ordered by ``id``; cursors are opaque and stay valid when users change.
- ``lastLogin`` is null for users who never logged in; dates are ISO 8601 UTC with milliseconds.
- Faults: ``fail_page`` (1-based page of ``users``, ``after``'s position // ``first`` + 1)
  answers HTTP 500 with a GraphQL error body; ``envelope_error_page`` answers 200 with an
  ``INTERNAL_SERVER_ERROR`` error and ``users`` null; random errors are 500 (JSON) or 503 (HTML).
  ``enum_roles=1`` answers roles as GraphQL enums (``ACCOUNT_ADMIN``, ``USER_MANAGER``,
  ``COLLABORATOR``, ``REVIEWER``), as a schema with ``enum Role`` would; the report keeps names.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import csv
import hashlib
import io
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    build_schema,
    execute_sync,
    parse,
    validate,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .faults import FaultDice, FaultSpec
from .org import Organisation, SyntheticUser, generate_org

# Region -> gateway root URL (the profile's connection URL follows from the region).
REGION_GATEWAYS: dict[str, str] = {
    "app": "https://app-gateway.roadmunk.com",
    "eu": "https://eu-gateway.roadmunk.com",
    "apac": "https://apac-gateway.roadmunk.com",
}
REGION_NAMES: dict[str, str] = {"app": "North America", "eu": "Europe", "apac": "Asia-Pacific"}
DEFAULT_REGION = "app"
GRAPHQL_PATH = "/graphql"
REPORT_PATH = "/reports/users.csv"
MAX_FIRST = 100
DEFAULT_FIRST = 50
ROLES: tuple[str, ...] = ("Account Admin", "User Manager", "Collaborator", "Reviewer")
REPORT_COLUMNS: tuple[str, ...] = ("First Name", "Last Name", "Emails", "Role", "Status")
REPORT_COLUMNS += ("Last Login",)
REPORT_DATE_FORMAT = "%Y-%m-%d %H:%M"  # UTC; empty for users who never logged in
_REGION_SEED_OFFSET = {"app": 0, "eu": 1_000_003, "apac": 2_000_003}
_ROLE_CUM = (4, 40, 100)  # User Manager, Reviewer, Collaborator (percent, cumulative)

# ASSUMED schema: Roadmunk's user schema is not public (design/VENDOR_APIS.md). This is the one
# place it is written down; `name`, `region`, `totalCount` and `user(id)` are our additions.
SCHEMA_SDL = """
scalar DateTime

type Query {
  account: Account!
}

type Account {
  id: ID!
  name: String!
  region: String!
  users(first: Int = 50, after: String): UserConnection
  user(id: ID!): User
}

type UserConnection {
  pageInfo: PageInfo!
  totalCount: Int!
  nodes: [User!]!
}

type PageInfo {
  hasNextPage: Boolean!
  endCursor: String
}

type User {
  id: ID!
  email: String!
  firstName: String!
  lastName: String!
  role: String!
  active: Boolean!
  lastLogin: DateTime
  createdAt: DateTime!
}
"""
SCHEMA: GraphQLSchema = build_schema(SCHEMA_SDL)


@dataclass
class RoadmunkOrganisation(Organisation):
    """A generated organisation as one Roadmunk account of one region.

    ``users`` are :class:`SyntheticUser`: ``active`` is ``not disabled``, ``lastLogin`` is
    ``last_activity``; ``roles`` maps ObjectID -> Roadmunk role (change it to change a role).
    """

    region: str = DEFAULT_REGION
    roles: dict[int, str] = field(default_factory=dict)
    # "name": roles as the web app shows them ("Account Admin"); "enum": as GraphQL enums
    # ("ACCOUNT_ADMIN"), the `enum_roles=1` fault
    role_style: str = "name"

    @property
    def account_id(self) -> str:
        digest = hashlib.sha256(f"roadmunk-account:{self.region}:{self.seed}".encode())
        return f"{self.region}-{digest.hexdigest()[:16]}"

    @property
    def account_name(self) -> str:
        return f"Sandbox Org ({REGION_NAMES[self.region]})"

    def role(self, user: SyntheticUser) -> str:
        return self.roles.get(user.object_id, "Collaborator")

    def role_answered(self, user: SyntheticUser) -> str:
        """The role as the API answers it (a name, or an enum in the `enum_roles` mode)."""
        role = self.role(user)
        if self.role_style == "enum":
            return role.upper().replace(" ", "_").replace("-", "_")
        return role


def roadmunk_token(seed: int, region: str) -> str:
    """The sandbox API token of a seed's account in a region."""
    digest = hashlib.sha256(f"shelfware-roadmunk:{region}:{seed}".encode()).hexdigest()
    return "rmk_" + digest[:40]


def roadmunk_user_id(user: SyntheticUser) -> str:
    """A user's Roadmunk id (24 hex digits, like a database object id)."""
    return hashlib.sha1(f"roadmunk:{user.object_uuid}".encode()).hexdigest()[:24]


def generate_roadmunk_org(
    users: int, seed: int, now: datetime, region: str = DEFAULT_REGION
) -> RoadmunkOrganisation:
    """The Roadmunk account of ``region``: different people, ids and token in each region."""
    if region not in REGION_GATEWAYS:
        known = ", ".join(REGION_GATEWAYS)
        raise ValueError(f"unknown Roadmunk region {region!r} (known: {known})")
    base = generate_org(users, seed + _REGION_SEED_OFFSET[region], now)
    rng = random.Random(f"roadmunk-roles:{region}:{seed}")
    roles: dict[int, str] = {}
    for i, user in enumerate(base.users):
        drawn = rng.choices(("User Manager", "Reviewer", "Collaborator"), cum_weights=_ROLE_CUM)
        roles[user.object_id] = "Account Admin" if i == 0 or user.subscription_admin else drawn[0]
    return RoadmunkOrganisation(
        users=base.users,
        seed=seed,
        now=base.now,
        api_key=roadmunk_token(seed, region),
        subscription_id=base.subscription_id,
        region=region,
        roles=roles,
    )


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def user_node(org: RoadmunkOrganisation, user: SyntheticUser) -> dict[str, Any]:
    """A user as the GraphQL ``User`` type renders it (all fields)."""
    return {
        "id": roadmunk_user_id(user),
        "email": user.email or user.username,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "role": org.role_answered(user),
        "active": not user.disabled,
        "lastLogin": _iso(user.last_activity),
        "createdAt": _iso(user.creation_date),
    }


def render_user_report(org: RoadmunkOrganisation) -> bytes:
    """The "Download User CSV" report: UTF-8 with a BOM, every field quoted, CRLF line ends,
    sorted by last name, first name and email as the UI lists users."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(REPORT_COLUMNS)
    users = sorted(
        org.users, key=lambda u: (u.last_name, u.first_name, (u.email or u.username).lower())
    )
    for user in users:
        login = user.last_activity
        writer.writerow(
            (
                user.first_name,
                user.last_name,
                user.email or user.username,
                org.role(user),
                "Inactive" if user.disabled else "Active",
                "" if login is None else login.astimezone(UTC).strftime(REPORT_DATE_FORMAT),
            )
        )
    return out.getvalue().encode("utf-8-sig")


def _cursor(user_id: str) -> str:
    return base64.urlsafe_b64encode(f"user:{user_id}".encode()).decode().rstrip("=")


def _after(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    if not text.startswith("user:"):
        raise _input_error(f"invalid cursor {cursor!r} for argument 'after'")
    return text.removeprefix("user:")


def _input_error(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


class _PageFailure(Exception):
    """The ``fail_page`` fault: the whole response becomes an HTTP 500."""


class _Account:
    """The root ``account`` object; graphql-core's default resolver calls its methods."""

    def __init__(self, sandbox: RoadmunkSandbox) -> None:
        self.sandbox = sandbox
        org = sandbox.org
        self.id = org.account_id
        self.name = org.account_name
        self.region = org.region

    def users(self, info: Any, first: int | None = DEFAULT_FIRST, after: str | None = None) -> Any:
        sb = self.sandbox
        if first is None or not 1 <= first <= MAX_FIRST:
            raise _input_error(f"argument 'first' must be between 1 and {MAX_FIRST}, got {first}")
        ordered = sorted(sb.org.users, key=roadmunk_user_id)
        ids = [roadmunk_user_id(u) for u in ordered]
        start = 0 if after is None else bisect.bisect_right(ids, _after(after))
        page_number = start // first + 1
        if page_number == sb.faults.fail_page:
            sb.injected_errors += 1
            raise _PageFailure
        if page_number == sb.faults.envelope_error_page:
            sb.injected_errors += 1
            message = "Internal server error while reading users (injected fault)"
            raise GraphQLError(message, extensions={"code": "INTERNAL_SERVER_ERROR"})
        page = ordered[start : start + first]
        sb.pages += 1
        return {
            "pageInfo": {
                "hasNextPage": start + first < len(ordered),
                "endCursor": _cursor(ids[start + len(page) - 1]) if page else after,
            },
            "totalCount": len(ordered),
            "nodes": [user_node(sb.org, u) for u in page],
        }

    def user(self, info: Any, id: str) -> Any:
        org = self.sandbox.org
        found = next((u for u in org.users if roadmunk_user_id(u) == id), None)
        return None if found is None else user_node(org, found)


class RoadmunkSandbox:
    """The state of one Roadmunk sandbox, with counters tests can read."""

    def __init__(self, org: RoadmunkOrganisation, faults: FaultSpec, latency_ms: float) -> None:
        self.org = org
        self.faults = faults
        self.latency_ms = latency_ms
        self.dice = FaultDice(faults)
        self.requests = 0
        self.pages = 0
        self.injected_errors = 0
        self.injected_timeouts = 0
        self.reports = 0


def _json(payload: Any, status: int = 200) -> Response:
    body = json.dumps(payload, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json")


def _errors(status: int, message: str, code: str) -> Response:
    return _json({"errors": [{"message": message, "extensions": {"code": code}}]}, status)


def _formatted(errors: list[GraphQLError], default_code: str) -> list[dict[str, Any]]:
    out = []
    for error in errors:
        item: dict[str, Any] = dict(error.formatted)
        extensions: dict[str, Any] = {**(error.extensions or {})}
        extensions.setdefault("code", default_code)
        item["extensions"] = extensions
        out.append(item)
    return out


async def _guard(sb: RoadmunkSandbox, request: Request) -> Response | None:
    """Latency, the gateway's Bearer check and random faults; None lets the request through."""
    sb.requests += 1
    delay = sb.latency_ms + sb.faults.latency_ms
    if delay > 0:
        await asyncio.sleep(delay / 1000)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _errors(401, "Missing bearer token in Authorization header", "UNAUTHENTICATED")
    key = f"{request.method} {request.url.path}?{request.url.query}"
    fault = sb.dice.roll(key)
    if fault == "timeout":
        sb.injected_timeouts += 1
        await asyncio.sleep(sb.faults.hang_s)
        return Response("<html><body><h1>504 Gateway Time-out</h1></body></html>", 504)
    if fault == "error":
        sb.injected_errors += 1
        if sb.dice.flavour(key):
            html = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
            return Response(html, 503, media_type="text/html")
        return _errors(500, "Internal server error (injected fault)", "INTERNAL_SERVER_ERROR")
    return None


def _token_ok(sb: RoadmunkSandbox, request: Request) -> bool:
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    return token == sb.org.api_key


async def graphql_endpoint(request: Request) -> Response:
    """``POST /graphql``: parse, validate and execute one GraphQL request."""
    sb: RoadmunkSandbox = request.app.state.sandbox
    refused = await _guard(sb, request)
    if refused is not None:
        return refused
    if not _token_ok(sb, request):
        return _json(
            {
                "errors": [
                    {
                        "message": "Invalid API token",
                        "extensions": {"code": "UNAUTHENTICATED"},
                    }
                ],
                "data": None,
            }
        )
    try:
        body = json.loads(await request.body())
    except ValueError:
        return _errors(400, "The request body is not JSON", "BAD_REQUEST")
    query = body.get("query") if isinstance(body, dict) else None
    if not isinstance(query, str) or not query.strip():
        return _errors(400, 'The body must be a JSON object with a "query" string', "BAD_REQUEST")
    variables = body.get("variables")
    operation_name = body.get("operationName")
    if variables is not None and not isinstance(variables, dict):
        return _errors(400, '"variables" must be a JSON object', "BAD_REQUEST")
    if operation_name is not None and not isinstance(operation_name, str):
        return _errors(400, '"operationName" must be a string', "BAD_REQUEST")
    try:
        document = parse(query)
    except GraphQLError as exc:
        return _json({"errors": _formatted([exc], "GRAPHQL_PARSE_FAILED")})
    invalid = validate(SCHEMA, document)
    if invalid:
        return _json({"errors": _formatted(list(invalid), "GRAPHQL_VALIDATION_FAILED")})
    result: ExecutionResult = execute_sync(
        SCHEMA,
        document,
        root_value={"account": lambda info: _Account(sb)},
        variable_values=variables,
        operation_name=operation_name,
    )
    errors = list(result.errors or [])
    if any(isinstance(e.original_error, _PageFailure) for e in errors):
        return _errors(500, "Internal server error (injected fault)", "INTERNAL_SERVER_ERROR")
    payload: dict[str, Any] = {}
    if errors:
        code = "BAD_USER_INPUT" if result.data is None else "INTERNAL_SERVER_ERROR"
        payload["errors"] = _formatted(errors, code)
    if result.data is not None or not errors:
        payload["data"] = result.data
    return _json(payload)


async def user_report(request: Request) -> Response:
    """``GET /reports/users.csv``: the "Download User CSV" report of the account."""
    sb: RoadmunkSandbox = request.app.state.sandbox
    refused = await _guard(sb, request)
    if refused is not None:
        return refused
    if not _token_ok(sb, request):
        return _errors(401, "Invalid API token", "UNAUTHENTICATED")
    sb.reports += 1
    return Response(
        render_user_report(sb.org),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="roadmunk-users.csv"'},
    )


def create_roadmunk_app(
    org: RoadmunkOrganisation, faults: FaultSpec = FaultSpec(), latency_ms: float = 0
) -> Starlette:
    """The Roadmunk gateway of ``org.region`` as an ASGI app; its state is ``app.state.sandbox``."""
    app = Starlette(
        routes=[
            Route(GRAPHQL_PATH, graphql_endpoint, methods=["POST"]),
            Route(REPORT_PATH, user_report, methods=["GET"]),
        ]
    )
    if faults.enum_roles:
        org.role_style = "enum"
    app.state.sandbox = RoadmunkSandbox(org, faults, latency_ms)
    return app
