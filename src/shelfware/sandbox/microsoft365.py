"""A local emulator of Microsoft 365 licensing through Microsoft Graph v1.0 and its token endpoint.

One server plays both hosts: the Microsoft identity platform's token endpoint
(``POST /{tenant}/oauth2/v2.0/token``, the authority) and Graph (``/v1.0/...``), so a profile's
URL is ``{server}/v1.0`` and its ``authority`` option the server's root.

- Token endpoint: the client credentials grant only; checks the tenant (id or a verified
  domain), ``client_id`` and ``client_secret`` (form or HTTP Basic, not both different),
  ``grant_type`` and ``scope`` (must be ``https://graph.microsoft.com/.default``). Errors are the
  platform's ``{"error", "error_description": "AADSTS...", "error_codes", ...}``. The token is
  JWT-shaped (HS256 with the sandbox's key): ``aud`` Graph, ``tid``, ``appid``, ``roles`` (the
  application permissions granted), ``exp``.
- Graph checks the token on every request (signature, audience, expiry, tenant) and the
  permission each endpoint needs; errors are Graph's
  ``{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}``.
- ``GET /users``: ``$select`` honoured (an unknown property: 400), without it Graph's default
  properties; ``$top`` 1..999 (default 100; 120 at most when ``signInActivity`` is selected, as
  Graph documents); ``@odata.nextLink`` with an opaque ``$skiptoken``. ``signInActivity`` needs
  AuditLog.Read.All and a premium tenant (else 403
  ``Authentication_RequestFromNonPremiumTenantOrB2CTenant``).
- ``GET /users/{id}``, ``POST /users/{id}/assignLicense`` (really removes or adds; a license
  inherited from a group answers Graph's 400), ``GET /subscribedSkus``, ``GET /directoryRoles``
  (``$expand=members``), ``GET /organization``, and the usage report
  ``GET /reports/getOffice365ActiveUserDetail(period='D30')`` (302 to a pre-authenticated CSV).
- Throttling and outages: the kit's ``--faults`` (``rate_limit_rate`` / ``rate_limit_page`` with
  ``retry_after=S``: 429 with ``Retry-After``; ``error_rate``: 500/503), and Graph's own shapes:
  ``graph_ru=N`` (the identity service's resource units per 10 s per app and tenant, over it 429
  ``TooManyRequests`` with ``Retry-After``) and ``graph_throttle_rate=R`` (429 / 503 in Graph's
  error shape).

Assumed where Microsoft does not document it exactly (kept here): the wording of assignLicense's
errors for a license the user does not have ("User does not have a corresponding license.") and
for a group-inherited one; the report's download host (here the same server).
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import hmac
import io
import json
import math
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .faults import FaultSpec, PageHooks, fault_middleware

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
GRAPH_AUDIENCE = "https://graph.microsoft.com"
TOKEN_LIFETIME = 3599
DEFAULT_TOP = 100
MAX_TOP = 999
MAX_TOP_WITH_SIGN_IN = 120  # Graph: pages of at most 120 users when signInActivity is selected
# Application permissions an app registration may be granted (the `roles` claim).
READ_ROLES = ("User.Read.All", "Organization.Read.All", "AuditLog.Read.All", "Reports.Read.All")
WRITE_ROLE = "LicenseAssignment.ReadWrite.All"
USER_READ = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
ORG_READ = ("Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All")
LICENSE_WRITE = (WRITE_ROLE, "User.ReadWrite.All", "Directory.ReadWrite.All")
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"  # role template ids (well known)
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
# Graph's default properties of a user when no $select is given.
DEFAULT_USER_PROPERTIES = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
USER_PROPERTIES = frozenset(
    {
        *DEFAULT_USER_PROPERTIES,
        "accountEnabled",
        "userType",
        "createdDateTime",
        "assignedLicenses",
        "licenseAssignmentStates",
        "signInActivity",
        "department",
    }
)
GROUP_INHERITED = (
    "User license is inherited from a group membership and it cannot be removed directly from "
    "the user."
)
NOT_ASSIGNED = "User does not have a corresponding license."


@dataclass(frozen=True)
class Sku:
    sku_id: str
    part_number: str
    prepaid: int


# (skuId, skuPartNumber): Microsoft's published ids of well-known SKUs.
SKUS: tuple[tuple[str, str], ...] = (
    ("05e9a617-0261-4cee-bb44-138d3ef5d965", "SPE_E3"),
    ("06ebc4ee-1bb5-47dd-8120-11324bc54e06", "SPE_E5"),
    ("c5928f49-12ba-48f7-ada3-0d743a3601d5", "VISIOCLIENT"),
)


@dataclass
class GraphUser:
    id: str
    upn: str
    mail: str | None
    display_name: str
    enabled: bool
    user_type: str
    created: datetime
    # skuId -> the group it comes through (None: assigned directly)
    licenses: dict[str, str | None]
    last_interactive: datetime | None
    last_non_interactive: datetime | None
    last_successful: datetime | None
    department: str | None = None


@dataclass
class M365Tenant:
    tenant_id: str
    domain: str
    client_id: str
    client_secret: str
    skus: list[Sku]
    users: list[GraphUser]
    groups: dict[str, str]  # group id -> display name (licensing groups)
    admins: dict[str, set[str]]  # role template id -> member user ids
    roles: set[str]  # application permissions granted to the app registration
    premium: bool = True  # Entra ID P1/P2: signInActivity readable
    # the reports' "Display concealed user, group, and site names" setting (Microsoft's
    # default since 2021): user principal names in reports are hashes
    conceal_reports: bool = False
    # certificates (PEM) registered on the app registration: client assertions signed with
    # their keys are accepted instead of the secret
    certificates: list[bytes] = field(default_factory=list)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def api_key(self) -> str:  # SandboxOrg: the client secret
        return self.client_secret

    @property
    def profile_hint(self) -> str:
        return (
            f"client id {self.client_id}, client secret {self.client_secret}; options: "
            f"tenant={self.tenant_id} authority={{server}}"
        )

    def user(self, user_id: str) -> GraphUser | None:
        key = user_id.casefold()
        return next(
            (u for u in self.users if u.id == key or u.upn.casefold() == key),
            None,
        )

    def consumed(self, sku_id: str) -> int:
        return sum(1 for u in self.users if sku_id in u.licenses)

    def admin_ids(self) -> set[str]:
        return {uid for members in self.admins.values() for uid in members}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate_tenant(users: int, seed: int, now: datetime) -> M365Tenant:
    """A tenant of `users` people: E3 for most, E5 through a licensing group for some, Visio
    for a few; some admins, some disabled, sign-ins spread over the last 200 days."""
    rng = random.Random(seed)
    tenant_id = _uuid(rng)
    group_e5 = _uuid(rng)
    e3, e5, visio = (sid for sid, _ in SKUS)
    people: list[GraphUser] = []
    for i in range(users):
        licenses: dict[str, str | None] = {}
        draw = rng.random()
        if draw < 0.6:
            licenses[e3] = None
        elif draw < 0.75:
            licenses[e5] = group_e5
        elif draw < 0.85:
            licenses[e5] = None
        if rng.random() < 0.15:
            licenses[visio] = None
        if i == 0:
            licenses = {e5: None}
        days = rng.choice([1, 3, 10, 20, 45, 80, 120, 200, None])
        last = now - timedelta(days=days, hours=rng.randint(0, 23)) if days else None
        non_interactive = (
            last + timedelta(hours=rng.randint(1, 20)) if last and rng.random() < 0.5 else None
        )
        people.append(
            GraphUser(
                id=_uuid(rng),
                upn=f"user{i:05d}@contoso.example",
                mail=f"user{i:05d}@contoso.example" if rng.random() < 0.95 else None,
                display_name=f"User {i:05d}",
                enabled=i == 0 or rng.random() > 0.08,
                user_type="Guest" if i and rng.random() < 0.03 else "Member",
                created=now - timedelta(days=rng.randint(30, 1500)),
                licenses=licenses,
                last_interactive=last,
                last_non_interactive=non_interactive,
                last_successful=last,
            )
        )
    admins = {GLOBAL_ADMIN: {people[0].id}} if people else {GLOBAL_ADMIN: set()}
    admins[USER_ADMIN] = {u.id for u in people[1:] if rng.random() < 0.04}
    tenant = M365Tenant(
        tenant_id=tenant_id,
        domain="contoso.example",
        client_id=_uuid(rng),
        client_secret="sandbox~" + hashlib.sha256(f"{seed}".encode()).hexdigest()[:32],
        skus=[],
        users=people,
        groups={group_e5: "Licensing - Microsoft 365 E5"},
        admins=admins,
        roles={*READ_ROLES, WRITE_ROLE},
        now=now,
    )
    tenant.skus = [
        Sku(sid, part, tenant.consumed(sid) + rng.randint(0, max(1, users // 10)))
        for sid, part in SKUS
    ]
    return tenant


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


class GraphSandbox:
    def __init__(self, tenant: M365Tenant, faults: FaultSpec) -> None:
        self.tenant = tenant
        self.faults = faults
        self.key = hashlib.sha256(f"{tenant.tenant_id}|{tenant.client_secret}".encode()).digest()
        self.tokens_issued = 0
        self.assign_calls = 0
        self.removed: list[tuple[str, str]] = []  # (user id, sku id) really removed
        self.reports: dict[str, bytes] = {}
        self.clock = time.time
        # Graph's own throttling, answered to the next Graph requests in turn: (status,
        # Retry-After seconds); 429 TooManyRequests or 503 serviceNotAvailable, Graph's body
        self.throttle_next: list[tuple[int, float]] = []
        self.report_calls = 0
        self.throttled: list[tuple[int, str]] = []  # (status, request path) answered so
        # the `graph_ru` window: (monotonic time, resource units) of the requests served
        self.spent: deque[tuple[float, int]] = deque()
        self.ru_window = RU_WINDOW  # seconds (tests shorten it)
        self.rng = random.Random(faults.seed)
        # every Graph request: (monotonic time, path?query, status answered by the throttle or 0)
        self.seen: list[tuple[float, str, int]] = []
        # statuses the report's download answers the next times before serving it
        self.download_fail_next: list[int] = []

    def throttle(self, request: Request) -> tuple[int, float] | None:
        """Graph's throttling from the `--faults` keys: (status, Retry-After) or None."""
        faults = self.faults
        if faults.graph_throttle_rate and self.rng.random() < faults.graph_throttle_rate:
            status = 429 if len(self.throttled) % 2 == 0 else 503
            return status, faults.retry_after if faults.retry_after is not None else 1.0
        if faults.graph_ru is None:
            return None
        cost = request_cost(request)
        now = time.monotonic()
        while self.spent and self.spent[0][0] <= now - self.ru_window:
            self.spent.popleft()
        used = sum(units for _, units in self.spent)
        if used + cost > faults.graph_ru:
            # whole seconds until enough of the window has expired (Graph sends integers)
            free, at = used + cost - faults.graph_ru, now
            for when, units in self.spent:
                free -= units
                at = when
                if free <= 0:
                    break
            return 429, float(max(1, math.ceil(at + self.ru_window - now)))
        self.spent.append((now, cost))
        return None

    # ---------------------------------------------------------------- tokens

    def issue(self) -> str:
        now = int(self.clock())
        header = {"typ": "JWT", "alg": "HS256", "kid": "sandbox"}
        claims = {
            "aud": GRAPH_AUDIENCE,
            "iss": f"https://sts.windows.net/{self.tenant.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "appid": self.tenant.client_id,
            "tid": self.tenant.tenant_id,
            "roles": sorted(self.tenant.roles),
            "ver": "1.0",
        }
        signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = hmac.new(self.key, signing.encode(), hashlib.sha256).digest()
        self.tokens_issued += 1
        return f"{signing}.{_b64(signature)}"

    def claims(self, token: str) -> dict[str, Any] | str:
        """The token's claims, or why it is refused."""
        parts = token.split(".")
        if len(parts) != 3:
            return "IDX14100: JWT is not well formed."
        expected = hmac.new(self.key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(expected, _unb64(parts[2])):
                return "Access token validation failure. Invalid signature."
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, binascii.Error):
            return "IDX14100: JWT is not well formed."
        if claims.get("aud") != GRAPH_AUDIENCE:
            return "Access token validation failure. Invalid audience."
        if claims.get("tid") != self.tenant.tenant_id:
            return "Access token validation failure. Invalid tenant."
        if int(claims.get("exp", 0)) <= self.clock():
            return "Lifetime validation failed, the token is expired."
        return dict(claims)


def _sandbox(request: Request) -> GraphSandbox:
    sandbox: GraphSandbox = request.app.state.sandbox
    return sandbox


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload),
        status,
        headers,
        media_type="application/json;odata.metadata=minimal;odata.streaming=true",
    )


def graph_error(status: int, code: str, message: str, request: Request | None = None) -> Response:
    request_id = str(uuid.uuid4())
    inner = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": (request.headers.get("client-request-id") if request else None)
        or request_id,
    }
    body = {"error": {"code": code, "message": message, "innerError": inner}}
    return _json(body, status, {"request-id": request_id})


def aad_error(status: int, error: str, code: int, description: str) -> Response:
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {description}",
        "error_codes": [code],
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
    }
    return Response(json.dumps(body), status, media_type="application/json; charset=utf-8")


# ------------------------------------------------------------------ token endpoint

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def check_assertion(
    tenant: M365Tenant, assertion: str, audience: str, now: float
) -> Response | None:
    """None when `assertion` is a valid client assertion of the app (RFC 7523 section 2.2,
    signed by a registered certificate), else the platform's error."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    malformed = aad_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
    parts = assertion.split(".")
    if len(parts) != 3:
        return malformed
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (ValueError, binascii.Error):
        return malformed
    if header.get("alg") != "RS256":
        return malformed
    for pem in tenant.certificates:
        certificate = x509.load_pem_x509_certificate(pem)
        thumbprints = {
            _b64(certificate.fingerprint(hashes.SHA1())),
            _b64(certificate.fingerprint(hashes.SHA256())),
        }
        if not {header.get("x5t"), header.get("x5t#S256")} & thumbprints:
            continue
        key = certificate.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        try:
            key.verify(
                signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return aad_error(
                401, "invalid_client", 700027, "Client assertion failed signature validation."
            )
        if (
            claims.get("aud") != audience
            or claims.get("iss") != tenant.client_id
            or claims.get("sub") != tenant.client_id
        ):
            return aad_error(
                401,
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter "
                "or the audience is not the token endpoint.",
            )
        if not int(claims.get("nbf", 0)) - 300 <= now < int(claims.get("exp", 0)):
            return aad_error(
                401,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            )
        return None
    return aad_error(
        401,
        "invalid_client",
        700027,
        "Client assertion contains an invalid signature. The key was not found.",
    )


async def token_endpoint(request: Request) -> Response:
    sb = _sandbox(request)
    tenant = sb.tenant
    if request.path_params["tenant"].casefold() not in (tenant.tenant_id, tenant.domain):
        return aad_error(
            400,
            "invalid_request",
            90002,
            f"Tenant '{request.path_params['tenant']}' not found. Check to make sure you have "
            "the correct tenant ID and are signing into the correct cloud.",
        )
    form = {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}
    client_id, secret = form.get("client_id"), form.get("client_secret")
    basic = request.headers.get("authorization", "")
    if basic.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
        except (ValueError, binascii.Error):
            return aad_error(401, "invalid_client", 7000216, "Malformed client credentials.")
        if (client_id and client_id != user) or (secret and secret != password):
            return aad_error(
                401, "invalid_client", 7000218, "The client credentials in the request differ."
            )
        client_id, secret = user, password
    if form.get("grant_type") != "client_credentials":
        return aad_error(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{form.get('grant_type')}'.",
        )
    if client_id != tenant.client_id:
        return aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{tenant.tenant_id}'.",
        )
    if form.get("client_assertion_type") == JWT_BEARER:
        if secret:
            return aad_error(
                401, "invalid_client", 7000219, "Only one client authentication method is allowed."
            )
        audience = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        refused = check_assertion(tenant, form.get("client_assertion", ""), audience, sb.clock())
        if refused is not None:
            return refused
        secret = tenant.client_secret  # authenticated by the certificate
    if not secret:
        return aad_error(
            401,
            "invalid_client",
            7000215,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
        )
    if not hmac.compare_digest(secret.encode(), tenant.client_secret.encode()):
        return aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is "
            "the client secret value, not the client secret ID.",
        )
    if form.get("scope") != GRAPH_SCOPE:
        return aad_error(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {form.get('scope')} is not valid. Client "
            "credential flows must have a scope value with /.default suffixed to the resource "
            "identifier (application ID URI).",
        )
    return _json(
        {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": sb.issue(),
        }
    )


# ------------------------------------------------------------------ Graph


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _authorise(request: Request, *needs: str) -> dict[str, Any]:
    sb = _sandbox(request)
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        raise _Refused(
            graph_error(401, "InvalidAuthenticationToken", "Access token is empty.", request)
        )
    found = sb.claims(header[7:].strip())
    if isinstance(found, str):
        raise _Refused(graph_error(401, "InvalidAuthenticationToken", found, request))
    roles = set(found.get("roles") or ())
    if needs and not roles & set(needs):
        raise _Refused(
            graph_error(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
                request,
            )
        )
    return found


def _select(request: Request, allowed: frozenset[str], default: tuple[str, ...]) -> list[str]:
    raw = request.query_params.get("$select")
    if raw is None:
        return list(default)
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if name not in allowed:
            raise _Refused(
                graph_error(
                    400,
                    "Request_BadRequest",
                    f"Could not find a property named '{name}' on type 'microsoft.graph.user'.",
                    request,
                )
            )
    return names if "id" in names else [*names, "id"]


def render_user(sb: GraphSandbox, user: GraphUser, names: list[str]) -> dict[str, Any]:
    full: dict[str, Any] = {
        "id": user.id,
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": None,
        "jobTitle": None,
        "mail": user.mail,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "surname": None,
        "userPrincipalName": user.upn,
        "accountEnabled": user.enabled,
        "userType": user.user_type,
        "createdDateTime": iso(user.created),
        "department": user.department,
        "assignedLicenses": [{"disabledPlans": [], "skuId": sku} for sku in sorted(user.licenses)],
        "licenseAssignmentStates": [
            {
                "assignedByGroup": group,
                "disabledPlans": [],
                "error": "None",
                "lastUpdatedDateTime": iso(user.created),
                "skuId": sku,
                "state": "Active",
            }
            for sku, group in sorted(user.licenses.items())
        ],
        "signInActivity": {
            "lastSignInDateTime": iso(user.last_interactive),
            "lastSignInRequestId": str(uuid.uuid5(uuid.NAMESPACE_URL, user.id + "i")),
            "lastNonInteractiveSignInDateTime": iso(user.last_non_interactive),
            "lastNonInteractiveSignInRequestId": str(uuid.uuid5(uuid.NAMESPACE_URL, user.id)),
            "lastSuccessfulSignInDateTime": iso(user.last_successful),
            "lastSuccessfulSignInRequestId": str(uuid.uuid5(uuid.NAMESPACE_URL, user.id + "s")),
        },
    }
    return {name: full[name] for name in names}


def _check_sign_in(request: Request, names: list[str], claims: dict[str, Any]) -> None:
    if "signInActivity" not in names:
        return
    sb = _sandbox(request)
    if not sb.tenant.premium:
        raise _Refused(
            graph_error(
                403,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "Neither tenant is B2C or tenant doesn't have premium license",
                request,
            )
        )
    if "AuditLog.Read.All" not in set(claims.get("roles") or ()):
        raise _Refused(
            graph_error(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
                request,
            )
        )


def _graph_base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}/v1.0"


def _top(request: Request, signs_in: bool) -> int:
    raw = request.query_params.get("$top")
    if raw is None:
        top = DEFAULT_TOP
    else:
        try:
            top = int(raw)
        except ValueError:
            top = 0
        if not 1 <= top <= MAX_TOP:
            raise _Refused(
                graph_error(
                    400,
                    "Request_UnsupportedQuery",
                    f"Invalid page size specified: '{raw}'. Must be between 1 and {MAX_TOP} "
                    "inclusive.",
                    request,
                )
            )
    return min(top, MAX_TOP_WITH_SIGN_IN) if signs_in else top


def _skip(request: Request) -> int:
    token = request.query_params.get("$skiptoken")
    if token is None:
        return 0
    try:
        kind, _, offset = _unb64(token).decode().partition(":")
        if kind != "users":
            raise ValueError
        return int(offset)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _Refused(
            graph_error(
                400,
                "Directory_ExpiredPageToken",
                "The specified page token value has "
                "expired and can no longer be included in your request.",
                request,
            )
        ) from None


async def list_users(request: Request) -> Response:
    sb = _sandbox(request)
    claims = _authorise(request, *USER_READ)
    names = _select(request, USER_PROPERTIES, DEFAULT_USER_PROPERTIES)
    _check_sign_in(request, names, claims)
    if request.query_params.get("$filter"):
        return graph_error(
            400, "Request_UnsupportedQuery", "The sandbox does not filter users.", request
        )
    top = _top(request, "signInActivity" in names)
    offset = _skip(request)
    chunk = sb.tenant.users[offset : offset + top]
    selected = ",".join(names)
    body: dict[str, Any] = {
        "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users({selected})",
        "value": [render_user(sb, u, names) for u in chunk],
    }
    if offset + top < len(sb.tenant.users):
        params = {k: v for k, v in request.query_params.items() if k != "$skiptoken"}
        params["$skiptoken"] = _b64(f"users:{offset + top}".encode())
        body["@odata.nextLink"] = f"{_graph_base(request)}/users?" + urlencode(
            params, quote_via=quote, safe="$,"
        )
    return _json(body)


def _not_found(request: Request, object_id: str) -> Response:
    return graph_error(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property "
        "objects are not present.",
        request,
    )


async def get_user(request: Request) -> Response:
    sb = _sandbox(request)
    claims = _authorise(request, *USER_READ)
    names = _select(request, USER_PROPERTIES, DEFAULT_USER_PROPERTIES)
    _check_sign_in(request, names, claims)
    user = sb.tenant.user(request.path_params["user_id"])
    if user is None:
        return _not_found(request, request.path_params["user_id"])
    return _json(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            **render_user(sb, user, names),
        }
    )


async def assign_license(request: Request) -> Response:
    sb = _sandbox(request)
    _authorise(request, *LICENSE_WRITE)
    sb.assign_calls += 1
    user = sb.tenant.user(request.path_params["user_id"])
    if user is None:
        return _not_found(request, request.path_params["user_id"])
    try:
        body = json.loads(await request.body())
    except ValueError:
        return graph_error(400, "BadRequest", "Unable to read JSON request payload.", request)
    if not isinstance(body, dict) or "addLicenses" not in body or "removeLicenses" not in body:
        return graph_error(
            400,
            "Request_BadRequest",
            "One or more parameters of the function import 'assignLicense' are missing from "
            "the request payload. The missing parameters are: addLicenses, removeLicenses.",
            request,
        )
    known = {s.sku_id for s in sb.tenant.skus}
    removes = [str(s).casefold() for s in body.get("removeLicenses") or []]
    adds = [a for a in body.get("addLicenses") or [] if isinstance(a, dict)]
    for sku in [*removes, *(str(a.get("skuId", "")).casefold() for a in adds)]:
        if sku not in known:
            return graph_error(
                400,
                "Request_BadRequest",
                f"License {sku} does not correspond to a valid company License.",
                request,
            )
    for sku in removes:
        if sku not in user.licenses:
            return graph_error(400, "Request_BadRequest", NOT_ASSIGNED, request)
        if user.licenses[sku] is not None:
            return graph_error(400, "Request_BadRequest", GROUP_INHERITED, request)
    for sku in removes:
        del user.licenses[sku]
        sb.removed.append((user.id, sku))
    for add in adds:
        sku = str(add["skuId"]).casefold()
        user.licenses.setdefault(sku, None)
    return _json(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            **render_user(sb, user, list(DEFAULT_USER_PROPERTIES)),
        }
    )


SKU_PROPERTIES = frozenset(
    {
        "accountId",
        "accountName",
        "appliesTo",
        "capabilityStatus",
        "consumedUnits",
        "id",
        "prepaidUnits",
        "servicePlans",
        "skuId",
        "skuPartNumber",
        "subscriptionIds",
    }
)


async def subscribed_skus(request: Request) -> Response:
    sb = _sandbox(request)
    _authorise(request, *ORG_READ)
    tenant = sb.tenant
    names = _select(request, SKU_PROPERTIES, tuple(sorted(SKU_PROPERTIES)))
    rows = []
    for sku in tenant.skus:
        full = {
            "accountId": tenant.tenant_id,
            "accountName": "Contoso",
            "appliesTo": "User",
            "capabilityStatus": "Enabled",
            "consumedUnits": tenant.consumed(sku.sku_id),
            "id": f"{tenant.tenant_id}_{sku.sku_id}",
            "skuId": sku.sku_id,
            "skuPartNumber": sku.part_number,
            "subscriptionIds": [str(uuid.uuid5(uuid.NAMESPACE_URL, sku.sku_id))],
            "prepaidUnits": {"enabled": sku.prepaid, "suspended": 0, "warning": 0, "lockedOut": 0},
            "servicePlans": [],
        }
        rows.append({k: full[k] for k in names})
    return _json(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscribedSkus",
            "value": rows,
        }
    )


async def directory_roles(request: Request) -> Response:
    sb = _sandbox(request)
    _authorise(request, *USER_READ, "RoleManagement.Read.Directory")
    expand = request.query_params.get("$expand", "")
    names = {GLOBAL_ADMIN: "Global Administrator", USER_ADMIN: "User Administrator"}
    rows = []
    for template, members in sb.tenant.admins.items():
        row: dict[str, Any] = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, template)),
            "deletedDateTime": None,
            "description": names[template],
            "displayName": names[template],
            "roleTemplateId": template,
        }
        if expand == "members":
            row["members"] = [
                {"@odata.type": "#microsoft.graph.user", "id": uid} for uid in sorted(members)
            ]
        elif expand:
            return graph_error(
                400, "Request_BadRequest", f"Could not find a property named '{expand}'.", request
            )
        rows.append(row)
    return _json({"value": rows})


async def organization(request: Request) -> Response:
    sb = _sandbox(request)
    _authorise(request, *ORG_READ, "User.Read.All")
    tenant = sb.tenant
    return _json(
        {
            "value": [
                {
                    "id": tenant.tenant_id,
                    "displayName": "Contoso",
                    "verifiedDomains": [
                        {"name": tenant.domain, "isDefault": True, "isInitial": False}
                    ],
                }
            ]
        }
    )


REPORT_COLUMNS = (
    "Report Refresh Date",
    "User Principal Name",
    "Display Name",
    "Is Deleted",
    "Deleted Date",
    "Has Exchange License",
    "Has OneDrive License",
    "Has SharePoint License",
    "Has Skype For Business License",
    "Has Yammer License",
    "Has Teams License",
    "Exchange Last Activity Date",
    "OneDrive Last Activity Date",
    "SharePoint Last Activity Date",
    "Skype For Business Last Activity Date",
    "Yammer Last Activity Date",
    "Teams Last Activity Date",
    "Assigned Products",
)


def active_user_report(tenant: M365Tenant) -> bytes:
    """getOffice365ActiveUserDetail as CSV (UTF-8 with BOM), one row per user; last activity
    dates per product (dates only), from the users' last successful sign-in."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REPORT_COLUMNS)
    refresh = (tenant.now - timedelta(days=2)).date().isoformat()
    parts = {s.sku_id: s.part_number for s in tenant.skus}
    for user in tenant.users:
        seen = user.last_successful.date().isoformat() if user.last_successful else ""
        licensed = "True" if user.licenses else "False"
        shown = (
            hashlib.md5(user.upn.encode()).hexdigest().upper()
            if tenant.conceal_reports
            else user.upn
        )
        writer.writerow(
            [
                refresh,
                shown,
                user.display_name,
                "False",
                "",
                *([licensed] * 6),
                seen,
                "",
                "",
                "",
                "",
                seen,
                "+".join(parts.get(s, s) for s in sorted(user.licenses)),
            ]
        )
    return b"\xef\xbb\xbf" + out.getvalue().encode()


async def reports(request: Request) -> Response:
    sb = _sandbox(request)
    _authorise(request, "Reports.Read.All")
    name = request.path_params["call"]
    if not name.startswith("getOffice365ActiveUserDetail("):
        return graph_error(
            400, "BadRequest", f"Resource not found for the segment '{name}'.", request
        )
    argument = name.removeprefix("getOffice365ActiveUserDetail(").removesuffix(")")
    period = argument.removeprefix("period=").strip("'")
    if not argument.startswith("period=") or period not in ("D7", "D30", "D90", "D180"):
        return graph_error(400, "BadRequest", f"Invalid period {period}.", request)
    token = _b64(uuid.uuid4().bytes)
    sb.report_calls += 1
    sb.reports[token] = active_user_report(sb.tenant)
    location = f"{request.url.scheme}://{request.url.netloc}/reportdownload/{token}.csv"
    return Response(status_code=302, headers={"Location": location})


async def report_download(request: Request) -> Response:
    """The pre-authenticated download the report redirects to (no token needed)."""
    sb = _sandbox(request)
    if sb.download_fail_next:  # the storage host's passing trouble: 503 (or what is listed)
        status = sb.download_fail_next.pop(0)
        return Response("Server Busy", status, {"Retry-After": "0.2"}, media_type="text/plain")
    body = sb.reports.pop(request.path_params["token"], None)
    if body is None:
        return Response("<html><body>Not found</body></html>", 404, media_type="text/html")
    return Response(body, media_type="application/octet-stream")


async def unknown_segment(request: Request) -> Response:
    _authorise(request)
    segment = request.path_params.get("rest", "").split("/")[0]
    return graph_error(
        400, "BadRequest", f"Resource not found for the segment '{segment}'.", request
    )


THROTTLE_CODES = {
    429: ("TooManyRequests", "Too many requests. Please retry after the time in Retry-After."),
    503: ("serviceNotAvailable", "Service is temporarily unavailable. Please try again later."),
}


GRAPH_FAULTS = ("graph_ru", "graph_throttle_rate")
RU_WINDOW = 10.0  # Graph's identity service: resource units per 10 seconds per app and tenant


def request_cost(request: Request) -> int:
    """Resource units of a request, as Graph's identity-service table prices them: listing
    users costs 2, 1 less with `$select`; anything else 1; `$expand` adds 1."""
    cost = 1
    if request.method == "GET" and request.url.path.rstrip("/") == "/v1.0/users":
        cost = 1 if request.query_params.get("$select") else 2
    return cost + (1 if request.query_params.get("$expand") else 0)


def _guarded(handler: Any) -> Any:
    async def run(request: Request) -> Response:
        sb = _sandbox(request)
        graph = request.url.path.startswith("/v1.0/")
        limited = None
        if graph:
            limited = sb.throttle_next.pop(0) if sb.throttle_next else sb.throttle(request)
            where = request.url.path + ("?" + request.url.query if request.url.query else "")
            sb.seen.append((time.monotonic(), where, limited[0] if limited else 0))
        if limited is not None:
            status, wait = limited
            sb.throttled.append((status, request.url.path))
            code, message = THROTTLE_CODES[status]
            throttled = graph_error(status, code, message, request)
            throttled.headers["Retry-After"] = f"{wait:g}"
            return throttled
        try:
            response: Response = await handler(request)
            return response
        except _Refused as refused:
            return refused.response

    return run


def _page_number(request: Request) -> int | None:
    if request.url.path.rstrip("/") != "/v1.0/users":
        return None
    try:
        top = int(request.query_params.get("$top", DEFAULT_TOP))
        if "signInActivity" in request.query_params.get("$select", ""):
            top = min(top, MAX_TOP_WITH_SIGN_IN)
        token = request.query_params.get("$skiptoken")
        offset = int(_unb64(token).decode().partition(":")[2]) if token else 0
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return offset // max(top, 1) + 1


def _drop_last(body: Any) -> None:
    if isinstance(body, dict) and body.get("value"):
        body["value"].pop()


def create_m365_app(
    tenant: M365Tenant, faults: FaultSpec = FaultSpec(), latency_ms: float = 0
) -> Starlette:
    """The Microsoft 365 sandbox as an ASGI app; its state is ``app.state.sandbox``."""
    sandbox = GraphSandbox(tenant, faults)
    spec = replace(faults, latency_ms=faults.latency_ms + latency_ms) if latency_ms else faults
    routes = [
        Route("/{tenant}/oauth2/v2.0/token", _guarded(token_endpoint), methods=["POST"]),
        Route("/v1.0/users", _guarded(list_users), methods=["GET"]),
        Route("/v1.0/users/{user_id}", _guarded(get_user), methods=["GET"]),
        Route("/v1.0/users/{user_id}/assignLicense", _guarded(assign_license), methods=["POST"]),
        Route("/v1.0/subscribedSkus", _guarded(subscribed_skus), methods=["GET"]),
        Route("/v1.0/directoryRoles", _guarded(directory_roles), methods=["GET"]),
        Route("/v1.0/organization", _guarded(organization), methods=["GET"]),
        Route("/v1.0/reports/{call}", _guarded(reports), methods=["GET"]),
        Route("/reportdownload/{token}.csv", report_download, methods=["GET"]),
        Route("/v1.0/{rest:path}", _guarded(unknown_segment), methods=["GET", "POST"]),
    ]
    hooks = PageHooks(page_number=_page_number, drop_last_record=_drop_last)
    app = Starlette(
        routes=routes,
        middleware=[fault_middleware(spec, "microsoft365", hooks, own=GRAPH_FAULTS)],
    )
    app.state.sandbox = sandbox
    return app
