"""Rally (Broadcom) connector: Web Services API v2.0.

- Accounts: the user list (`GET /user` with an explicit query), index-paginated; pages are
  fetched in parallel (never more than `RALLY_MAX_CONCURRENCY` requests in flight) and yielded
  in order.
- Activity: Rally has no login log; activity is `max(LastLoginDate, LastActiveDate)` on the user
  record, queried for users active after `since`.
- Reclaim: disable the user (`POST /user/{ObjectID}` with `{"User": {"Disabled": true}}`).
- The credential owner (the user `GET /user` without a query answers) is never reclaimed.

Consistency of a download: pages are independent requests, so a user list that changes between
them could yield a snapshot that is wrong in a way the sync cannot see (a user shifted across a
page boundary, missing). `accounts()` therefore refuses any inconsistent snapshot by raising
(never yields a partial one silently): every page must report the same TotalResultCount as page
1, hold the expected number of users, and keep ObjectIDs strictly increasing; the total yielded
must equal TotalResultCount. The remedy is simply to run the sync again (Rally never deletes
users and new users get higher ObjectIDs, so in practice only additions trigger it).

`activity()` cannot be that strict: its result set grows whenever someone signs in, which in a
large organisation happens during any download. Growth shifts records forward, and with pages
fetched in parallel a shifted record can fall between two pages. So when any page of a pass
reports a different total than its first page, `activity()` reads the whole set again (up to
`RALLY_ACTIVITY_MAX_PASSES` passes) until one pass is stable; records from every pass are
yielded (the sync reduces activity to the latest per account, so repeats are harmless). If no
pass is stable it raises `ConnectorError`.

Every Rally-specific assumption lives in the module constants below.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
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
    PageError,
    Permission,
    Process,
    ReclaimOutcome,
    ReclaimResult,
    RequestStats,
    ValidationReport,
)
from shelfware.connectors.registry import register_connector
from shelfware.kit.http import HttpError, HttpPolicy, Sleep, VendorClient
from shelfware.kit.redact import redact_url

logger = logging.getLogger("shelfware.connectors.rally")

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
# Text of the envelope errors Rally returns for an ObjectID that does not exist (lower case).
# Assumed from WSAPI responses ("Cannot find object to read/update"); matched by substring.
RALLY_NOT_FOUND_MARKERS: tuple[str, ...] = (
    "cannot find object",
    "could not find",
    "not found",
    "does not exist",
)
# Rally integration headers the WSAPI docs ask integrations to send.
RALLY_INTEGRATION_HEADERS: Mapping[str, str] = {
    "X-RallyIntegrationName": "shelfware",
    "X-RallyIntegrationVendor": "shelfware",
    "X-RallyIntegrationVersion": "0.1",
}
RALLY_AUTH_HEADER = "ZSESSIONID"  # carries the API key or the OAuth access token
# Full passes over the activity query before giving up on a stable read (see the module doc).
RALLY_ACTIVITY_MAX_PASSES = 3

# --------------------------------------------------------------------------- helpers


class _RecordError(Exception):
    """A malformed field in one user record; wrapped with the page or call it came from."""


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


def _parse_date(raw: Mapping[str, Any], name: str) -> datetime | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _RecordError(f"field {name} is not a date: {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _RecordError(f"field {name} is not a Rally date: {value!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _object_id(raw: Any) -> int:
    if not isinstance(raw, Mapping):
        raise _RecordError(f"a user record is not an object: {type(raw).__name__}")
    value = raw.get("ObjectID")
    if value is None:
        raise _RecordError("field ObjectID is missing")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _RecordError(f"field ObjectID is not a number: {value!r}")
    try:
        return int(value)
    except ValueError:
        raise _RecordError(f"field ObjectID is not a number: {value!r}") from None


def _text(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _RecordError(f"field {name} is not text: {value!r}")
    return value or None


def _flag(raw: Mapping[str, Any], name: str, *, required: bool) -> bool:
    value = raw.get(name)
    if value is None:
        if required:
            raise _RecordError(f"field {name} is missing")
        return False
    if not isinstance(value, bool):
        raise _RecordError(f"field {name} is not a boolean: {value!r}")
    return value


def _latest(*dates: datetime | None) -> datetime | None:
    present = [d for d in dates if d is not None]
    return max(present) if present else None


def _permission_of(raw: Mapping[str, Any]) -> str:
    """The highest permission a user record shows."""
    found: list[str] = []
    if raw.get("SubscriptionAdmin") is True:
        found.append("Subscription Admin")
    for name in ("SubscriptionPermission", "WorkspacePermission"):
        value = raw.get(name)
        if isinstance(value, str) and value:
            found.append(value)
    if not found:
        return "None"
    return max(found, key=lambda role: RALLY_PERMISSION_RANK.get(role, 0))


def map_account(raw: Any) -> AccountRecord:
    """A Rally User object as an AccountRecord; raises `_RecordError` naming the bad field."""
    object_id = _object_id(raw)
    try:
        first = _text(raw, "FirstName")
        last = _text(raw, "LastName")
        display = _text(raw, "DisplayName") or " ".join(p for p in (first, last) if p) or None
        permission = _text(raw, "SubscriptionPermission")
        admin = _flag(raw, "SubscriptionAdmin", required=False) or (
            permission in RALLY_ADMIN_PERMISSIONS
        )
        return AccountRecord(
            external_id=str(object_id),
            username=_text(raw, "UserName"),
            email=_text(raw, "EmailAddress"),
            display_name=display,
            active=not _flag(raw, "Disabled", required=True),
            admin=admin,
            edition=None,
            created_in_app_at=_parse_date(raw, "CreationDate"),
            last_activity_at=_latest(
                _parse_date(raw, "LastLoginDate"), _parse_date(raw, "LastActiveDate")
            ),
        )
    except _RecordError as error:
        raise _RecordError(f"user {object_id}: {error}") from None


def _envelope_errors(container: Any) -> list[str]:
    if not isinstance(container, Mapping):
        return []
    errors = container.get("Errors")
    if not errors:
        return []
    if isinstance(errors, list):
        return [str(e) for e in errors]
    return [str(errors)]


def _is_not_found(errors: list[str]) -> bool:
    return any(marker in e.lower() for e in errors for marker in RALLY_NOT_FOUND_MARKERS)


@dataclass(frozen=True, slots=True)
class _Page:
    number: int
    total: int
    results: list[Any]


# --------------------------------------------------------------------------- connector


@register_connector
class RallyConnector:
    """Rally users as seats; disabling a user releases its seat."""

    kind: ClassVar[str] = "rally"
    publisher: ClassVar[str] = "Broadcom"
    product: ClassVar[str] = "Rally"
    default_edition: ClassVar[str] = "Unlimited"
    default_url: ClassVar[str | None] = RALLY_DEFAULT_URL
    capabilities: ClassVar[Capabilities] = Capabilities(
        download=True,
        activity=True,
        reclaim=True,
        activity_source=ActivitySource.ACCOUNT_FIELD,
    )
    permissions: ClassVar[list[Permission]] = [
        Permission(Process.DOWNLOAD, RALLY_REQUIRED_PERMISSION),
        Permission(Process.ACTIVITY, RALLY_REQUIRED_PERMISSION),
        Permission(Process.RECLAIM, RALLY_REQUIRED_PERMISSION),
    ]

    def __init__(
        self,
        settings: ConnectorSettings,
        client: httpx.AsyncClient | None = None,
        *,
        policy: HttpPolicy | None = None,
        stats: RequestStats | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        token = settings.secrets.get("access_token") or settings.secrets.get("api_key")
        if not token:
            raise ConnectorError(
                "Rally needs an API key (secret 'api_key') or an OAuth access token "
                "(secret 'access_token')"
            )
        policy = policy or HttpPolicy()
        self.max_concurrency = self._concurrency(settings.options, policy)
        self.page_size = self._page_size(settings.options)
        self.api_url = rally_api_url(settings.url, settings.region)
        self.stats = stats if stats is not None else RequestStats()
        # accounts the running download expects (Rally's TotalResultCount), for progress bars
        self.expected_total: int | None = None
        self.http = VendorClient(
            base_url=self.api_url,
            headers={
                RALLY_AUTH_HEADER: token,
                "Accept": "application/json",
                **RALLY_INTEGRATION_HEADERS,
            },
            secrets=list(settings.secrets.values()),
            policy=policy.with_concurrency(self.max_concurrency),
            stats=self.stats,
            client=client,
            sleep=sleep,
        )
        self._owner: AccountRef | None = None

    # ------------------------------------------------------------------ settings

    @staticmethod
    def _int_option(options: Mapping[str, str], name: str) -> int | None:
        raw = options.get(name)
        if raw is None or str(raw).strip() == "":
            return None
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise ConnectorError(f"option {name} must be a whole number, got {raw!r}") from None
        if value < 1:
            raise ConnectorError(f"option {name} must be at least 1, got {value}")
        return value

    @classmethod
    def _concurrency(cls, options: Mapping[str, str], policy: HttpPolicy) -> int:
        wanted = [RALLY_MAX_CONCURRENCY]
        if policy.max_concurrency is not None:
            wanted.append(policy.max_concurrency)
        option = cls._int_option(options, "max_concurrency")
        if option is not None:
            wanted.append(option)
        return min(wanted)

    @classmethod
    def _page_size(cls, options: Mapping[str, str]) -> int:
        option = cls._int_option(options, "page_size")
        return min(option or RALLY_DEFAULT_PAGE_SIZE, RALLY_MAX_PAGE_SIZE)

    # ------------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> RallyConnector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ validate

    async def validate(self) -> ValidationReport:
        """Exercise the read paths (never writes): who the credential is, its role, the list."""
        checks: list[CheckResult] = []
        facts: dict[str, Any] = {
            "api_url": redact_url(self.api_url),
            "max_concurrency": self.max_concurrency,
            "page_size": self.page_size,
        }
        owner: AccountRef | None = None
        try:
            owner_raw = await self._whoami()
        except AuthenticationError:
            return self._failed_report(checks, facts, "credential rejected (401)")
        except ConnectorError as error:
            return self._failed_report(checks, facts, f"cannot read the current user: {error}")

        owner = self._owner_ref(owner_raw)
        self._owner = owner
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
            page = await self._fetch_page(
                1, fields=RALLY_ACTIVITY_FIELDS, query=RALLY_ALL_USERS_QUERY, page_size=1
            )
        except ConnectorError as error:
            reason = str(error.reason) if isinstance(error, PageError) else str(error)
            checks.append(CheckResult(Process.DOWNLOAD.value, False, f"user list: {reason}"))
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
        response = await self.http.get("/user", params={"fetch": ",".join(RALLY_OWNER_FIELDS)})
        body = self._json(response, "GET /user")
        if isinstance(body, Mapping) and isinstance(body.get("User"), Mapping):
            user: Any = body["User"]  # the single-object shape
        else:
            result = body.get("QueryResult") if isinstance(body, Mapping) else None
            if not isinstance(result, Mapping):
                raise ConnectorError("GET /user: no QueryResult in the response")
            errors = _envelope_errors(result)
            if errors:
                raise ConnectorError(
                    self.http.redactor.redact(f"GET /user: Rally errors: {'; '.join(errors)}")
                )
            results = result.get("Results")
            if not isinstance(results, list) or not results:
                raise ConnectorError("GET /user: no user in the response")
            user = results[0]
        try:
            _object_id(user)
        except _RecordError as error:
            raise ConnectorError(f"GET /user: {error}") from None
        return user  # type: ignore[no-any-return]

    @staticmethod
    def _owner_ref(raw: Mapping[str, Any]) -> AccountRef:
        username = raw.get("UserName")
        email = raw.get("EmailAddress")
        return AccountRef(
            external_id=str(_object_id(raw)),
            username=username if isinstance(username, str) and username else None,
            email=email if isinstance(email, str) and email else None,
        )

    async def credential_owner(self) -> AccountRef:
        """The account the credential belongs to (learnt once, then cached)."""
        if self._owner is None:
            self._owner = self._owner_ref(await self._whoami())
        return self._owner

    # ------------------------------------------------------------------ paging

    def _json(self, response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            excerpt = self.http.redactor.redact(" ".join(response.text[:200].split()))
            raise ConnectorError(f"{what}: the response is not JSON: {excerpt!r}") from None

    async def _fetch_page(
        self, page: int, *, fields: tuple[str, ...], query: str, page_size: int
    ) -> _Page:
        params = {
            "fetch": ",".join(fields),
            "query": query,
            "order": "ObjectID",
            "start": 1 + (page - 1) * page_size,
            "pagesize": page_size,
        }
        try:
            response = await self.http.get("/user", params=params)
            body = self._json(response, "GET /user")
        except ConnectorError as error:  # HttpError, AuthenticationError, bad JSON
            raise PageError(page, str(error)) from error
        result = body.get("QueryResult") if isinstance(body, Mapping) else None
        if not isinstance(result, Mapping):
            raise PageError(page, "no QueryResult in the response")
        errors = _envelope_errors(result)
        if errors:
            raise PageError(page, self.http.redactor.redact(f"Rally errors: {'; '.join(errors)}"))
        total = result.get("TotalResultCount")
        results = result.get("Results")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise PageError(page, f"TotalResultCount is not a count: {total!r}")
        if not isinstance(results, list):
            raise PageError(page, "Results is not a list")
        self.stats.pages += 1
        return _Page(page, total, results)

    async def _pages(
        self, *, fields: tuple[str, ...], query: str, strict: bool
    ) -> AsyncIterator[_Page]:
        """Every page of a user query, in order, fetched in parallel after the first.

        At most `2 * max_concurrency` pages are scheduled ahead of the consumer (the client's
        semaphore caps requests in flight at `max_concurrency`). Outstanding fetches are
        cancelled when the consumer stops or a page fails.
        """
        size = self.page_size
        first = await self._fetch_page(1, fields=fields, query=query, page_size=size)
        total = first.total
        page_count = max(1, math.ceil(total / size))
        if strict:
            self._check_page(first, total, page_count, size, total)
        ahead = 2 * self.max_concurrency
        tasks: dict[int, asyncio.Task[_Page]] = {}
        scheduled = 1

        def schedule_through(last: int) -> None:
            nonlocal scheduled
            while scheduled < min(page_count, last):
                scheduled += 1
                tasks[scheduled] = asyncio.create_task(
                    self._fetch_page(scheduled, fields=fields, query=query, page_size=size)
                )

        try:
            # the next pages are already on their way while the consumer handles the first
            schedule_through(ahead)
            yield first
            for number in range(2, page_count + 1):
                schedule_through(number + ahead - 1)
                page = await tasks.pop(number)
                if strict and page.total != total:
                    raise ConnectorError(
                        f"user count changed during download (page 1 reported {total} "
                        f"users, page {number} reported {page.total}); retry the sync"
                    )
                if strict:
                    self._check_page(page, total, page_count, size, page.total)
                yield page
        finally:
            for task in tasks.values():
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks.values(), return_exceptions=True)

    @staticmethod
    def _check_page(page: _Page, total: int, page_count: int, size: int, reported: int) -> None:
        expected = size if page.number < page_count else total - size * (page_count - 1)
        if len(page.results) != expected:
            raise ConnectorError(
                f"page {page.number} held {len(page.results)} users where {expected} were "
                f"expected ({reported} in total, {size} per page); retry the sync"
            )

    # ------------------------------------------------------------------ accounts

    async def accounts(self) -> AsyncIterator[list[AccountRecord]]:
        """Every user (enabled and disabled), in pages, in ObjectID order."""
        seen = 0
        last_id = -1
        total: int | None = None
        async for page in self._pages(
            fields=RALLY_ACCOUNT_FIELDS, query=RALLY_ALL_USERS_QUERY, strict=True
        ):
            if total is None:
                total = self.expected_total = page.total
                if total == 0:
                    raise ConnectorError(
                        "Rally listed no users at all (the credential's own user should be "
                        "there); refusing an empty snapshot"
                    )
            records: list[AccountRecord] = []
            for raw in page.results:
                try:
                    record = map_account(raw)
                except _RecordError as error:
                    raise PageError(page.number, f"malformed user record: {error}") from None
                object_id = int(record.external_id)
                if object_id <= last_id:
                    raise ConnectorError(
                        f"page {page.number}: ObjectID {object_id} follows {last_id}; the user "
                        "list is not in a consistent order; retry the sync"
                    )
                last_id = object_id
                records.append(record)
            seen += len(records)
            yield records
        if total is not None and seen != total:
            raise ConnectorError(
                f"downloaded {seen} users but Rally reported {total}; retry the sync"
            )

    # ------------------------------------------------------------------ activity

    async def activity(self, since: datetime) -> AsyncIterator[list[ActivityRecord]]:
        """Users whose LastLoginDate or LastActiveDate is after `since`, one record each.

        Reads again while the result set changes under us (see the module docstring), so a
        user may be yielded more than once, always with its latest date as then read.
        """
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        query = activity_query(since)
        totals: list[int] = []
        for _ in range(RALLY_ACTIVITY_MAX_PASSES):
            first_total: int | None = None
            stable = True
            last_id = -1
            async for page in self._pages(fields=RALLY_ACTIVITY_FIELDS, query=query, strict=False):
                if first_total is None:
                    first_total = page.total
                elif page.total != first_total:
                    stable = False
                records: list[ActivityRecord] = []
                for raw in page.results:
                    try:
                        object_id = _object_id(raw)
                        at = _latest(
                            _parse_date(raw, "LastLoginDate"), _parse_date(raw, "LastActiveDate")
                        )
                    except _RecordError as error:
                        raise PageError(page.number, f"malformed user record: {error}") from None
                    if object_id <= last_id:
                        continue  # shifted across a page boundary while we read: a repeat
                    last_id = object_id
                    if at is not None and at > since:
                        records.append(ActivityRecord(external_id=str(object_id), at=at))
                if records:
                    yield records
            if stable:
                return
            totals.append(first_total or 0)
            logger.info("active-user count changed while reading; reading the set again")
        raise ConnectorError(
            f"the set of recently active users kept changing during {RALLY_ACTIVITY_MAX_PASSES} "
            f"reads (first totals {totals}); retry the sync"
        )

    # ------------------------------------------------------------------ current / reclaim

    @staticmethod
    def _object_id_of(account: AccountRef) -> int:
        value = account.external_id.strip()
        if not value.isdigit():
            raise ConnectorError(f"{account.external_id!r} is not a Rally ObjectID")
        return int(value)

    async def current(self, account: AccountRef) -> AccountRecord | None:
        """Re-read one user; None if Rally does not know the ObjectID."""
        object_id = self._object_id_of(account)
        query = f"((ObjectID = {object_id}) AND {RALLY_ALL_USERS_QUERY})"
        try:
            page = await self._fetch_page(1, fields=RALLY_ACCOUNT_FIELDS, query=query, page_size=1)
        except PageError as error:
            raise ConnectorError(f"reading user {object_id}: {error.reason}") from error
        if not page.results:
            return None
        try:
            record = map_account(page.results[0])
        except _RecordError as error:
            raise ConnectorError(f"reading user {object_id}: {error}") from None
        if record.external_id != str(object_id):
            raise ConnectorError(
                f"reading user {object_id}: Rally answered with user {record.external_id}"
            )
        return record

    async def reclaim(self, account: AccountRef) -> ReclaimResult:
        """Disable the user (idempotent). Never the credential owner."""
        try:
            object_id = self._object_id_of(account)
        except ConnectorError as error:
            return ReclaimResult(ReclaimOutcome.FAILED, str(error))
        try:
            owner = await self.credential_owner()
        except ConnectorError as error:
            return ReclaimResult(
                ReclaimOutcome.FAILED, f"cannot confirm whom the credential belongs to: {error}"
            )
        if owner.external_id == str(object_id):
            return ReclaimResult(
                ReclaimOutcome.FAILED,
                f"refusing to disable user {object_id}: the credential belongs to it",
            )
        try:
            response = await self.http.post(
                f"/user/{object_id}",
                json={"User": {"Disabled": True}},
                idempotent=True,  # disabling twice is harmless
                accept_status=(404,),
            )
        except HttpError as error:
            return ReclaimResult(ReclaimOutcome.FAILED, str(error))
        if response.status_code == 404:
            return ReclaimResult(ReclaimOutcome.ALREADY_GONE, f"user {object_id} not found")
        try:
            body = self._json(response, f"POST /user/{object_id}")
        except ConnectorError as error:
            return ReclaimResult(ReclaimOutcome.FAILED, str(error))
        result = body.get("OperationResult") if isinstance(body, Mapping) else None
        if not isinstance(result, Mapping):
            return ReclaimResult(ReclaimOutcome.FAILED, "no OperationResult in Rally's answer")
        errors = _envelope_errors(result)
        if errors:
            message = self.http.redactor.redact("; ".join(errors))
            if _is_not_found(errors):
                return ReclaimResult(
                    ReclaimOutcome.ALREADY_GONE, f"user {object_id} not found: {message}"
                )
            return ReclaimResult(ReclaimOutcome.FAILED, f"Rally refused: {message}")
        obj = result.get("Object")
        if isinstance(obj, Mapping) and obj.get("Disabled") is True:
            return ReclaimResult(ReclaimOutcome.RECLAIMED, f"user {object_id} disabled")
        return ReclaimResult(
            ReclaimOutcome.FAILED, f"Rally did not confirm that user {object_id} is disabled"
        )
