"""Google Workspace connector: license assignments (Enterprise License Manager API) with the
people and sign-ins of the Admin SDK Directory API.

Google's facts only, composed from the connector kit:

- Auth: a service account with domain-wide delegation: the JWT bearer grant (RFC 7523,
  `JwtBearerGrant`), the assertion signed with google-auth's `RSASigner` from the key file (the
  secret), `sub` the admin to impersonate (option `admin`), scopes `apps.licensing` (Google has
  no read-only licensing scope) and `admin.directory.user.readonly`. Token URL from the key file
  (`token_uri`), option `token_uri` overrides it.
- Seats held: `GET /apps/licensing/v1/product/{product}/users?customerId=...&maxResults=1000`
  per product (option `products`, default `Google-Apps`), `pageToken` / `nextPageToken`
  (`Cursor`); one account per assignment, external id `PRODUCT:SKU:EMAIL`; a software model per
  SKU (publisher Google, product the SKU's name, edition the SKU id).
- People and activity: `GET /admin/directory/v1/users?customer=my_customer&maxResults=500`:
  `lastLoginTime` (Google's `1970-01-01T00:00:00.000Z` means never), `isAdmin` /
  `isDelegatedAdmin` (admins), `suspended` (the person has left: status SUSPENDED).
- Reclaim: `DELETE /apps/licensing/v1/product/{product}/sku/{sku}/user/{email}`. Google's 404
  names neither the user nor the license, so "already gone" is concluded only after the SKU's
  own list confirms the assignment is absent; re-read the same way (`GET` the assignment, a 404
  confirmed by the list).
- Quotas: paced to Google's per-user quota (option `queries_per_minute`, default 2,400 a minute
  per impersonated user, the Admin SDK's documented default; the kit's `RequestQuota`, shared by
  every connector impersonating the same admin in the process); 429 (`VendorClient`: backoff
  with full jitter) and 403 `rateLimitExceeded` / `userRateLimitExceeded` (`BackoffOnQuota`:
  exponential backoff with jitter) all the same.
- Seats owned: Google sells through subscriptions readable only by resellers: entitlements are
  typed (`shelfware entitlements add`).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from shelfware.connectors.base import (
    AccountRecord,
    AccountRef,
    ActivitySource,
    AuthenticationError,
    Capabilities,
    CheckResult,
    ConnectorError,
    ConnectorSettings,
    PageError,
    Permission,
    PersonRecord,
    Process,
    ReclaimOutcome,
    ReclaimResult,
    ValidationReport,
)
from shelfware.connectors.registry import register_connector
from shelfware.connectors.toolkit import (
    BearerAuth,
    Cursor,
    HttpConnector,
    HttpStream,
    JsonPath,
    RecordError,
    RecordSelector,
    SourceFingerprint,
    UniqueKeys,
    decode,
    identifier,
    instant,
    path_segment,
    record_of,
    rejected,
    send,
    text,
)
from shelfware.connectors.toolkit.assertion import BackoffOnQuota, JwtBearerGrant
from shelfware.kit.pacing import Pacer, RequestQuota, shared_history

LICENSING_URL = "https://licensing.googleapis.com"
DIRECTORY_URL = "https://admin.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"
LICENSING_SCOPE = "https://www.googleapis.com/auth/apps.licensing"
USERS_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"
SCOPES = (LICENSING_SCOPE, USERS_SCOPE)
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # Google's lastLoginTime of someone who never signed in
LICENSE_PAGE = 1000
USERS_PAGE = 500
QUERIES_PER_MINUTE = 2400  # Admin SDK: queries per minute per user (Google's documented default)
QUOTA_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
LEFT_STATUS = "SUSPENDED"


def account_id(product: str, sku: str, email: str) -> str:
    return f"{product}:{sku}:{email}"


def split_account(external_id: str) -> tuple[str, str, str]:
    product, _, rest = external_id.strip().partition(":")
    sku, _, email = rest.partition(":")
    return product, sku, email


def is_quota(response: httpx.Response) -> bool:
    """Google's 403 for a quota (not a refusal): `errors[].reason` rateLimitExceeded etc."""
    if response.status_code != 403:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, Mapping) else None
    errors = error.get("errors") if isinstance(error, Mapping) else None
    return isinstance(errors, list) and any(
        isinstance(e, Mapping) and e.get("reason") in QUOTA_REASONS for e in errors
    )


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    email: str
    name: str | None
    admin: bool
    suspended: bool
    created: datetime | None
    last_login: datetime | None


def person_of(raw: Any) -> Person:
    user = record_of(raw, "user")
    user_id = identifier(user, "id")
    try:
        email = text(user, "primaryEmail")
        if not email:
            raise RecordError("field primaryEmail is missing")
        name = user.get("name")
        last = instant(user, "lastLoginTime")
        return Person(
            id=user_id,
            email=email,
            name=text(name, "fullName") if isinstance(name, Mapping) else None,
            admin=user.get("isAdmin") is True or user.get("isDelegatedAdmin") is True,
            suspended=user.get("suspended") is True,
            created=instant(user, "creationTime"),
            last_login=None if last is None or last <= NEVER else last,
        )
    except RecordError as error:
        raise RecordError(f"user {user_id}: {error}") from None


ASSIGNMENT_FIELDS = ("userId", "productId", "skuId", "skuName")


def assignment_key(raw: Any) -> str:
    """The external id `map_assignment` gives a raw assignment."""
    seat = record_of(raw, "license assignment")
    try:
        email = identifier(seat, "userId")
        return account_id(
            identifier(seat, "productId"), identifier(seat, "skuId"), email.casefold()
        )
    except RecordError as error:
        raise RecordError(f"license assignment: {error}") from None


def person_values(person: Person) -> tuple[Any, ...]:
    """Everything the directory says of a person (what a fingerprint of their licenses covers:
    a change of any, suspension included, stages their licenses again)."""
    return (
        person.id,
        person.email,
        person.name,
        person.admin,
        person.suspended,
        person.created,
        person.last_login,
    )


def map_assignment(raw: Any, people: Mapping[str, Person]) -> AccountRecord:
    seat = record_of(raw, "license assignment")
    try:
        email = identifier(seat, "userId")
        product = identifier(seat, "productId")
        sku = identifier(seat, "skuId")
    except RecordError as error:
        raise RecordError(f"license assignment: {error}") from None
    person = people.get(email.casefold())
    return AccountRecord(
        external_id=account_id(product, sku, email.casefold()),
        username=email,
        email=email,
        display_name=person.name if person else None,
        active=True,  # a suspended user still holds the license
        admin=person.admin if person else False,
        edition=sku,
        created_in_app_at=person.created if person else None,
        last_activity_at=person.last_login if person else None,
        product=text(seat, "skuName") or sku,
        # a license whose user the directory does not list is never guessed idle
        unrecognised=None if person else f"user {email} not in the directory",
    )


@register_connector
class GoogleWorkspaceConnector(HttpConnector):
    """Google Workspace licenses: held, used (sign-ins), and removed."""

    kind: ClassVar[str] = "google_workspace"
    publisher: ClassVar[str] = "Google"
    product: ClassVar[str] = "Google Workspace"
    default_edition: ClassVar[str] = "license"
    # every seat names its SKU's model: publishing creates no default model (it would stay empty)
    models_from_records: ClassVar[bool] = True
    default_url: ClassVar[str | None] = LICENSING_URL
    max_concurrency: ClassVar[int] = 4
    revocation_task: ClassVar[str] = "remove this license from the user in the Google Admin console"
    capabilities: ClassVar[Capabilities] = Capabilities(
        download=True, activity=True, reclaim=True, activity_source=ActivitySource.ACCOUNT_FIELD
    )
    # an assignment's fields; a run binds the directory (the person behind each license)
    source_fingerprint: ClassVar[SourceFingerprint | None] = SourceFingerprint(
        ASSIGNMENT_FIELDS, assignment_key, lambda raw: map_assignment(raw, {})
    )
    permissions: ClassVar[list[Permission]] = [
        Permission(
            Process.DOWNLOAD,
            "service account with domain-wide delegation, impersonating a super admin",
            (LICENSING_SCOPE, USERS_SCOPE),
        ),
        Permission(
            Process.ACTIVITY,
            "the same (Directory lastLoginTime)",
            (USERS_SCOPE,),
        ),
        Permission(
            Process.RECLAIM,
            "the same (Google's licensing scope is read-write)",
            (LICENSING_SCOPE,),
        ),
    ]

    def __init__(self, settings: ConnectorSettings, *args: Any, **kwargs: Any) -> None:
        self.customer = (settings.options.get("customer") or "").strip()
        self.admin = (settings.options.get("admin") or "").strip()
        if not self.customer or not self.admin or "@" not in self.admin:
            raise ConnectorError(
                "options customer (the customer id or primary domain) and admin (a super "
                "admin's email to impersonate) are required"
            )
        super().__init__(settings, *args, **kwargs)
        self.directory_url = (self.options.text("directory_url") or DIRECTORY_URL).rstrip("/")
        products = self.options.text("products") or "Google-Apps"
        self.products = [p.strip() for p in products.split(",") if p.strip()]
        self.imports_people = self.options.flag("import_people", True)
        self.full_import = False
        self.skipped: list[str] = []
        self._people: dict[str, Person] | None = None

    def authenticator(self, settings: ConnectorSettings) -> httpx.Auth:
        from google.auth import crypt
        from google.auth import jwt as google_jwt

        raw = settings.secrets.get("api_key") or settings.secrets.get("service_account")
        try:
            info = json.loads(raw or "")
            email = str(info["client_email"])
            signer = crypt.RSASigner.from_service_account_info(info)  # type: ignore[no-untyped-call]
        except (ValueError, KeyError, TypeError):
            raise ConnectorError(
                "Google Workspace needs the service account's JSON key file as the secret"
            ) from None
        token_url = (
            settings.options.get("token_uri") or info.get("token_uri") or TOKEN_URL
        ).strip()
        admin = (settings.options.get("admin") or "").strip()

        def assertion() -> str:
            now = int(time.time())
            claims = {
                "iss": email,
                "sub": admin,
                "scope": " ".join(SCOPES),
                "aud": token_url,
                "iat": now,
                "exp": now + 3600,
            }
            signed: bytes = google_jwt.encode(signer, claims)  # type: ignore[no-untyped-call]
            return signed.decode()

        grant = JwtBearerGrant(token_url, assertion, secrets=(str(info.get("private_key", "")),))
        self.quota = BackoffOnQuota(
            BearerAuth(grant),
            is_quota,
            base=float(settings.options.get("backoff_base", "1") or 1),
        )
        return self.quota

    def pacer(self) -> Pacer | None:
        # Google's quota is per user: every connector impersonating this admin spends one budget
        limit = self.options.whole_number("queries_per_minute", maximum=1_000_000)
        key = f"google|{self.customer.casefold()}|{self.admin.casefold()}"
        return RequestQuota(limit or QUERIES_PER_MINUTE, 60.0, history=shared_history(key))

    # ------------------------------------------------------------------ reads

    def _list(self, url: str, what: str, items: str, **params: Any) -> HttpStream:
        return self.stream(
            url,
            params=params,
            paginator=Cursor(JsonPath.parse("$.nextPageToken"), "pageToken", stop_on_empty=False),
            records=RecordSelector.at(f"$.{items}"),
            what=what,
        )

    async def people(self) -> AsyncIterator[list[PersonRecord]]:
        people = await self.directory()
        yield [
            PersonRecord(
                external_id=p.id,
                email=p.email,
                login=p.email,
                display_name=p.name,
                status=LEFT_STATUS if p.suspended else "ACTIVE",
            )
            for p in people.values()
        ]

    async def directory(self) -> dict[str, Person]:
        if self._people is None:
            found: dict[str, Person] = {}
            stream = self._list(
                f"{self.directory_url}/admin/directory/v1/users",
                "users",
                "users",
                customer="my_customer",
                maxResults=USERS_PAGE,
                projection="basic",
            )
            checks = [UniqueKeys(lambda raw: identifier(record_of(raw), "id"))]
            async for page in stream.pages(checks):
                for raw in page.records:
                    try:
                        person = person_of(raw)
                    except RecordError as error:
                        raise PageError(page.number, f"malformed user: {error}") from None
                    found[person.email.casefold()] = person
            self._people = found
        return self._people

    def _licenses(self, product: str) -> HttpStream:
        return self._list(
            f"/apps/licensing/v1/product/{path_segment(product)}/users",
            f"{product} licenses",
            "items",
            customerId=self.customer,
            maxResults=LICENSE_PAGE,
        )

    def run_fingerprint(self, people: Mapping[str, Person]) -> SourceFingerprint:
        """The declaration bound to the directory this run maps assignments with: an
        assignment's fingerprint covers its person's values."""
        declared = self.source_fingerprint
        assert declared is not None
        directory = {email: person_values(person) for email, person in people.items()}

        def context(raw: dict[str, Any]) -> tuple[Any, ...] | None:
            return directory.get(identifier(raw, "userId").casefold())

        return declared.bound(lambda raw: map_assignment(raw, people), context=context)

    async def accounts(self) -> AsyncIterator[list[AccountRecord]]:
        people = await self.directory()
        fingerprint = self.run_fingerprint(people)
        for product in self.products:
            checks = [
                UniqueKeys(
                    lambda raw: (
                        identifier(record_of(raw), "skuId"),
                        identifier(record_of(raw), "userId").casefold(),
                    )
                )
            ]
            async for page in self._licenses(product).pages(checks):
                try:
                    records = self.map_accounts(page.records, fingerprint)
                except RecordError as error:
                    raise PageError(page.number, f"malformed assignment: {error}") from None
                yield records

    # ------------------------------------------------------------------ validate

    async def validate(self) -> ValidationReport:
        checks: list[CheckResult] = []
        facts: dict[str, Any] = {"customer": self.customer, "admin": self.admin}
        try:
            people = await self.directory()
            checks.append(CheckResult("credential", True, f"token granted as {self.admin}"))
        except AuthenticationError as error:
            checks.append(CheckResult("credential", False, rejected(error)))
            for process in (Process.DOWNLOAD, Process.ACTIVITY):
                checks.append(CheckResult(process.value, False, "not checked: credential rejected"))
            return ValidationReport(tuple(checks), None, facts)
        except ConnectorError as error:
            checks.append(CheckResult("credential", False, str(error)))
            return ValidationReport(tuple(checks), None, facts)
        try:
            first = await self._licenses(self.products[0]).first_page()
        except ConnectorError as error:
            reason = error.reason if isinstance(error, PageError) else str(error)
            checks.append(CheckResult(Process.DOWNLOAD.value, False, reason))
            return ValidationReport(tuple(checks), None, facts)
        checks.append(
            CheckResult(
                Process.DOWNLOAD.value,
                True,
                f"{len(people)} users and {self.products[0]} licenses readable "
                f"({len(first.records)} on a first page)",
            )
        )
        checks.append(CheckResult(Process.ACTIVITY.value, True, "lastLoginTime readable"))
        facts["reclaim"] = "not exercised (validation never writes)"
        # the impersonated admin's own licenses are never reclaimed (see `reclaim`)
        return ValidationReport(tuple(checks), None, facts)

    # ------------------------------------------------------------------ current / reclaim

    def _parts(self, account: AccountRef) -> tuple[str, str, str, str]:
        product, sku, email = split_account(account.external_id)
        if not product or not sku or not email:
            raise ConnectorError(
                f"{account.external_id!r} is not a Google license (PRODUCT:SKU:EMAIL)"
            )
        where = (
            f"/apps/licensing/v1/product/{path_segment(product)}/sku/{path_segment(sku)}"
            f"/user/{path_segment(email)}"
        )
        return product, sku, email, where

    async def _listed(self, product: str, sku: str, email: str) -> bool:
        """Whether the SKU's own list holds the user's assignment (Google's 404s name nothing)."""
        stream = self._list(
            f"/apps/licensing/v1/product/{path_segment(product)}/sku/{path_segment(sku)}/users",
            f"{sku} licenses",
            "items",
            customerId=self.customer,
            maxResults=LICENSE_PAGE,
        )
        async for page in stream.pages():
            for raw in page.records:
                if str(record_of(raw).get("userId", "")).casefold() == email.casefold():
                    return True
        return False

    async def current(self, account: AccountRef) -> AccountRecord | None:
        product, sku, email, where = self._parts(account)
        response = await send(self.http, "GET", where, accept_status=(404,))
        if response.status_code == 404:
            if await self._listed(product, sku, email):
                raise ConnectorError(f"GET {where}: 404, yet the license list holds it")
            return None
        raw = decode(self.http, response, f"GET {where}")
        try:
            return map_assignment(raw, await self.directory())
        except RecordError as error:
            raise ConnectorError(f"reading {where}: {error}") from None

    async def reclaim(self, account: AccountRef) -> ReclaimResult:
        """Remove one license (idempotent); never one of the impersonated admin's."""
        _, _, email = split_account(account.external_id)
        if email.casefold() == self.admin.casefold():
            return ReclaimResult(
                ReclaimOutcome.FAILED,
                f"refusing to remove {email}'s license: the profile's credential impersonates "
                "that admin",
            )
        return await self.reclaim_account(account)

    async def reclaim_account(self, account: AccountRef) -> ReclaimResult:
        try:
            product, sku, email, where = self._parts(account)
            response = await send(self.http, "DELETE", where, accept_status=(404,))
            if response.status_code == 404:
                if await self._listed(product, sku, email):
                    return ReclaimResult(
                        ReclaimOutcome.FAILED, f"DELETE {where}: 404, yet the license list holds it"
                    )
                return ReclaimResult(ReclaimOutcome.ALREADY_GONE, f"{email} no longer holds {sku}")
        except ConnectorError as error:
            return ReclaimResult(ReclaimOutcome.FAILED, str(error))
        return ReclaimResult(ReclaimOutcome.RECLAIMED, f"removed {sku} from {email}")
