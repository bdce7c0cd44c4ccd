"""Rally (Broadcom) connector: Web Services API v2.0, composed from the connector kit.

This module holds Rally's facts only (URLs, fields, query syntax, mapping, permissions, the
reclaim call); paging, authentication, envelopes, retries and snapshot checks are kit pieces.

- Accounts: the user list (`GET /user` with an explicit query), `start`/`pagesize` index
  paging (`StartIndex`): pages fetched in parallel, never more than `RALLY_MAX_CONCURRENCY`
  requests in flight, yielded in order.
- Activity: Rally has no login log; activity is `max(LastLoginDate, LastActiveDate)` on the user
  record, queried for users active after `since`.
- Reclaim: disable the user (`POST /user/{ObjectID}` with `{"User": {"Disabled": true}}`).
- The credential owner (the user `GET /user` without a query answers) is never reclaimed.

Consistency of a download: pages are independent requests, so a user list that changes between
them could yield a snapshot that is wrong in a way the sync cannot see. `accounts()` passes the
kit's snapshot checks (same TotalResultCount on every page, full pages, ObjectIDs strictly
increasing, the count equal to the total, never empty) or raises; running the sync again is the
remedy (Rally never deletes users and new users get higher ObjectIDs).

`activity()` cannot be that strict: the set of recently active users grows whenever someone
signs in. It uses the kit's `read_until_stable` (up to `RALLY_ACTIVITY_MAX_PASSES` passes);
records of every pass are yielded (the sync keeps the latest per account).

Every Rally-specific assumption lives in the module constants below.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from shelfware.connectors.base import (
    AccountRecord,
    AccountRef,
    ActivityRecord,
    ActivitySource,
    AuthenticationError,
    Capabilities,
    CheckResult,
    ConnectorError,
    ConnectorSettings,
    OAuthEndpoints,
    PageError,
    Permission,
    Process,
    ReclaimOutcome,
    ReclaimResult,
    ValidationReport,
)
from shelfware.connectors.registry import register_connector
from shelfware.connectors.toolkit import (
    ApiKeyAuth,
    CountMatchesTotal,
    ErrorEnvelope,
    FullPages,
    GoneWhen,
    HttpConnector,
    HttpStream,
    IncreasingKeys,
    Meaning,
    NameTable,
    NotEmpty,
    RecordError,
    RecordSelector,
    SourceFingerprint,
    StableTotal,
    StartIndex,
    decode,
    flag,
    instant,
    latest,
    names_check,
    path,
    read_until_stable,
    record_of,
    rejected,
    send,
    text,
    whole_number,
)
from shelfware.kit.redact import redact_url

# --------------------------------------------------------------------------- Rally assumptions

# The profile stores the web-service root; the API version is appended.
RALLY_DEFAULT_URL = "https://rally1.rallydev.com/slm/webservice"
# EU data centre host: assumed from Broadcom's docs, not verified against a live tenant.
RALLY_EU_URL = "https://eu1.rallydev.com/slm/webservice"
RALLY_REGION_URLS: Mapping[str, str] = {"us": RALLY_DEFAULT_URL, "eu": RALLY_EU_URL}
RALLY_API_VERSION_PATH = "/v2.0"
# Rally slows down beyond 12 concurrent requests per user; never exceed it.
RALLY_MAX_CONCURRENCY = 12
RALLY_MAX_PAGE_SIZE = 2000  # the API's maximum pagesize
RALLY_DEFAULT_PAGE_SIZE = 2000
# Without an explicit query `GET /user` answers only the authenticated user; this one lists all.
RALLY_ALL_USERS_QUERY = "((Disabled = true) OR (Disabled = false))"
RALLY_ACCOUNT_FIELDS: tuple[str, ...] = (
    "ObjectID",
    "UserName",
    "EmailAddress",
    "DisplayName",
    "FirstName",
    "LastName",
    "Disabled",
    "SubscriptionAdmin",
    "SubscriptionPermission",
    "CreationDate",
    "LastLoginDate",
    "LastActiveDate",
)
RALLY_ACTIVITY_FIELDS: tuple[str, ...] = ("ObjectID", "LastLoginDate", "LastActiveDate")
RALLY_OWNER_FIELDS: tuple[str, ...] = (
    "ObjectID",
    "UserName",
    "EmailAddress",
    "DisplayName",
    "Disabled",
    "SubscriptionAdmin",
    "SubscriptionPermission",
    "WorkspacePermission",
)
# Permission levels, lowest to highest. "None" / "No Access" grant nothing.
RALLY_PERMISSION_RANK: Mapping[str, int] = {
    "None": 0,
    "No Access": 0,
    "Workspace User": 1,
    "Viewer": 1,
    "Editor": 1,
    "Project Admin": 2,
    "Workspace Admin": 3,
    "Subscription Admin": 4,
}
RALLY_REQUIRED_PERMISSION = "Workspace Admin"
RALLY_ADMIN_PERMISSIONS: frozenset[str] = frozenset({"Subscription Admin", "Workspace Admin"})
# SubscriptionPermission values, matched without regard to case, spaces, hyphens or underscores
# (`WORKSPACE_ADMIN` is "Workspace Admin"). A value not listed is never guessed: the account
# counts as an admin, is marked unrecognised (never a candidate) and validation lists it. An
# absent value is Rally's "None" (SubscriptionAdmin still decides).
PERMISSIONS = NameTable.of(
    "permission",
    {name: Meaning(admin=name in RALLY_ADMIN_PERMISSIONS) for name in RALLY_PERMISSION_RANK},
)
# Rally answers an ObjectID it does not know with 200 and an envelope error ("Cannot find
# object to read/update", assumed from WSAPI responses): the app itself speaking about the
# object addressed. A 404 comes from a router or proxy (Rally never answers one for a user
# that does not exist): never "gone".
GONE = GoneWhen.at(
    "OperationResult.Errors",
    "Cannot find object to update",
    "Cannot find object to read",
    status=(200,),
)
VALIDATION_SAMPLE = 200  # accounts validation reads to check their permission names
# Rally integration headers the WSAPI docs ask integrations to send.
RALLY_INTEGRATION_HEADERS: Mapping[str, str] = {
    "X-RallyIntegrationName": "shelfware",
    "X-RallyIntegrationVendor": "shelfware",
    "X-RallyIntegrationVersion": "0.1",
}
RALLY_AUTH_HEADER = "ZSESSIONID"  # carries the API key or the OAuth access token
RALLY_OAUTH_AUTHORIZE_PATH = "/login/oauth2/auth"  # on the profile URL's host
RALLY_OAUTH_TOKEN_PATH = "/login/oauth2/token"
RALLY_OAUTH_SCOPE = "alm"
# Full passes over the activity query before giving up on a stable read (see the module doc).
RALLY_ACTIVITY_MAX_PASSES = 3

# --------------------------------------------------------------------------- Rally facts as pieces

RESULTS = RecordSelector.at("QueryResult.Results")
TOTAL = path("QueryResult.TotalResultCount")
QUERY_ERRORS = ErrorEnvelope.at("QueryResult.Errors")
OPERATION_ERRORS = ErrorEnvelope.at("OperationResult.Errors")


def rally_api_url(url: str | None, region: str | None = None) -> str:
    """The v2.0 API root for a stored profile URL (with or without `/v2.0`)."""
    base = (url or "").strip().rstrip("/")
    if not base:
        base = RALLY_REGION_URLS.get((region or "us").lower(), RALLY_DEFAULT_URL)
    if base.endswith(RALLY_API_VERSION_PATH):
        return base
    return base + RALLY_API_VERSION_PATH


def rally_datetime(value: datetime) -> str:
    """A datetime in Rally's query syntax: `2026-01-01T00:00:00.000Z`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S") + f".{value.microsecond // 1000:03d}Z"


def activity_query(since: datetime) -> str:
    stamp = rally_datetime(since)
    return f'((LastLoginDate > "{stamp}") OR (LastActiveDate > "{stamp}"))'


def object_id(raw: Any) -> int:
    """A user record's ObjectID (the order key of the user list)."""
    if type(raw) is dict and type(value := raw.get("ObjectID")) is int:
        return value  # the common case, checked on every record of every page
    return whole_number(record_of(raw, "user record"), "ObjectID")


def last_activity(raw: Mapping[str, Any]) -> datetime | None:
    return latest(instant(raw, "LastLoginDate"), instant(raw, "LastActiveDate"))


def _permission_of(raw: Mapping[str, Any]) -> str:
    """The highest permission a user record shows (Rally's spelling where the name is known)."""
    found: list[str] = []
    if raw.get("SubscriptionAdmin") is True:
        found.append("Subscription Admin")
    for name in ("SubscriptionPermission", "WorkspacePermission"):
        value = raw.get(name)
        if isinstance(value, str) and value:
            meaning = PERMISSIONS.read(value)
            found.append(meaning.canonical if meaning else value)
    if not found:
        return "None"
    return max(found, key=lambda role: RALLY_PERMISSION_RANK.get(role, 0))


def permission_meaning(permission: str | None) -> tuple[bool, str | None]:
    """(admin, unrecognised) of a SubscriptionPermission value; an unknown one is an admin."""
    if not permission:
        return False, None
    meaning = PERMISSIONS.read(permission)
    if meaning is None:
        return True, PERMISSIONS.unknown(permission)
    return meaning.admin, None


def map_account(raw: Any) -> AccountRecord:
    """A Rally User object as an AccountRecord; raises `RecordError` naming the bad field.

    The common case (every field of the expected type) takes a fast path: a sync maps every
    user of the organisation, so this runs 100,000s of times. Anything unusual goes through
    the strict path, which names the field at fault.
    """
    if type(raw) is dict:
        get = raw.get
        oid, disabled, admin_flag = get("ObjectID"), get("Disabled"), get("SubscriptionAdmin")
        username, email, display = get("UserName"), get("EmailAddress"), get("DisplayName")
        first, last, permission = get("FirstName"), get("LastName"), get("SubscriptionPermission")
        created, login, active_at = get("CreationDate"), get("LastLoginDate"), get("LastActiveDate")
        if (
            type(oid) is int
            and type(disabled) is bool
            and (admin_flag is None or type(admin_flag) is bool)
            and (username is None or type(username) is str)
            and (email is None or type(email) is str)
            and (display is None or type(display) is str)
            and (first is None or type(first) is str)
            and (last is None or type(last) is str)
            and (permission is None or type(permission) is str)
            and (created is None or type(created) is str)
            and (login is None or type(login) is str)
            and (active_at is None or type(active_at) is str)
        ):
            try:
                created = _fast_instant(created)
                login = _fast_instant(login)
                active_at = _fast_instant(active_at)
            except ValueError:
                return _map_account_strictly(raw)  # names the bad date
            if not display:
                display = " ".join(p for p in (first, last) if p) or None
            if login is None or (active_at is not None and active_at > login):
                login = active_at
            permission_admin, unknown = permission_meaning(permission)
            return AccountRecord(
                str(oid),
                username or None,
                email or None,
                display,
                not disabled,
                admin_flag is True or permission_admin,
                None,
                created,
                login,
                unrecognised=unknown,
            )
    return _map_account_strictly(raw)


def _fast_instant(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is UTC:
        return parsed
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _map_account_strictly(raw: Any) -> AccountRecord:
    oid = object_id(raw)
    try:
        first = text(raw, "FirstName")
        last = text(raw, "LastName")
        display = text(raw, "DisplayName") or " ".join(p for p in (first, last) if p) or None
        permission_admin, unknown = permission_meaning(text(raw, "SubscriptionPermission"))
        return AccountRecord(
            external_id=str(oid),
            username=text(raw, "UserName"),
            email=text(raw, "EmailAddress"),
            display_name=display,
            active=not flag(raw, "Disabled", required=True),
            admin=flag(raw, "SubscriptionAdmin") or permission_admin,
            edition=None,
            created_in_app_at=instant(raw, "CreationDate"),
            last_activity_at=last_activity(raw),
            unrecognised=unknown,
        )
    except RecordError as error:
        raise RecordError(f"user {oid}: {error}") from None


def _owner_ref(raw: Mapping[str, Any]) -> AccountRef:
    return AccountRef(
        external_id=str(object_id(raw)),
        username=text(raw, "UserName"),
        email=text(raw, "EmailAddress"),
    )


# --------------------------------------------------------------------------- connector


@register_connector
class RallyConnector(HttpConnector):
    """Rally users as seats; disabling a user releases its seat."""

    kind: ClassVar[str] = "rally"
    publisher: ClassVar[str] = "Broadcom"
    product: ClassVar[str] = "Rally"
    default_edition: ClassVar[str] = "Unlimited"
    default_url: ClassVar[str | None] = RALLY_DEFAULT_URL
    max_concurrency: ClassVar[int] = RALLY_MAX_CONCURRENCY
    oauth: ClassVar[OAuthEndpoints | None] = OAuthEndpoints(
        RALLY_OAUTH_AUTHORIZE_PATH, RALLY_OAUTH_TOKEN_PATH, RALLY_OAUTH_SCOPE
    )
    capabilities: ClassVar[Capabilities] = Capabilities(
        download=True,
        activity=True,
        reclaim=True,
        activity_source=ActivitySource.ACCOUNT_FIELD,
    )
    source_fingerprint: ClassVar[SourceFingerprint | None] = SourceFingerprint(
        RALLY_ACCOUNT_FIELDS, key=lambda raw: str(object_id(raw)), mapping=map_account
    )
    permissions: ClassVar[list[Permission]] = [
        Permission(Process.DOWNLOAD, RALLY_REQUIRED_PERMISSION),
        Permission(Process.ACTIVITY, RALLY_REQUIRED_PERMISSION),
        Permission(Process.RECLAIM, RALLY_REQUIRED_PERMISSION),
    ]

    def __init__(self, settings: ConnectorSettings, *args: Any, **kwargs: Any) -> None:
        super().__init__(settings, *args, **kwargs)
        self.page_size = min(
            self.options.whole_number("page_size") or RALLY_DEFAULT_PAGE_SIZE,
            RALLY_MAX_PAGE_SIZE,
        )

    # ------------------------------------------------------------------ hooks

    @classmethod
    def default_url_for(cls, region: str | None) -> str | None:
        key = (region or "us").strip().lower()
        if key not in RALLY_REGION_URLS:
            raise ConnectorError(
                f"unknown Rally region {region!r}: use one of {', '.join(RALLY_REGION_URLS)}"
            )
        return RALLY_REGION_URLS[key]

    def resolve_api_url(self, settings: ConnectorSettings) -> str:
        return rally_api_url(settings.url, settings.region)

    def authenticator(self, settings: ConnectorSettings) -> httpx.Auth:
        # an OAuth access token travels in the same header as an API key
        return ApiKeyAuth(self.token(settings, "api_key"), name=RALLY_AUTH_HEADER)

    def headers(self) -> Mapping[str, str]:
        return RALLY_INTEGRATION_HEADERS

    def users(self, fields: tuple[str, ...], query: str, page_size: int) -> HttpStream:
        """A user query as a kit stream."""
        return self.stream(
            "/user",
            params={"fetch": ",".join(fields), "query": query, "order": "ObjectID"},
            paginator=StartIndex(page_size=page_size, concurrency=self.concurrency),
            records=RESULTS,
            total=TOTAL,
            envelope=QUERY_ERRORS,
            what="users",
        )

    # ------------------------------------------------------------------ validate

    async def validate(self) -> ValidationReport:
        """Exercise the read paths (never writes): who the credential is, its role, the list."""
        checks: list[CheckResult] = []
        facts: dict[str, Any] = {
            "api_url": redact_url(self.api_url),
            "max_concurrency": self.concurrency,
            "page_size": self.page_size,
        }
        try:
            owner_raw = await self._whoami()
        except AuthenticationError as error:
            return self._failed_report(checks, facts, rejected(error))
        except ConnectorError as error:
            return self._failed_report(checks, facts, f"cannot read the current user: {error}")
        owner = self._owner = _owner_ref(owner_raw)
        facts["credential_owner"] = owner.username or owner.external_id
        checks.append(
            CheckResult(
                "credential",
                True,
                f"the credential belongs to {owner.username or '?'} (ObjectID {owner.external_id})",
            )
        )
        role = _permission_of(owner_raw)
        facts["permission"] = role
        enough = (
            RALLY_PERMISSION_RANK.get(role, 0) >= RALLY_PERMISSION_RANK[RALLY_REQUIRED_PERMISSION]
        )
        if enough:
            detail = f"{role} found; {RALLY_REQUIRED_PERMISSION} or higher is needed"
        else:
            detail = (
                f"{role} found, but {RALLY_REQUIRED_PERMISSION} (or Subscription Admin) is "
                "needed to list, read activity of and disable users"
            )
        checks.append(CheckResult("permission", enough, detail))
        try:
            page = await self.users(
                RALLY_ACCOUNT_FIELDS,
                RALLY_ALL_USERS_QUERY,
                page_size=min(self.page_size, VALIDATION_SAMPLE),
            ).first_page()
        except PageError as error:
            checks.append(CheckResult(Process.DOWNLOAD.value, False, f"user list: {error.reason}"))
            checks.append(
                CheckResult(Process.ACTIVITY.value, False, "not checked: the user list failed")
            )
            return ValidationReport(tuple(checks), owner, facts)
        facts["account_count"] = page.total
        checks.append(
            CheckResult(
                Process.DOWNLOAD.value,
                True,
                f"user list readable: {page.total} users (enabled and disabled)",
            )
        )
        checks.append(
            CheckResult(
                Process.ACTIVITY.value,
                True,
                "LastLoginDate / LastActiveDate readable on user records (Rally has no login log)",
            )
        )
        unknown = PERMISSIONS.unknown_in(
            raw.get("SubscriptionPermission")
            for raw in page.records
            if isinstance(raw, Mapping) and raw.get("SubscriptionPermission")
        )
        facts["unknown_values"] = unknown
        checks.append(names_check(unknown, len(page.records)))
        facts["reclaim"] = (
            f"not exercised (validation never writes); disabling users needs "
            f"{RALLY_REQUIRED_PERMISSION}"
        )
        return ValidationReport(tuple(checks), owner, facts)

    @staticmethod
    def _failed_report(
        checks: list[CheckResult], facts: dict[str, Any], reason: str
    ) -> ValidationReport:
        checks.append(CheckResult("credential", False, reason))
        for process in (Process.DOWNLOAD, Process.ACTIVITY):
            checks.append(CheckResult(process.value, False, f"not checked: {reason}"))
        return ValidationReport(tuple(checks), None, facts)

    async def _whoami(self) -> Mapping[str, Any]:
        """The user the credential belongs to: `GET /user` with no query (an implied query)."""
        response = await send(
            self.http, "GET", "/user", params={"fetch": ",".join(RALLY_OWNER_FIELDS)}
        )
        body = decode(self.http, response, "GET /user")
        if isinstance(body, Mapping) and isinstance(body.get("User"), Mapping):
            user: Any = body["User"]  # the single-object shape
        else:
            errors = QUERY_ERRORS.errors(body)
            if errors:
                raise ConnectorError(
                    self.http.redactor.redact(f"GET /user: Rally errors: {'; '.join(errors)}")
                )
            results = RESULTS.records.find(body)
            if not isinstance(results, list) or not results:
                raise ConnectorError("GET /user: no user in the response")
            user = results[0]
        try:
            object_id(user)
        except RecordError as error:
            raise ConnectorError(f"GET /user: {error}") from None
        return user  # type: ignore[no-any-return]

    async def find_credential_owner(self) -> AccountRef | None:
        return _owner_ref(await self._whoami())

    # ------------------------------------------------------------------ accounts

    async def accounts(self) -> AsyncIterator[list[AccountRecord]]:
        """Every user (enabled and disabled), in pages, in ObjectID order."""
        users = self.users(RALLY_ACCOUNT_FIELDS, RALLY_ALL_USERS_QUERY, self.page_size)
        checks = [
            StableTotal(),
            FullPages(),
            IncreasingKeys(object_id),
            CountMatchesTotal(),
            NotEmpty(),
        ]
        async for page in users.pages(checks):
            if page.number == 1:
                self.expected_total = page.total
            try:
                yield self.map_accounts(page.records)
            except RecordError as error:
                raise PageError(page.number, f"malformed user record: {error}") from None

    # ------------------------------------------------------------------ activity

    async def activity(
        self, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[list[ActivityRecord]]:
        """Users whose LastLoginDate or LastActiveDate is after `since`, one record each.

        Reads again while the result set changes under us (see the module docstring), so a
        user may be yielded more than once, always with its latest date as then read.
        """
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        users = self.users(RALLY_ACTIVITY_FIELDS, activity_query(since), self.page_size)
        async for raws in read_until_stable(
            users.pages, max_passes=RALLY_ACTIVITY_MAX_PASSES, key=object_id
        ):
            records = []
            for raw in raws:
                try:
                    at = last_activity(raw)
                except RecordError as error:
                    raise ConnectorError(f"malformed user record: {error}") from None
                if at is not None and at > since:
                    records.append(ActivityRecord(external_id=str(object_id(raw)), at=at))
            if records:
                yield records

    # ------------------------------------------------------------------ current / reclaim

    @staticmethod
    def _object_id_of(account: AccountRef) -> int:
        value = account.external_id.strip()
        if not value.isdigit():
            raise ConnectorError(f"{account.external_id!r} is not a Rally ObjectID")
        return int(value)

    async def current(self, account: AccountRef) -> AccountRecord | None:
        """Re-read one user; None if Rally does not know the ObjectID."""
        oid = self._object_id_of(account)
        query = f"((ObjectID = {oid}) AND {RALLY_ALL_USERS_QUERY})"
        try:
            page = await self.users(RALLY_ACCOUNT_FIELDS, query, page_size=1).first_page()
        except PageError as error:
            raise ConnectorError(f"reading user {oid}: {error.reason}") from error
        if not page.records:
            return None
        try:
            record = map_account(page.records[0])
        except RecordError as error:
            raise ConnectorError(f"reading user {oid}: {error}") from None
        if record.external_id != str(oid):
            raise ConnectorError(
                f"reading user {oid}: Rally answered with user {record.external_id}"
            )
        return record

    async def reclaim_account(self, account: AccountRef) -> ReclaimResult:
        """Disable the user (idempotent); the base class never lets it reach the owner."""
        try:
            oid = self._object_id_of(account)
            response = await send(
                self.http,
                "POST",
                f"/user/{oid}",
                json={"User": {"Disabled": True}},
                idempotent=True,  # disabling twice is harmless
            )  # a 404 is a router's or proxy's, never Rally's word on the user: an error
            body = decode(self.http, response, f"POST /user/{oid}")
        except ConnectorError as error:
            return ReclaimResult(ReclaimOutcome.FAILED, str(error))
        if not isinstance(body, Mapping) or not isinstance(body.get("OperationResult"), Mapping):
            return ReclaimResult(ReclaimOutcome.FAILED, "no OperationResult in Rally's answer")
        errors = OPERATION_ERRORS.errors(body)
        if errors:
            message = self.http.redactor.redact("; ".join(errors))
            if GONE.says_gone(response):
                return ReclaimResult(
                    ReclaimOutcome.ALREADY_GONE, f"user {oid} not found: {message}"
                )
            return ReclaimResult(ReclaimOutcome.FAILED, f"Rally refused: {message}")
        obj = body["OperationResult"].get("Object")
        if isinstance(obj, Mapping) and obj.get("Disabled") is True:
            return ReclaimResult(ReclaimOutcome.RECLAIMED, f"user {oid} disabled")
        return ReclaimResult(
            ReclaimOutcome.FAILED, f"Rally did not confirm that user {oid} is disabled"
        )
