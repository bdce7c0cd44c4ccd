"""Microsoft 365 connector: licenses held (users' assigned SKUs) and owned (subscribed SKUs),
through Microsoft Graph v1.0.

Microsoft's facts only, composed from the connector kit:

- Auth: OAuth 2.0 client credentials (`OAuth2ClientCredentials`, the secret sent in the form,
  `client_secret_post`) against `{authority}/{tenant}/oauth2/v2.0/token` with scope
  `https://graph.microsoft.com/.default`; the token is cached until it is about to expire.
  Options: `tenant` (id or verified domain, required), `authority` (default
  `https://login.microsoftonline.com`); the profile's URL is Graph's root (default
  `https://graph.microsoft.com/v1.0`). Secrets: `client_id` and `client_secret` (or `api_key`).
- Seats held: `GET /users?$select=...&$top=999`, `@odata.nextLink` paging (`NextUrl`); one
  account per assigned SKU, external id `USER_ID:SKU_ID`; one software model per SKU (publisher
  Microsoft, product the SKU's name from `KNOWN_SKUS`, else its part number; edition the part
  number). A license inherited from a group (`licenseAssignmentStates[].assignedByGroup`) is
  `group_scoped`: it cannot be removed per user, so its candidate needs attention.
- Activity: `signInActivity` (the latest of interactive, non-interactive and successful
  sign-ins; needs AuditLog.Read.All and Entra ID P1). Where the tenant refuses it (403), the
  usage report `getOffice365ActiveUserDetail(period='D30')` (CSV; the latest of the per-product
  last activity dates, matched by user principal name), option `activity=report` forces it.
- Admins: members of any directory role (`GET /directoryRoles?$expand=members`).
- People: Entra ID is the directory: every user is a person, a disabled one
  (`accountEnabled: false`) has left (status SUSPENDED): their seats become candidates whatever
  their activity (option `import_people=false` turns it off).
- Seats owned: `GET /subscribedSkus` -> an entitlement per SKU (`prepaidUnits.enabled`), unit
  cost from the admin's price list (option `prices`, e.g. `SPE_E3=36/month,VISIOCLIENT=180`,
  with `currency`), none assumed.
- Reclaim: `POST /users/{id}/assignLicense` `{"addLicenses": [], "removeLicenses": [SKU]}`; a
  group-inherited license answers Graph's 400 and becomes a task ("remove the user from the
  licensing group"); "User does not have a corresponding license" is already gone. Re-read:
  `GET /users/{id}`; a 404 is gone only with `Request_ResourceNotFound` naming the user.
- Throttling: 429 and 503 with `Retry-After`, honoured by the kit's `VendorClient`.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

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
    EntitlementRecord,
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
    GoneWhen,
    HttpConnector,
    HttpStream,
    JsonPath,
    NextUrl,
    OAuth2ClientCredentials,
    RecordError,
    RecordSelector,
    SourceFingerprint,
    UniqueKeys,
    decode,
    identifier,
    instant,
    latest,
    path_segment,
    record_of,
    rejected,
    send,
    text,
)
from shelfware.connectors.toolkit.assertion import CertificateAssertion, is_pem_credential
from shelfware.kit.http import VendorClient
from shelfware.kit.redact import redact_url

GRAPH_URL = "https://graph.microsoft.com/v1.0"
AUTHORITY_URL = "https://login.microsoftonline.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
PUBLISHER = "Microsoft"
PAGE_SIZE = 999  # Graph's maximum $top for users (120 when signInActivity is selected)
USER_FIELDS = (
    "id",
    "userPrincipalName",
    "mail",
    "displayName",
    "accountEnabled",
    "department",
    "userType",
    "createdDateTime",
    "assignedLicenses",
    "licenseAssignmentStates",
)
SIGN_IN = "signInActivity"
SIGN_IN_FIELDS = (
    "lastSignInDateTime",
    "lastNonInteractiveSignInDateTime",
    "lastSuccessfulSignInDateTime",
)
REPORT = "/reports/getOffice365ActiveUserDetail(period='D30')"
REPORT_DATES = (
    "Exchange Last Activity Date",
    "OneDrive Last Activity Date",
    "SharePoint Last Activity Date",
    "Skype For Business Last Activity Date",
    "Yammer Last Activity Date",
    "Teams Last Activity Date",
)
# Graph's answers where signInActivity cannot be read: a tenant without Entra ID P1, or an app
# without AuditLog.Read.All.
NO_SIGN_IN = frozenset(
    {"Authentication_RequestFromNonPremiumTenantOrB2CTenant", "Authorization_RequestDenied"}
)
GROUP_TASK = "assigned through a licensing group: remove the user from the licensing group"
LEFT_STATUS = "SUSPENDED"  # accountEnabled false: sign-in blocked, the person has left
# Display names of well-known SKUs by part number (Microsoft's product names and service plan
# identifiers table); any other SKU is named by its part number.
KNOWN_SKUS: Mapping[str, str] = {
    "SPE_E3": "Microsoft 365 E3",
    "SPE_E5": "Microsoft 365 E5",
    "SPE_F1": "Microsoft 365 F3",
    "ENTERPRISEPACK": "Office 365 E3",
    "ENTERPRISEPREMIUM": "Office 365 E5",
    "STANDARDPACK": "Office 365 E1",
    "DESKLESSPACK": "Office 365 F3",
    "O365_BUSINESS_ESSENTIALS": "Microsoft 365 Business Basic",
    "O365_BUSINESS_PREMIUM": "Microsoft 365 Business Standard",
    "SPB": "Microsoft 365 Business Premium",
    "EMS": "Enterprise Mobility + Security E3",
    "EMSPREMIUM": "Enterprise Mobility + Security E5",
    "VISIOCLIENT": "Visio Plan 2",
    "PROJECTPROFESSIONAL": "Project Plan 3",
    "POWER_BI_PRO": "Power BI Pro",
    "POWER_BI_STANDARD": "Power BI (free)",
    "FLOW_FREE": "Power Automate Free",
    "TEAMS_EXPLORATORY": "Microsoft Teams Exploratory",
}
# SKUs that cost nothing: their models get no price and an inactive rule.
FREE_SKUS = frozenset({"POWER_BI_STANDARD", "FLOW_FREE", "TEAMS_EXPLORATORY"})
# The user a Graph 404 is about: `Request_ResourceNotFound`, "Resource '<id>' does not exist
# or one of its queried reference-property objects are not present." A route Graph does not
# know answers 400 "Resource not found for the segment": never gone.
USER_GONE = GoneWhen.at(
    "error.message",
    "Resource '{user}' does not exist",
    requires={"error.code": ("Request_ResourceNotFound",)},
)
# assignLicense for a license the user no longer has (assumed wording, see the sandbox)
LICENSE_GONE = GoneWhen.at(
    "error.message",
    "does not have a corresponding license",
    status=(400,),
    requires={"error.code": ("Request_BadRequest",)},
)
GROUP_INHERITED = "inherited from a group membership"
# Application permissions that allow assignLicense (least privilege first)
RECLAIM_PERMISSIONS = (
    "LicenseAssignment.ReadWrite.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
)
PERIODS = ("annual", "monthly")


def account_id(user_id: str, sku_id: str) -> str:
    return f"{user_id}:{sku_id}"


def split_account(external_id: str) -> tuple[str, str]:
    user_id, _, sku_id = external_id.strip().partition(":")
    return user_id, sku_id


@dataclass(frozen=True, slots=True)
class SkuInfo:
    sku_id: str
    part_number: str
    prepaid: int
    consumed: int | None

    @property
    def product(self) -> str:
        return KNOWN_SKUS.get(self.part_number, self.part_number)


def sku_of(raw: Any) -> SkuInfo:
    sku = record_of(raw, "subscribed SKU")
    sku_id = identifier(sku, "skuId").casefold()
    part = text(sku, "skuPartNumber") or sku_id
    units = sku.get("prepaidUnits")
    enabled = units.get("enabled") if isinstance(units, Mapping) else None
    consumed = sku.get("consumedUnits")
    if not isinstance(enabled, int) or isinstance(enabled, bool) or enabled < 0:
        raise RecordError(f"SKU {part}: prepaidUnits.enabled is not a whole number: {enabled!r}")
    return SkuInfo(
        sku_id, part, enabled, consumed if isinstance(consumed, int) and consumed >= 0 else None
    )


def sign_in_of(user: Mapping[str, Any]) -> datetime | None:
    activity = user.get(SIGN_IN)
    if activity is None:
        return None
    if not isinstance(activity, Mapping):
        raise RecordError(f"field {SIGN_IN} is not an object")
    return latest(*(instant(activity, name) for name in SIGN_IN_FIELDS))


def held_skus(user: Mapping[str, Any]) -> list[str]:
    """The SKU ids (case folded) of the user's assigned licenses."""
    assigned = user.get("assignedLicenses") or []
    if not isinstance(assigned, list):
        raise RecordError("assignedLicenses is not a list")
    return [identifier(record_of(a, "license"), "skuId").casefold() for a in assigned]


def license_keys(raw: Any) -> list[str]:
    """The external ids of the accounts `map_user` maps a raw user to (one per license)."""
    user = record_of(raw, "user")
    user_id = identifier(user, "id")
    return [account_id(user_id, sku) for sku in held_skus(user)]


def licenses_of(user: Mapping[str, Any]) -> dict[str, bool]:
    """SKU id -> whether it comes (also) through a group."""
    states = user.get("licenseAssignmentStates") or []
    if not isinstance(states, list):
        raise RecordError("licenseAssignmentStates is not a list")
    held = dict.fromkeys(held_skus(user), False)
    for state in states:
        state = record_of(state, "license assignment state")
        sku = identifier(state, "skuId").casefold()
        if sku in held and state.get("assignedByGroup"):
            held[sku] = True
    return held


def map_user(
    raw: Any,
    skus: Mapping[str, SkuInfo],
    admins: set[str],
    report: Mapping[str, datetime] | None,
) -> list[AccountRecord]:
    """One record per license the user holds."""
    user = record_of(raw, "user")
    user_id = identifier(user, "id")
    try:
        upn = text(user, "userPrincipalName")
        seen = report.get((upn or "").casefold()) if report is not None else sign_in_of(user)
        held = licenses_of(user)
        if not held:
            return []
        # the user's fields once, whatever the number of licenses
        email = text(user, "mail") or upn
        name = text(user, "displayName")
        admin = user_id in admins
        created = instant(user, "createdDateTime")
        records = []
        for sku_id, by_group in sorted(held.items()):
            info = skus.get(sku_id)
            part = info.part_number if info else sku_id
            records.append(
                AccountRecord(
                    external_id=account_id(user_id, sku_id),
                    username=upn,
                    email=email,
                    display_name=name,
                    # a disabled user still consumes the license: the seat is held
                    active=True,
                    admin=admin,
                    edition=part,
                    created_in_app_at=created,
                    last_activity_at=seen,
                    product=info.product if info else part,
                    group_scoped=by_group,
                )
            )
        return records
    except RecordError as error:
        raise RecordError(f"user {user_id}: {error}") from None


def person_of(raw: Any) -> PersonRecord:
    user = record_of(raw, "user")
    upn = text(user, "userPrincipalName")
    enabled = user.get("accountEnabled")
    return PersonRecord(
        external_id=identifier(user, "id"),
        email=text(user, "mail") or upn,
        login=upn,
        display_name=text(user, "displayName"),
        status=LEFT_STATUS if enabled is False else "ACTIVE",
        department=text(user, "department"),
    )


def read_report(body: bytes) -> dict[str, datetime]:
    """getOffice365ActiveUserDetail CSV -> user principal name (case folded) -> the latest
    product activity (a date: the end of that day, UTC, counts)."""
    textual = body.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(textual))
    if reader.fieldnames is None or "User Principal Name" not in reader.fieldnames:
        raise ConnectorError("the usage report has no 'User Principal Name' column")
    found: dict[str, datetime] = {}
    for line, row in enumerate(reader, start=2):
        upn = (row.get("User Principal Name") or "").strip().casefold()
        days: list[date] = []
        for column in REPORT_DATES:
            value = (row.get(column) or "").strip()
            if value:
                try:
                    days.append(date.fromisoformat(value))
                except ValueError:
                    raise ConnectorError(
                        f"usage report line {line}: {column} is not a date: {value!r}"
                    ) from None
        if upn and days:
            found[upn] = datetime.combine(max(days), time(23, 59, 59), UTC)
    return found


def check_report(report: Mapping[str, datetime], upns: list[str | None]) -> None:
    """Refuse a usage report whose user names are concealed (Microsoft 365's default since
    2021: hashed names, which match nobody): read as is, every licensed user would look idle."""
    if report and not any("@" in name for name in report):
        raise ConnectorError(
            "the usage report conceals user names, so activity cannot be matched to users: "
            "turn off 'Display concealed user, group, and site names in all reports' (Microsoft "
            "365 admin center > Settings > Org settings > Reports), or grant AuditLog.Read.All "
            "on an Entra ID P1 tenant for signInActivity"
        )
    if upns and report and not any(upn and upn.casefold() in report for upn in upns):
        raise ConnectorError(
            "the usage report names none of the tenant's users: refusing to count everyone as "
            "idle (is the report concealed, or for another tenant?)"
        )


def parse_prices(raw: str | None) -> dict[str, tuple[Decimal, str]]:
    """`SPE_E3=36/month,VISIOCLIENT=180` -> part number -> (unit cost, billing period)."""
    prices: dict[str, tuple[Decimal, str]] = {}
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        part, sep, value = item.partition("=")
        amount, _, per = value.strip().partition("/")
        period = {"": "annual", "year": "annual", "month": "monthly"}.get(per.strip().lower())
        try:
            cost = Decimal(amount.strip())
        except InvalidOperation:
            cost = Decimal(-1)
        if not sep or not part.strip() or period is None or not cost.is_finite() or cost < 0:
            raise ConnectorError(
                f"option prices: {item.strip()!r} is not PART_NUMBER=COST[/month|/year] "
                "(e.g. SPE_E3=36/month)"
            )
        prices[part.strip().upper()] = (cost, period)
    return prices


@register_connector
class Microsoft365Connector(HttpConnector):
    """Microsoft 365 licenses through Microsoft Graph: held, owned, used, and removed."""

    kind: ClassVar[str] = "microsoft365"
    publisher: ClassVar[str] = PUBLISHER
    product: ClassVar[str] = "Microsoft 365"
    default_edition: ClassVar[str] = "license"
    # every seat names its SKU's model: publishing creates no default model (it would stay empty)
    models_from_records: ClassVar[bool] = True
    default_url: ClassVar[str | None] = GRAPH_URL
    # signs in as an app registration: a client id and a client secret (or certificate PEM)
    client_credentials: ClassVar[bool] = True
    max_concurrency: ClassVar[int] = 4  # Graph throttles per app and tenant; stay polite
    unpaid_editions: ClassVar[frozenset[str]] = FREE_SKUS
    revocation_task: ClassVar[str] = (
        "remove this license from the user in the Microsoft 365 admin center"
    )
    group_task: ClassVar[str] = GROUP_TASK
    # every field of a user read (accountEnabled and department too: a disabled user's
    # licenses are staged again); a run binds the SKUs, admins and usage report it maps with
    source_fingerprint: ClassVar[SourceFingerprint | None] = SourceFingerprint(
        (*USER_FIELDS, SIGN_IN),
        None,
        lambda raw: map_user(raw, {}, set(), None),
        keys=license_keys,
    )
    capabilities: ClassVar[Capabilities] = Capabilities(
        download=True,
        activity=True,
        reclaim=True,
        activity_source=ActivitySource.ACCOUNT_FIELD,
        seats_owned=True,
    )
    permissions: ClassVar[list[Permission]] = [
        Permission(
            Process.DOWNLOAD,
            "application permissions (admin consent)",
            ("User.Read.All", "Organization.Read.All"),
        ),
        Permission(
            Process.ACTIVITY,
            "application permissions (admin consent)",
            ("AuditLog.Read.All", "Reports.Read.All"),
        ),
        Permission(
            Process.RECLAIM,
            "application permission (admin consent)",
            ("LicenseAssignment.ReadWrite.All",),
        ),
    ]

    def __init__(self, settings: ConnectorSettings, *args: Any, **kwargs: Any) -> None:
        self.tenant = (settings.options.get("tenant") or "").strip()
        if not self.tenant or "/" in self.tenant:
            raise ConnectorError(
                "option tenant is required: the directory (tenant) id or a verified domain"
            )
        self.authority = (settings.options.get("authority") or AUTHORITY_URL).strip().rstrip("/")
        super().__init__(settings, *args, **kwargs)
        mode = (self.options.text("activity") or "auto").lower()
        if mode not in ("auto", "sign_in", "report"):
            raise ConnectorError(f"option activity must be auto, sign_in or report, got {mode!r}")
        self.activity_mode = mode
        self.full_import = False
        # read by the sync: whether this profile's people are imported (Entra ID is the
        # directory); false where another identity provider (Okta) is
        self.imports_people = self.options.flag("import_people", True)
        self.prices = parse_prices(self.options.text("prices"))
        self.currency = (self.options.text("currency") or "USD").upper()
        if len(self.currency) != 3 or not self.currency.isalpha():
            raise ConnectorError(f"option currency must be a 3-letter code, got {self.currency!r}")
        self.skipped: list[str] = []
        self._skus: dict[str, SkuInfo] | None = None
        self._admins: set[str] | None = None
        self._people: list[PersonRecord] = []
        self._report: dict[str, datetime] | None = None
        self._report_lock = asyncio.Lock()
        self._sign_in: bool | None = None if mode == "auto" else mode == "sign_in"

    # ------------------------------------------------------------------ hooks

    def authenticator(self, settings: ConnectorSettings) -> httpx.Auth:
        client_id = settings.secrets.get("client_id", "")
        secret = settings.secrets.get("client_secret") or settings.secrets.get("api_key")
        if not client_id or not secret:
            raise ConnectorError(
                "Microsoft 365 needs the app registration's client id and client secret "
                "(--client-id ID --client-secret-env VAR)"
            )
        # a PEM (private key and certificate) instead of a secret: a certificate credential
        assertion = CertificateAssertion(secret, client_id) if is_pem_credential(secret) else None
        self.credentials = OAuth2ClientCredentials(
            f"{self.authority}/{path_segment(self.tenant)}/oauth2/v2.0/token",
            client_id,
            secret,
            scope=GRAPH_SCOPE,
            client_auth="post",
            assertion=assertion,
        )
        return BearerAuth(self.credentials)

    # ------------------------------------------------------------------ reads

    def _list(self, path: str, what: str, **params: Any) -> HttpStream:
        return self.stream(
            path,
            params=params,
            paginator=NextUrl(JsonPath.parse("$['@odata.nextLink']")),
            records=RecordSelector.at("$.value"),
            what=what,
        )

    def _users(self, sign_in: bool) -> HttpStream:
        fields = [*USER_FIELDS, SIGN_IN] if sign_in else list(USER_FIELDS)
        return self._list("/users", "users", **{"$select": ",".join(fields), "$top": PAGE_SIZE})

    async def skus(self) -> dict[str, SkuInfo]:
        if self._skus is None:
            found: dict[str, SkuInfo] = {}
            async for page in self._list("/subscribedSkus", "subscribed SKUs").pages():
                for raw in page.records:
                    try:
                        sku = sku_of(raw)
                    except RecordError as error:
                        raise PageError(page.number, f"malformed SKU: {error}") from None
                    found[sku.sku_id] = sku
            self._skus = found
        return self._skus

    async def admins(self) -> set[str]:
        """Users holding any directory role."""
        if self._admins is None:
            found: set[str] = set()
            stream = self._list("/directoryRoles", "directory roles", **{"$expand": "members"})
            async for page in stream.pages():
                for raw in page.records:
                    try:
                        role = record_of(raw, "directory role")
                        members = role.get("members") or []
                        if not isinstance(members, list):
                            raise RecordError("members is not a list")
                        for member in members:
                            member = record_of(member, "member")
                            if member.get("@odata.type", "#microsoft.graph.user") == (
                                "#microsoft.graph.user"
                            ):
                                found.add(identifier(member, "id"))
                    except RecordError as error:
                        raise PageError(page.number, f"malformed directory role: {error}") from None
            self._admins = found
        return self._admins

    async def _sign_in_readable(self) -> bool:
        """Whether signInActivity can be read (tried once, on a one-user page)."""
        if self._sign_in is None:
            response = await send(
                self.http,
                "GET",
                "/users",
                params={"$select": f"id,{SIGN_IN}", "$top": 1},
                accept_status=(403,),
            )
            if response.status_code == 403:
                code = _graph_code(decode(self.http, response, "GET /users"))
                if code not in NO_SIGN_IN:
                    raise ConnectorError(f"GET /users ({SIGN_IN}): 403 {code}")
                self._sign_in = False
            else:
                self._sign_in = True
        return self._sign_in

    async def _shared_report(self) -> dict[str, datetime]:
        """The usage report read once per connector: the concurrent re-reads before reclaim
        share it (Microsoft refreshes it about daily, and its endpoint is throttled)."""
        async with self._report_lock:
            if self._report is None:
                report = await self.usage_report()
                check_report(report, [])  # a concealed report says nothing about activity
                self._report = report
            return self._report

    async def usage_report(self) -> dict[str, datetime]:
        """The Office 365 active users report (D30): Graph redirects to a pre-authenticated
        download, fetched without the token (it may be on another host)."""
        response = await send(self.http, "GET", REPORT, accept_status=(302,))
        if response.status_code == 302:
            location = response.headers.get("location")
            if not location:
                raise ConnectorError(f"GET {REPORT}: a redirect without a location")
            # the kit's client without the token: public addresses only (the location is the
            # vendor's word), retries and Retry-After as for Graph, the pre-authenticated URL
            # kept out of logs and errors
            secret = [
                location,
                *(v for vs in parse_qs(urlsplit(location).query).values() for v in vs),
            ]
            async with VendorClient(
                policy=self.http.policy, stats=self.stats, secrets=secret
            ) as storage:
                try:
                    download = await send(storage, "GET", location)
                except ConnectorError as error:
                    raise ConnectorError(f"usage report download failed: {error}") from None
            if download.status_code != 200:
                raise ConnectorError(f"usage report download answered {download.status_code}")
            return read_report(download.content)
        return read_report(response.content)

    # ------------------------------------------------------------------ validate

    async def validate(self) -> ValidationReport:
        checks: list[CheckResult] = []
        facts: dict[str, Any] = {
            "graph_url": redact_url(self.api_url),
            "tenant": self.tenant,
        }
        try:
            response = await send(self.http, "GET", "/organization")
            org = decode(self.http, response, "GET /organization")
            values = org.get("value") if isinstance(org, Mapping) else None
            if isinstance(values, list) and values and isinstance(values[0], Mapping):
                facts["organization"] = values[0].get("displayName")
            checks.append(CheckResult("credential", True, "token granted; organization readable"))
        except AuthenticationError as error:
            checks.append(CheckResult("credential", False, rejected(error)))
            for process in (Process.DOWNLOAD, Process.ACTIVITY):
                checks.append(CheckResult(process.value, False, "not checked: credential rejected"))
            return ValidationReport(tuple(checks), None, facts)
        except ConnectorError as error:
            checks.append(CheckResult("credential", False, f"GET /organization: {error}"))
            return ValidationReport(tuple(checks), None, facts)
        try:
            skus = await self.skus()
            first = await self._users(False).first_page()
            await self.admins()
            facts["skus"] = sorted(s.part_number for s in skus.values())
            checks.append(
                CheckResult(
                    Process.DOWNLOAD.value,
                    True,
                    f"users readable ({len(first.records)} on a first page), "
                    f"{len(skus)} subscribed SKUs, directory roles readable",
                )
            )
        except ConnectorError as error:
            reason = error.reason if isinstance(error, PageError) else str(error)
            checks.append(CheckResult(Process.DOWNLOAD.value, False, reason))
            checks.append(CheckResult(Process.ACTIVITY.value, False, "not checked"))
            return ValidationReport(tuple(checks), None, facts)
        try:
            if await self._sign_in_readable():
                checks.append(CheckResult(Process.ACTIVITY.value, True, f"{SIGN_IN} readable"))
            else:
                report = await self.usage_report()
                check_report(report, [])
                checks.append(
                    CheckResult(
                        Process.ACTIVITY.value,
                        True,
                        f"{SIGN_IN} not readable (needs Entra ID P1 and AuditLog.Read.All): "
                        f"the usage report is used ({len(report)} users with activity)",
                    )
                )
        except ConnectorError as error:
            checks.append(CheckResult(Process.ACTIVITY.value, False, str(error)))
        granted = await self.granted_permissions()
        facts["application_permissions"] = sorted(granted)
        writes = granted & set(RECLAIM_PERMISSIONS)
        facts["reclaim"] = (
            f"not exercised (validation never writes); granted: {', '.join(sorted(writes))}"
            if writes
            else "not exercised (validation never writes); NOT granted: reclaim will fail "
            "until the app has LicenseAssignment.ReadWrite.All (admin consent)"
        )
        return ValidationReport(tuple(checks), None, facts)

    async def granted_permissions(self) -> set[str]:
        """The application permissions the token carries (its `roles` claim; read, not
        verified: only a hint for validation, Graph decides)."""
        try:
            payload = (await self.credentials.token()).split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError, ConnectorError):
            return set()
        roles = claims.get("roles") if isinstance(claims, Mapping) else None
        return {r for r in roles if isinstance(r, str)} if isinstance(roles, list) else set()

    # ------------------------------------------------------------------ accounts

    async def accounts(self) -> AsyncIterator[list[AccountRecord]]:
        # three independent reads: at once (one round trip instead of three)
        skus, admins, sign_in = await asyncio.gather(
            self.skus(), self.admins(), self._sign_in_readable()
        )
        # concealed names are refused before any page is read
        report = None if sign_in else await self._shared_report()
        self._people = []
        upns: list[str | None] = []
        fingerprint = self.run_fingerprint(skus, admins, report)
        checks = [UniqueKeys(lambda raw: identifier(record_of(raw), "id"))]
        async for page in self._users(sign_in).pages(checks):
            try:
                # every user is a person and names its UPN, whether its licenses changed or not
                for raw in page.records:
                    upns.append(text(record_of(raw), "userPrincipalName"))
                    if self.imports_people:
                        self._people.append(person_of(raw))
                records = self.map_accounts(page.records, fingerprint)
            except RecordError as error:
                raise PageError(page.number, f"malformed user: {error}") from None
            yield records
        if report is not None:
            # before the sync's switch-over: a failure here changes nothing
            check_report(report, upns)

    def run_fingerprint(
        self,
        skus: Mapping[str, SkuInfo],
        admins: set[str],
        report: Mapping[str, datetime] | None,
    ) -> SourceFingerprint:
        """The declaration bound to what this run maps users with: the SKUs' names (every
        user), and per user whether it is an admin and its usage report date."""
        declared = self.source_fingerprint
        assert declared is not None
        named = sorted((sku.sku_id, sku.part_number) for sku in skus.values())
        run = repr((named, report is not None)).encode()

        def context(raw: dict[str, Any]) -> tuple[bool, datetime | None]:
            admin = raw.get("id") in admins
            if report is None:
                return admin, None
            return admin, report.get((text(raw, "userPrincipalName") or "").casefold())

        return declared.bound(
            lambda raw: map_user(raw, skus, admins, report), context=context, run=run
        )

    async def people(self) -> AsyncIterator[list[PersonRecord]]:
        """The directory's users seen by the download (a disabled one has left)."""
        yield list(self._people)

    async def entitlements(self) -> AsyncIterator[list[EntitlementRecord]]:
        """Seats owned per SKU: the prepaid units enabled, priced from the `prices` option."""
        records = []
        for sku in (await self.skus()).values():
            price = self.prices.get(sku.part_number.upper())
            records.append(
                EntitlementRecord(
                    external_id=sku.sku_id,
                    seats=sku.prepaid,
                    product=sku.product,
                    edition=sku.part_number,
                    consumed=sku.consumed,
                    unit_cost=price[0] if price else None,
                    currency=self.currency,
                    billing_period=price[1] if price else "annual",
                )
            )
        yield records

    # ------------------------------------------------------------------ current / reclaim

    def _parts(self, account: AccountRef) -> tuple[str, str]:
        user_id, sku_id = split_account(account.external_id)
        if not user_id or not sku_id:
            raise ConnectorError(
                f"{account.external_id!r} is not a Microsoft 365 license (USER_ID:SKU_ID)"
            )
        return user_id, sku_id.casefold()

    async def current(self, account: AccountRef) -> AccountRecord | None:
        user_id, sku_id = self._parts(account)
        sign_in = await self._sign_in_readable()
        fields = [*USER_FIELDS, SIGN_IN] if sign_in else list(USER_FIELDS)
        where = f"/users/{path_segment(user_id)}"
        response = await send(
            self.http, "GET", where, params={"$select": ",".join(fields)}, accept_status=(404,)
        )
        if self.is_gone(USER_GONE, response, f"GET {where}", user=user_id):
            return None
        raw = decode(self.http, response, f"GET {where}")
        report = None if sign_in else await self._shared_report()
        try:
            records = map_user(raw, await self.skus(), await self.admins(), report)
        except RecordError as error:
            raise ConnectorError(f"reading {where}: {error}") from None
        wanted = account_id(user_id, sku_id)
        return next((r for r in records if r.external_id.casefold() == wanted.casefold()), None)

    async def reclaim_account(self, account: AccountRef) -> ReclaimResult:
        try:
            user_id, sku_id = self._parts(account)
            where = f"/users/{path_segment(user_id)}/assignLicense"
            response = await send(
                self.http,
                "POST",
                where,
                json={"addLicenses": [], "removeLicenses": [sku_id]},
                idempotent=True,  # removing twice answers "no corresponding license": done
                accept_status=(400, 403, 404),
            )
            what = f"POST {where}"
            if response.status_code == 404:
                self.is_gone(USER_GONE, response, what, user=user_id)  # NotGone if not named
                return ReclaimResult(ReclaimOutcome.ALREADY_GONE, f"user {user_id} not found")
            if response.status_code == 400:
                message = _graph_message(response)
                if GROUP_INHERITED in message:
                    return ReclaimResult(ReclaimOutcome.FAILED, GROUP_TASK)
                if LICENSE_GONE.says_gone(response):
                    return ReclaimResult(
                        ReclaimOutcome.ALREADY_GONE, f"{user_id} no longer holds {sku_id}"
                    )
                return ReclaimResult(ReclaimOutcome.FAILED, f"{what}: 400 {message}")
            if response.status_code == 403:
                return ReclaimResult(
                    ReclaimOutcome.FAILED,
                    f"{what}: 403 {_graph_message(response)} (the app needs "
                    "LicenseAssignment.ReadWrite.All)",
                )
        except ConnectorError as error:
            return ReclaimResult(ReclaimOutcome.FAILED, str(error))
        return ReclaimResult(ReclaimOutcome.RECLAIMED, f"removed license {sku_id} from {user_id}")


def _graph_code(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, Mapping) else None
    code = error.get("code") if isinstance(error, Mapping) else None
    return code if isinstance(code, str) else None


def _graph_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text[:200].split())
    error = body.get("error") if isinstance(body, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    return message if isinstance(message, str) else ""
