"""A local emulator of Google Workspace licensing: the OAuth 2.0 token endpoint for service
accounts (JWT bearer grant, RFC 7523, with domain-wide delegation), the Admin SDK Directory API
(users) and the Enterprise License Manager API (license assignments).

One server plays every host: the token endpoint at ``/token``, Directory at
``/admin/directory/v1/...``, licensing at ``/apps/licensing/v1/...``. The profile's URL is the
server; its service account key file names ``{server}/token`` as ``token_uri``.

- Token endpoint: ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and ``assertion``,
  an RS256 JWT whose signature is checked with the service account's public key (``kid`` =
  ``private_key_id``), ``iss`` = the account's email, ``aud`` = the token URL (or Google's,
  which google-auth always names), ``exp`` at most an
  hour after ``iat``, ``scope`` within the scopes the domain-wide delegation grants, ``sub`` a
  super admin of the domain. Errors are Google's ``{"error", "error_description"}``.
- APIs check the bearer token and its scopes; errors are Google's
  ``{"error": {"code", "message", "errors": [{"message", "domain", "reason"}], "status"}}``;
  lists page with ``pageToken`` / ``nextPageToken``; ``maxResults`` capped (users 500,
  licenses 1000).
- Quotas: ``state.throttle_next`` answers the next API requests with 429 ``RESOURCE_EXHAUSTED``
  or 403 ``rateLimitExceeded`` (no Retry-After: Google asks for exponential backoff), and the
  kit's ``--faults`` apply, with Google's own: ``google_qpm=N`` (queries per minute per
  impersonated user, over it 403 ``userRateLimitExceeded``) and ``google_quota_rate=R`` (403
  ``rateLimitExceeded``).
- Users who never signed in have ``lastLoginTime`` ``1970-01-01T00:00:00.000Z``, as in Google.

Assumed (kept here): the wording of the licensing API's not-found message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import secrets
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .faults import FaultSpec, fault_middleware

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LICENSING_SCOPE = "https://www.googleapis.com/auth/apps.licensing"
USERS_READ_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"
USERS_SCOPE = "https://www.googleapis.com/auth/admin.directory.user"
REPORTS_SCOPE = "https://www.googleapis.com/auth/admin.reports.usage.readonly"
DELEGATED_SCOPES = frozenset({LICENSING_SCOPE, USERS_READ_SCOPE, USERS_SCOPE, REPORTS_SCOPE})
GOOGLE_TOKEN = "https://oauth2.googleapis.com/token"
NEVER = "1970-01-01T00:00:00.000Z"  # Google's lastLoginTime for someone who never signed in
PRODUCT = "Google-Apps"
# (skuId, skuName): Google's published ids
SKUS = (
    ("1010020027", "Google Workspace Business Starter"),
    ("1010020028", "Google Workspace Business Standard"),
    ("1010020025", "Google Workspace Business Plus"),
)
NOT_LICENSED = "User does not have a license for specified sku and product"


@dataclass
class GoogleUser:
    id: str
    email: str
    name: str
    is_admin: bool
    suspended: bool
    created: datetime
    last_login: datetime | None
    licenses: dict[str, str]  # skuId -> productId


@dataclass
class GoogleDomain:
    domain: str
    customer_id: str
    service_account: dict[str, str]  # the key file (JSON), private key included
    public_key: rsa.RSAPublicKey
    users: list[GoogleUser]
    delegated_scopes: set[str] = field(default_factory=lambda: set(DELEGATED_SCOPES))
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def api_key(self) -> str:  # SandboxOrg: the service account key file
        return json.dumps(self.service_account)

    # the secret is a document (a key file with a private key): the CLI writes it to a 0600
    # file and prints where, never the key itself
    secret_file_name = "google-service-account.json"

    @property
    def admin(self) -> str:
        return next(u.email for u in self.users if u.is_admin)

    @property
    def profile_hint(self) -> str:
        return (
            f"options: customer={self.customer_id} admin={self.admin} "
            "token_uri={server}/token directory_url={server}"
        )

    def user(self, key: str) -> GoogleUser | None:
        key = key.casefold()
        return next((u for u in self.users if key in (u.id, u.email.casefold())), None)


def generate_domain(users: int, seed: int, now: datetime, token_uri: str = "") -> GoogleDomain:
    """A domain of `users` people: Business Standard for most, Plus for some, Starter for a
    few, a few without a license; some super admins, some suspended, sign-ins over 200 days."""
    rng = random.Random(seed)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    domain = "example.org"
    account = {
        "type": "service_account",
        "project_id": "shelfware-sandbox",
        "private_key_id": hashlib.sha1(pem.encode()).hexdigest(),
        "private_key": pem,
        "client_email": "shelfware@shelfware-sandbox.iam.gserviceaccount.com",
        "client_id": str(rng.randrange(10**20, 10**21)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri or "https://oauth2.googleapis.com/token",
    }
    people = []
    starter, standard, plus = (sku for sku, _ in SKUS)
    for i in range(users):
        draw = rng.random()
        sku = standard if draw < 0.6 else plus if draw < 0.8 else starter if draw < 0.93 else None
        days = rng.choice([1, 4, 15, 35, 70, 120, 200, None])
        people.append(
            GoogleUser(
                id=str(rng.randrange(10**20, 10**21)),
                email=f"person{i:05d}@{domain}",
                name=f"Person {i:05d}",
                is_admin=i == 0 or rng.random() < 0.03,
                suspended=i != 0 and rng.random() < 0.07,
                created=now - timedelta(days=rng.randint(30, 1500)),
                last_login=now - timedelta(days=days, hours=rng.randint(0, 23)) if days else None,
                licenses={sku: PRODUCT} if sku else {},
            )
        )
    return GoogleDomain(
        domain=domain,
        customer_id="C0" + "".join(rng.choice("0123456789abcdef") for _ in range(7)),
        service_account=account,
        public_key=key.public_key(),
        users=people,
        now=now,
    )


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status, media_type="application/json; charset=UTF-8")


def google_error(
    status: int, message: str, reason: str, state: str, domain: str = "global"
) -> Response:
    return _json(
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": domain, "reason": reason}],
                "status": state,
            }
        },
        status,
    )


def token_error(status: int, error: str, description: str) -> Response:
    return _json({"error": error, "error_description": description}, status)


def iso(value: datetime | None) -> str:
    if value is None:
        return NEVER
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"


@dataclass
class Grant:
    scopes: frozenset[str]
    subject: str
    expires: float


class GoogleSandbox:
    def __init__(self, domain: GoogleDomain, faults: FaultSpec = FaultSpec()) -> None:
        self.domain = domain
        self.faults = faults
        self.rng = random.Random(faults.seed)
        # `google_qpm`: per impersonated user, the times of the queries served in the last minute
        self.windows: dict[str, deque[float]] = {}
        self.qpm_window = 60.0  # seconds (tests shorten it)
        # every API request: (monotonic time, path?query, status answered by a quota or 0)
        self.seen: list[tuple[float, str, int]] = []
        # assignments per (product, sku or None), rebuilt after a delete
        self._held: dict[tuple[str, str | None], list[tuple[str, GoogleUser]]] = {}
        self.tokens: dict[str, Grant] = {}
        self.tokens_issued = 0
        self.deletes = 0
        self.removed: list[tuple[str, str]] = []  # (user email, sku id)
        self.throttle_next: list[tuple[int, str]] = []  # (status, reason)
        self.throttled: list[int] = []
        self.clock = time.time

    def quota(self, subject: str) -> tuple[int, str] | None:
        """Google's quotas from the `--faults` keys: (403, reason) or None."""
        if self.faults.google_quota_rate and self.rng.random() < self.faults.google_quota_rate:
            return 403, "rateLimitExceeded"
        if self.faults.google_qpm is None:
            return None
        now = time.monotonic()
        window = self.windows.setdefault(subject.casefold(), deque())
        while window and window[0] <= now - self.qpm_window:
            window.popleft()
        if len(window) >= self.faults.google_qpm:
            return 403, "userRateLimitExceeded"
        window.append(now)
        return None

    def held(self, product: str, sku: str | None, first: bool) -> list[tuple[str, GoogleUser]]:
        """The assignments listed, read again for a first page (the later pages of a listing
        reuse it: 100,000 users are not scanned once per page)."""
        key = (product, sku)
        if first or key not in self._held:
            self._held[key] = [
                (sku_id, user)
                for user in self.domain.users
                for sku_id, prod in sorted(user.licenses.items())
                if prod == product and (sku is None or sku_id == sku)
            ]
        return self._held[key]


def _sandbox(request: Request) -> GoogleSandbox:
    sandbox: GoogleSandbox = request.app.state.sandbox
    return sandbox


async def token(request: Request) -> Response:
    sb = _sandbox(request)
    domain = sb.domain
    form = {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}
    if form.get("grant_type") != JWT_BEARER_GRANT:
        return token_error(
            400, "unsupported_grant_type", "Invalid grant_type: " + str(form.get("grant_type"))
        )
    parts = (form.get("assertion") or "").split(".")
    try:
        if len(parts) != 3:
            raise ValueError
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (ValueError, binascii.Error):
        return token_error(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token")
    account = domain.service_account
    if header.get("alg") != "RS256" or header.get("kid") not in (None, account["private_key_id"]):
        return token_error(400, "invalid_grant", "Invalid JWT Signature.")
    try:
        domain.public_key.verify(
            signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return token_error(400, "invalid_grant", "Invalid JWT Signature.")
    now = sb.clock()
    # google-auth names Google's token endpoint as the audience whatever the token URL
    audiences = {f"{request.url.scheme}://{request.url.netloc}{request.url.path}", GOOGLE_TOKEN}
    if claims.get("iss") != account["client_email"] or claims.get("aud") not in audiences:
        return token_error(400, "invalid_grant", "Invalid JWT: iss or aud is not valid.")
    iat, exp = int(claims.get("iat", 0)), int(claims.get("exp", 0))
    if not (iat - 300 <= now < exp) or exp - iat > 3600:
        return token_error(
            400,
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) "
            "and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        )
    scopes = frozenset(str(claims.get("scope", "")).split())
    if not scopes:
        return token_error(
            400, "invalid_scope", "Invalid OAuth scope or ID token audience provided."
        )
    subject = str(claims.get("sub") or "")
    admin = domain.user(subject) if subject else None
    if not scopes <= domain.delegated_scopes or admin is None or not admin.is_admin:
        return token_error(
            401,
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not "
            "authorized for any of the scopes requested.",
        )
    access = "ya29.sandbox-" + secrets.token_urlsafe(32)
    sb.tokens[access] = Grant(scopes, admin.email, now + 3599)
    sb.tokens_issued += 1
    return _json({"access_token": access, "expires_in": 3599, "token_type": "Bearer"})


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _authorise(request: Request, *scopes: str) -> Grant:
    sb = _sandbox(request)
    if sb.throttle_next:
        status, reason = sb.throttle_next.pop(0)
        sb.throttled.append(status)
        if status == 429:
            raise _Refused(
                google_error(
                    429,
                    "Quota exceeded for quota metric 'Queries'.",
                    reason,
                    "RESOURCE_EXHAUSTED",
                    "usageLimits",
                )
            )
        raise _Refused(
            google_error(403, "Rate Limit Exceeded", reason, "PERMISSION_DENIED", "usageLimits")
        )
    header = request.headers.get("authorization", "")
    grant = sb.tokens.get(header[7:].strip()) if header.lower().startswith("bearer ") else None
    if grant is None or grant.expires <= sb.clock():
        raise _Refused(
            _json(
                {
                    "error": {
                        "code": 401,
                        "message": "Request had invalid authentication credentials. Expected "
                        "OAuth 2 access token, login cookie or other valid authentication "
                        "credential.",
                        "errors": [
                            {
                                "message": "Invalid Credentials",
                                "domain": "global",
                                "reason": "authError",
                                "location": "Authorization",
                                "locationType": "header",
                            }
                        ],
                        "status": "UNAUTHENTICATED",
                    }
                },
                401,
            )
        )
    where = request.url.path + ("?" + request.url.query if request.url.query else "")
    limited = sb.quota(grant.subject)
    sb.seen.append((time.monotonic(), where, limited[0] if limited else 0))
    if limited is not None:
        sb.throttled.append(limited[0])
        message = (
            "User Rate Limit Exceeded" if limited[1].startswith("user") else ("Rate Limit Exceeded")
        )
        raise _Refused(google_error(403, message, limited[1], "PERMISSION_DENIED", "usageLimits"))
    if not grant.scopes & set(scopes):
        raise _Refused(
            google_error(
                403,
                "Request had insufficient authentication scopes.",
                "insufficientPermissions",
                "PERMISSION_DENIED",
            )
        )
    return grant


def _page(
    request: Request, items: list[Any], maximum: int, default: int
) -> tuple[list[Any], str | None]:
    raw = request.query_params.get("maxResults")
    try:
        size = int(raw) if raw is not None else default
    except ValueError:
        raise _Refused(
            google_error(400, "Invalid value for maxResults", "invalid", "INVALID_ARGUMENT")
        ) from None
    if size < 1:
        raise _Refused(
            google_error(400, "Invalid value for maxResults", "invalid", "INVALID_ARGUMENT")
        )
    size = min(size, maximum)
    token = request.query_params.get("pageToken")
    try:
        offset = int(_unb64(token).decode()) if token else 0
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _Refused(
            google_error(400, "Invalid page token", "invalid", "INVALID_ARGUMENT")
        ) from None
    chunk = items[offset : offset + size]
    following = None
    if offset + size < len(items):
        following = base64.urlsafe_b64encode(str(offset + size).encode()).decode().rstrip("=")
    return chunk, following


def render_user(domain: GoogleDomain, user: GoogleUser) -> dict[str, Any]:
    given, _, family = user.name.partition(" ")
    return {
        "kind": "admin#directory#user",
        "id": user.id,
        "etag": f'"{hashlib.md5(user.id.encode()).hexdigest()}"',
        "primaryEmail": user.email,
        "name": {"givenName": given, "familyName": family, "fullName": user.name},
        "isAdmin": user.is_admin,
        "isDelegatedAdmin": False,
        "lastLoginTime": iso(user.last_login),
        "creationTime": iso(user.created),
        "agreedToTerms": True,
        "suspended": user.suspended,
        "archived": False,
        "changePasswordAtNextLogin": False,
        "ipWhitelisted": False,
        "emails": [{"address": user.email, "primary": True}],
        "customerId": domain.customer_id,
        "orgUnitPath": "/",
        "isMailboxSetup": True,
        "includeInGlobalAddressList": True,
    }


def _customer_ok(domain: GoogleDomain, value: str | None) -> bool:
    return value in ("my_customer", domain.customer_id, domain.domain)


async def list_users(request: Request) -> Response:
    sb = _sandbox(request)
    _authorise(request, USERS_READ_SCOPE, USERS_SCOPE)
    customer = request.query_params.get("customer")
    if customer is None and request.query_params.get("domain") != sb.domain.domain:
        return google_error(400, "Bad Request", "badRequest", "INVALID_ARGUMENT")
    if customer is not None and not _customer_ok(sb.domain, customer):
        return google_error(
            403, "Not Authorized to access this resource/api", "forbidden", "PERMISSION_DENIED"
        )
    chunk, following = _page(request, sb.domain.users, 500, 100)
    body: dict[str, Any] = {
        "kind": "admin#directory#users",
        "etag": '"sandbox"',
        "users": [render_user(sb.domain, u) for u in chunk],
    }
    if following:
        body["nextPageToken"] = following
    return _json(body)


async def get_user(request: Request) -> Response:
    sb = _sandbox(request)
    _authorise(request, USERS_READ_SCOPE, USERS_SCOPE)
    user = sb.domain.user(request.path_params["user_key"])
    if user is None:
        # Google names the parameter, not the user
        return google_error(404, "Resource Not Found: userKey", "notFound", "NOT_FOUND")
    return _json(render_user(sb.domain, user))


def render_assignment(sku_id: str, product: str, user: GoogleUser, base: str) -> dict[str, Any]:
    name = dict(SKUS).get(sku_id, sku_id)
    return {
        "kind": "licensing#licenseAssignment",
        "etags": f'"{hashlib.md5((user.id + sku_id).encode()).hexdigest()}"',
        "selfLink": f"{base}/apps/licensing/v1/product/{product}/sku/{sku_id}/user/{user.email}",
        "userId": user.email,
        "productId": product,
        "skuId": sku_id,
        "skuName": name,
        "productName": "Google Workspace",
    }


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


async def list_licenses(request: Request) -> Response:
    sb = _sandbox(request)
    _authorise(request, LICENSING_SCOPE)
    product = request.path_params["product"]
    sku_filter = request.path_params.get("sku")
    customer = request.query_params.get("customerId")
    if not customer:
        return google_error(
            400, "Missing required field: customerId", "required", "INVALID_ARGUMENT"
        )
    if not _customer_ok(sb.domain, customer) or customer == "my_customer":
        return google_error(
            403, "Not Authorized to access this resource/api", "forbidden", "PERMISSION_DENIED"
        )
    held = sb.held(product, sku_filter, "pageToken" not in request.query_params)
    chunk, following = _page(request, held, 1000, 100)
    body: dict[str, Any] = {
        "kind": "licensing#licenseAssignmentList",
        "etag": '"sandbox"',
        "items": [render_assignment(sku, product, u, _base(request)) for sku, u in chunk],
    }
    if following:
        body["nextPageToken"] = following
    return _json(body)


async def license_assignment(request: Request) -> Response:
    sb = _sandbox(request)
    _authorise(request, LICENSING_SCOPE)
    product, sku = request.path_params["product"], request.path_params["sku"]
    user = sb.domain.user(request.path_params["user"])
    if user is None or user.licenses.get(sku) != product:
        return google_error(404, NOT_LICENSED, "notFound", "NOT_FOUND")
    if request.method == "DELETE":
        sb.deletes += 1
        del user.licenses[sku]
        sb._held.clear()
        sb.removed.append((user.email, sku))
        return _json({})
    return _json(render_assignment(sku, product, user, _base(request)))


async def not_found(request: Request) -> Response:
    return Response(
        "<html><body><p>The requested URL was not found on this server.</p></body></html>",
        404,
        media_type="text/html",
    )


def _guarded(handler: Any) -> Any:
    async def run(request: Request) -> Response:
        try:
            response: Response = await handler(request)
            return response
        except _Refused as refused:
            return refused.response

    return run


GOOGLE_FAULTS = ("google_qpm", "google_quota_rate")


def create_google_app(
    domain: GoogleDomain, faults: FaultSpec = FaultSpec(), latency_ms: float = 0
) -> Starlette:
    """The Google Workspace sandbox as an ASGI app; its state is ``app.state.sandbox``."""
    sandbox = GoogleSandbox(domain, faults)
    spec = replace(faults, latency_ms=faults.latency_ms + latency_ms) if latency_ms else faults
    lic = "/apps/licensing/v1/product/{product}"
    routes = [
        Route("/token", token, methods=["POST"]),
        Route("/admin/directory/v1/users", _guarded(list_users), methods=["GET"]),
        Route("/admin/directory/v1/users/{user_key}", _guarded(get_user), methods=["GET"]),
        Route(f"{lic}/users", _guarded(list_licenses), methods=["GET"]),
        Route(f"{lic}/sku/{{sku}}/users", _guarded(list_licenses), methods=["GET"]),
        Route(
            f"{lic}/sku/{{sku}}/user/{{user}}",
            _guarded(license_assignment),
            methods=["GET", "DELETE"],
        ),
        Route("/{rest:path}", not_found, methods=["GET", "POST", "DELETE"]),
    ]
    app = Starlette(routes=routes, middleware=[fault_middleware(spec, "google", own=GOOGLE_FAULTS)])
    app.state.sandbox = sandbox
    return app


def serve_key_file(domain: GoogleDomain, server_url: str) -> dict[str, str]:
    """The service account key file pointing at a running sandbox's token endpoint."""
    domain.service_account["token_uri"] = f"{server_url}/token"
    return domain.service_account
