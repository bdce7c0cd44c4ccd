"""Asana connector: REST API 1.0, composed from the connector kit.

Asana's facts only (VENDOR_APIS.md):

- Base `{profile url}/api/1.0`; `Authorization: Bearer` with a personal access token or an
  OAuth access token.
- One organisation (workspace) per profile: `--option workspace=GID`, needed only when the
  token sees several.
- Accounts: workspace memberships (`opt_fields` for is_active, is_admin, is_guest, created_at,
  user.email, user.name), `limit=100`, opaque `offset` cursor from `next_page` (sequential).
  Inactive memberships are accounts without a seat; guests are their own edition ("Guest").
- Activity: the Audit Log API (Enterprise, service account), one read per configured event
  type (`--option activity_events=a,b,c`), `start_at` inclusive / `end_at` exclusive, ascending,
  kept 90 days. The log is a stream: always send `end_at` (the run's start) and stop on an
  empty page.
- Reclaim: `POST /workspaces/{gid}/removeUser` with the user's gid (admins only).
- Not found: a 404 counts as "gone" only with Asana's "Unknown object: <gid>" for that user
  (`GONE`); any other 404 (a route, a proxy) is an error.
- Rate limits: 150 requests a minute (free) or 1500 (paid): `--option rate_limit=N`, paced
  by the kit's `RequestQuota` so no avoidable 429 happens; `Retry-After` is honoured anyway.
  At most 50 concurrent reads and 15 concurrent writes: the client stays at 15.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from shelfware.connectors.base import (
    AccountRecord,
    AccountRef,
    ActivityRecord,
    ActivitySource,
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
    BearerAuth,
    Cursor,
    GoneWhen,
    HttpConnector,
    HttpStream,
    NotEmpty,
    Pacer,
    RecordError,
    RecordSelector,
    RequestQuota,
    UniqueKeys,
    decode,
    flag,
    identifier,
    instant,
    names_check,
    path,
    record_of,
    send,
    text,
)
from shelfware.kit.pacing import shared_history
from shelfware.kit.redact import redact_url

ASANA_DEFAULT_URL = "https://app.asana.com"
ASANA_API_PATH = "/api/1.0"
ASANA_PAGE_LIMIT = 100  # the API's maximum `limit`
ASANA_MAX_CONCURRENCY = 15  # 50 concurrent reads, 15 concurrent writes
ASANA_RATE_LIMITS = {"free": 150, "paid": 1500}  # requests per minute
ASANA_DEFAULT_RATE_LIMIT = ASANA_RATE_LIMITS["free"]
ASANA_AUDIT_RETENTION = timedelta(days=90)
ASANA_GUEST_EDITION = "Guest"
ASANA_DEFAULT_EDITION = "Business"
# Event types that count as using Asana (configurable with --option activity_events=...).
ASANA_ACTIVITY_EVENTS: tuple[str, ...] = (
    "user_login_succeeded",
    "task_created",
    "task_completed",
    "comment_added",
)
MEMBERSHIP_FIELDS = "user.email,user.name,is_active,is_admin,is_guest,created_at"
DATA = RecordSelector.at("data")
NEXT_OFFSET = path("next_page.offset")
# Asana's answer for an object it does not know: 404 with
# `{"errors": [{"message": "user: Unknown object: <gid>"}]}`. A 404 without it (an unknown
# route: "No matching route for request", a proxy's page) says nothing about the user.
GONE = GoneWhen.at("errors[*].message", "Unknown object: {id}")
# Asana has no role names: `is_admin` is the role. A membership without it is never guessed
# into a non-admin seat (an admin, unrecognised: never a candidate).
ADMIN_MISSING = "admin flag (is_admin) missing"


def asana_api_url(url: str | None) -> str:
    base = (url or ASANA_DEFAULT_URL).strip().rstrip("/")
    return base if base.endswith(ASANA_API_PATH) else base + ASANA_API_PATH


def asana_time(value: datetime) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def user_gid(raw: Any) -> str:
    membership = record_of(raw, "workspace membership")
    user = membership.get("user")
    if not isinstance(user, Mapping):
        raise RecordError("field user is missing")
    return identifier(user, "gid")


def map_membership(raw: Any, edition: str | None = None) -> AccountRecord:
    """A workspace membership (with the opt_fields above) as an AccountRecord."""
    gid = user_gid(raw)
    try:
        user = raw["user"]
        email = text(user, "email")
        known = raw.get("is_admin") is not None
        return AccountRecord(
            external_id=gid,
            username=email,
            email=email,
            display_name=text(user, "name"),
            active=flag(raw, "is_active", required=True),
            admin=flag(raw, "is_admin") if known else True,
            edition=ASANA_GUEST_EDITION if flag(raw, "is_guest") else edition,
            created_in_app_at=instant(raw, "created_at"),
            last_activity_at=None,
            unrecognised=None if known else ADMIN_MISSING,
        )
    except RecordError as error:
        raise RecordError(f"user {gid}: {error}") from None


@register_connector
class AsanaConnector(HttpConnector):
    """Asana workspace members as seats; removing a member from the organisation frees it."""

    kind: ClassVar[str] = "asana"
    publisher: ClassVar[str] = "Asana"
    product: ClassVar[str] = "Asana"
    default_edition: ClassVar[str] = ASANA_DEFAULT_EDITION
    default_url: ClassVar[str | None] = ASANA_DEFAULT_URL
    max_concurrency: ClassVar[int] = ASANA_MAX_CONCURRENCY
    unpaid_editions: ClassVar[frozenset[str]] = frozenset({ASANA_GUEST_EDITION})
    oauth: ClassVar[OAuthEndpoints | None] = OAuthEndpoints(
        "/-/oauth_authorize", "/-/oauth_token", "default"
    )
    capabilities: ClassVar[Capabilities] = Capabilities(
        download=True, activity=True, reclaim=True, activity_source=ActivitySource.EVENT_LOG
    )
    permissions: ClassVar[list[Permission]] = [
        Permission(Process.DOWNLOAD, "Organisation admin", ("default",)),
        Permission(
            Process.ACTIVITY,
            "Service account (Enterprise): Audit Log API",
            ("default",),
        ),
        Permission(Process.RECLAIM, "Organisation admin", ("default",)),
    ]

    def __init__(self, settings: ConnectorSettings, *args: Any, **kwargs: Any) -> None:
        super().__init__(settings, *args, **kwargs)
        self.workspace: str | None = self.options.text("workspace")
        events = self.options.text("activity_events")
        self.activity_events = (
            tuple(e.strip() for e in events.split(",") if e.strip())
            if events
            else ASANA_ACTIVITY_EVENTS
        )
        self.edition = self.options.text("edition", ASANA_DEFAULT_EDITION)

    @classmethod
    def model_identity(cls, url: str, options: Mapping[str, str]) -> tuple[str, str, str]:
        edition = (options.get("edition") or "").strip() or ASANA_DEFAULT_EDITION
        return cls.publisher, cls.product, edition

    # ------------------------------------------------------------------ hooks

    def resolve_api_url(self, settings: ConnectorSettings) -> str:
        return asana_api_url(settings.url)

    def authenticator(self, settings: ConnectorSettings) -> httpx.Auth:
        return BearerAuth(self.token(settings, "api_key"))

    def pacer(self) -> Pacer | None:
        # one budget per token: validation and the sync after it count against the same quota
        secret = self.settings.secrets.get("access_token") or self.settings.secrets.get("api_key")
        key = f"asana|{self.api_url}|" + hashlib.sha256((secret or "").encode()).hexdigest()[:16]
        return RequestQuota(self.requests_per_minute(), 60.0, history=shared_history(key))

    def requests_per_minute(self) -> int:
        """The organisation's documented quota: `--option rate_limit=free|paid|N`."""
        raw = (self.options.text("rate_limit") or "").lower()
        if not raw:
            return ASANA_DEFAULT_RATE_LIMIT
        if raw in ASANA_RATE_LIMITS:
            return ASANA_RATE_LIMITS[raw]
        if raw.isdigit() and 1 <= int(raw) <= 100_000:
            return int(raw)
        raise ConnectorError(
            f"option rate_limit must be free, paid or requests per minute (1-100000), got {raw!r}"
        )

    # ------------------------------------------------------------------ workspace

    async def workspace_gid(self) -> str:
        """The organisation this profile covers: the option, or the only one the token sees."""
        if self.workspace:
            return self.workspace
        response = await send(
            self.http, "GET", "/workspaces", params={"opt_fields": "name,is_organization"}
        )
        found = DATA.select(decode(self.http, response, "GET /workspaces"))
        if len(found) != 1:
            listed = ", ".join(
                f"{w.get('gid')} ({w.get('name')})" for w in found if isinstance(w, Mapping)
            )
            raise ConnectorError(
                f"the token sees {len(found)} workspaces: choose one with --option "
                f"workspace=GID ({listed or 'none'})"
            )
        self.workspace = identifier(record_of(found[0]), "gid")
        return self.workspace

    def memberships(self, workspace: str) -> HttpStream:
        return self.stream(
            f"/workspaces/{workspace}/workspace_memberships",
            params={"opt_fields": MEMBERSHIP_FIELDS, "limit": ASANA_PAGE_LIMIT},
            paginator=Cursor(NEXT_OFFSET, "offset", stop_on_empty=False),
            records=DATA,
            what="workspace members",
        )

    def audit_log(
        self, workspace: str, event_type: str, start: datetime, end: datetime | None
    ) -> HttpStream:
        params: dict[str, Any] = {
            "start_at": asana_time(start),
            "event_type": event_type,
            "limit": ASANA_PAGE_LIMIT,
        }
        if end is not None:
            params["end_at"] = asana_time(end)
        return self.stream(
            f"/workspaces/{workspace}/audit_log_events",
            params=params,
            paginator=Cursor(NEXT_OFFSET, "offset", stop_on_empty=True),
            records=DATA,
            what="audit log events",
        )

    # ------------------------------------------------------------------ validate

    async def validate(self) -> ValidationReport:
        checks: list[CheckResult] = []
        facts: dict[str, Any] = {"api_url": redact_url(self.api_url)}
        owner = await self.check_credential(checks, facts, "GET /users/me")
        if owner is None:
            return ValidationReport(tuple(checks), None, facts)
        try:
            workspace = await self.workspace_gid()
            page = await self.memberships(workspace).first_page()
        except (ConnectorError, RecordError) as error:
            reason = error.reason if isinstance(error, PageError) else str(error)
            checks.append(CheckResult(Process.DOWNLOAD.value, False, reason))
            checks.append(CheckResult(Process.ACTIVITY.value, False, "not checked"))
            return ValidationReport(tuple(checks), owner, facts)
        facts["workspace"] = workspace
        unknown = list(
            dict.fromkeys(
                ADMIN_MISSING
                for raw in page.records
                if not isinstance(raw, Mapping) or raw.get("is_admin") is None
            )
        )
        facts["unknown_values"] = unknown
        checks.append(names_check(unknown, len(page.records)))
        checks.append(
            CheckResult(
                Process.DOWNLOAD.value,
                True,
                f"workspace {workspace}: members readable ({len(page.records)} on the first page)",
            )
        )
        try:
            now = datetime.now(UTC)
            await self.audit_log(
                workspace, self.activity_events[0], now - timedelta(days=1), now
            ).first_page()
            checks.append(
                CheckResult(Process.ACTIVITY.value, True, "Audit Log API readable (Enterprise)")
            )
        except PageError as error:
            unavailable = any(code in error.reason for code in ("402", "403"))
            detail = (
                "the Audit Log API is not available to this token (it needs an Enterprise "
                f"organisation and a service account): {error.reason}"
                if unavailable
                else f"audit log: {error.reason}"
            )
            checks.append(CheckResult(Process.ACTIVITY.value, False, detail))
            facts["activity_available"] = False
        facts["reclaim"] = "not exercised (validation never writes); removeUser needs an admin"
        return ValidationReport(tuple(checks), owner, facts)

    async def find_credential_owner(self) -> AccountRef | None:
        response = await send(self.http, "GET", "/users/me", params={"opt_fields": "email,name"})
        body = decode(self.http, response, "GET /users/me")
        user = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(user, Mapping):
            raise ConnectorError("GET /users/me: no user in the response")
        email = text(user, "email")
        return AccountRef(identifier(user, "gid"), email, email)

    # ------------------------------------------------------------------ accounts

    async def accounts(self) -> AsyncIterator[list[AccountRecord]]:
        workspace = await self.workspace_gid()
        checks = [UniqueKeys(user_gid), NotEmpty()]
        async for page in self.memberships(workspace).pages(checks):
            try:
                yield [map_membership(raw, self.edition) for raw in page.records]
            except RecordError as error:
                raise PageError(page.number, f"malformed workspace membership: {error}") from None

    # ------------------------------------------------------------------ activity

    async def activity(
        self, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[list[ActivityRecord]]:
        """Audit-log events of the configured types after `since` (never before retention)."""
        workspace = await self.workspace_gid()
        end = until or datetime.now(UTC)
        start = max(since, end - ASANA_AUDIT_RETENTION)
        for event_type in self.activity_events:
            async for page in self.audit_log(workspace, event_type, start, end).pages():
                records = []
                for raw in page.records:
                    try:
                        event = record_of(raw, "audit log event")
                        actor = event.get("actor")
                        at = instant(event, "created_at")
                        if not isinstance(actor, Mapping) or actor.get("actor_type") != "user":
                            continue
                        actor_gid = identifier(actor, "gid")
                    except RecordError as error:
                        raise PageError(
                            page.number, f"malformed audit log event: {error}"
                        ) from None
                    if at is not None and at > since:
                        records.append(ActivityRecord(actor_gid, at))
                if records:
                    yield records

    # ------------------------------------------------------------------ current / reclaim

    async def current(self, account: AccountRef) -> AccountRecord | None:
        """Re-read one member: `GET /users/{gid}/workspace_memberships` in this workspace."""
        workspace = await self.workspace_gid()
        gid = _gid(account)
        where = f"/users/{gid}/workspace_memberships"
        response = await send(
            self.http,
            "GET",
            where,
            params={"opt_fields": MEMBERSHIP_FIELDS + ",workspace.gid", "limit": ASANA_PAGE_LIMIT},
            accept_status=(404,),
        )
        if self.is_gone(GONE, response, f"GET {where}", id=gid):
            return None  # Asana says it does not know the user
        for raw in DATA.select(decode(self.http, response, "GET workspace memberships")):
            space = raw.get("workspace") if isinstance(raw, Mapping) else None
            if isinstance(space, Mapping) and str(space.get("gid")) == workspace:
                try:
                    return map_membership(raw, self.edition)
                except RecordError as error:
                    raise ConnectorError(f"reading user {account.external_id}: {error}") from None
        return None

    async def reclaim_account(self, account: AccountRef) -> ReclaimResult:
        try:
            workspace = await self.workspace_gid()
            gid = _gid(account)
            where = f"/workspaces/{workspace}/removeUser"
            response = await send(
                self.http,
                "POST",
                where,
                json={"data": {"user": gid}},
                idempotent=True,  # removing a removed user changes nothing
                accept_status=(404,),
            )
            if self.is_gone(GONE, response, f"POST {where}", id=gid):
                return ReclaimResult(
                    ReclaimOutcome.ALREADY_GONE, f"user {account.external_id} not found"
                )
        except ConnectorError as error:  # a 404 not naming the user included
            return ReclaimResult(ReclaimOutcome.FAILED, str(error))
        return ReclaimResult(
            ReclaimOutcome.RECLAIMED, f"user {account.external_id} removed from {workspace}"
        )


def _gid(account: AccountRef) -> str:
    value = account.external_id.strip()
    if not value.isdigit():
        raise ConnectorError(f"{account.external_id!r} is not an Asana user gid")
    return value
