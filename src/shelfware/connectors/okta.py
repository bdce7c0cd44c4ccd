"""Okta connector: the identity provider's people, and its apps' assignments as SSO seats.

Okta's facts only (VENDOR_APIS.md), composed from the connector kit:

- Base `{profile url}/api/v1`; `Authorization: SSWS <api token>` (an OAuth access token, where
  one is stored, goes as `Bearer`).
- People: `GET /users?limit=200`, plus `filter=status eq "DEPROVISIONED"` (left out without a
  filter), so leavers are known; each with their manager (`profile.managerId`, else
  `profile.manager`). `Link: rel="next"` cursor paging everywhere (sequential).
- Groups (option `import_groups`): `GET /groups`, then each group's members
  (`GET /groups/{id}/users?limit=1000`); every person carries the names of their groups.
- Seats: every app (`GET /apps`) is a software model (publisher "Okta", product the app's
  label, edition "SSO"); every assignment (`GET /apps/{id}/users?limit=500`) a subscription,
  its external id `APP_ID:USER_ID`. Scope GROUP assignments are flagged: they cannot be
  removed per user. An inactive app holds no seats.
- Activity: `user.authentication.sso` System Log events per app (an Okta sign-in alone,
  `user.session.start`, is not app use), `since`/`until` (the run's start: the log is a
  stream), ascending, `limit=1000`, kept 90 days. The app is the target of type AppInstance.
- Reclaim: `DELETE /apps/{appId}/users/{userId}` (204; a 404 E0000007 naming the assignment or
  app: already gone; any other 404 is an error, see `GONE`). Never deactivates
  the Okta user (that is offboarding, not license reclaim).
- Rate limits: `X-Rate-Limit-*` on every response, one budget per endpoint family: paced per
  family by the kit's `SharedHeaderBudget`, so no avoidable 429 happens (429 has no
  Retry-After: the client waits until the announced reset).

Options (mirroring Okta's own provisioning settings): `import_groups` (default true; false
leaves group-scoped assignments and group memberships out: those stored before are kept),
`skip_failed_users` (default false; true leaves out a user or assignment that cannot be read
instead of failing the run, and counts it), and
`full_import` (default false; read by the sync: links accounts already in other profiles to
the people imported, by email or login).

Assumed (kept here): the token's owner holds an Okta admin role, so their assignments are
admin seats; other admins are not listed (`/api/v1/iam/assignees/users` needs another scope).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
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
    ApiKeyAuth,
    BearerAuth,
    GoneWhen,
    HttpConnector,
    HttpStream,
    LinkHeader,
    Meaning,
    NameTable,
    NotEmpty,
    Pacer,
    PacerByKey,
    RecordError,
    UniqueKeys,
    decode,
    identifier,
    instant,
    names_check,
    path_segment,
    record_of,
    send,
    text,
    unrecognised_text,
)
from shelfware.kit.pacing import SharedHeaderBudget
from shelfware.kit.redact import redact_url

OKTA_API_PATH = "/api/v1"
OKTA_PUBLISHER = "Okta"
OKTA_SSO_EDITION = "SSO"
OKTA_SSO_THRESHOLD_DAYS = 30  # default rule threshold of SSO-derived models (DOMAIN.md)
USERS_LIMIT = 200
APPS_LIMIT = 200
GROUPS_LIMIT = 1000
GROUP_USERS_LIMIT = 1000
APP_USERS_LIMIT = 500
LOGS_LIMIT = 1000
LOG_RETENTION = timedelta(days=90)
VALIDATION_SAMPLE = 200  # users and assignments validation reads to check their statuses
SSO_EVENT = "user.authentication.sso"
LEAVER_FILTER = 'status eq "DEPROVISIONED"'  # left out of /users without a filter
GROUP_TASK = "assigned through a group: remove from the group in Okta"
# Statuses, matched without regard to case, spaces, hyphens or underscores (one table each).
# People: the provider's word is kept in Okta's spelling (the directory knows who left by it);
# an unknown one is reported by validation and never read as "left".
PERSON_STATUSES = NameTable.of(
    "user status",
    {
        name: Meaning(active=name not in ("DEPROVISIONED", "SUSPENDED"))
        for name in (
            "ACTIVE",
            "DEPROVISIONED",
            "LOCKED_OUT",
            "PASSWORD_EXPIRED",
            "PROVISIONED",
            "RECOVERY",
            "STAGED",
            "SUSPENDED",
        )
    },
)
# Assignments (app users): INACTIVE and DEPROVISIONED hold no seat. An unknown status is never
# guessed: the seat counts as held, by an admin, unrecognised (never a candidate).
APP_USER_STATUSES = NameTable.of(
    "assignment status",
    {
        "ACTIVE": Meaning(),
        "PROVISIONED": Meaning(),
        "STAGED": Meaning(),
        "PENDING": Meaning(),
        "SUSPENDED": Meaning(),
        "INACTIVE": Meaning(active=False),
        "DEPROVISIONED": Meaning(active=False),
    },
)
APP_STATUSES = NameTable.of(
    "app status",
    {"ACTIVE": Meaning(), "INACTIVE": Meaning(active=False), "DELETED": Meaning(active=False)},
)
# Okta's answer for an assignment or app it does not know: 404, errorCode E0000007, "Not found:
# Resource not found: <id> (AppUser)" (or "(AppInstance)" when the app is gone). An unknown
# route answers E0000007 too, but names the path "(Resource)": never "gone".
GONE = GoneWhen.at(
    "errorSummary",
    "{user} (AppUser)",
    "{app} (AppInstance)",
    requires={"errorCode": ("E0000007",)},
)
APP_GONE = GoneWhen.at("errorSummary", "{app} (AppInstance)", requires={"errorCode": ("E0000007",)})


def okta_api_url(url: str) -> str:
    base = url.strip().rstrip("/")
    return base if base.endswith(OKTA_API_PATH) else base + OKTA_API_PATH


def okta_time(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def rate_bucket(path: str) -> str:
    """The endpoint family of a request path: Okta budgets each one separately."""
    parts = path.split(OKTA_API_PATH, 1)[-1].strip("/").split("/")
    if parts[0] == "apps" and len(parts) >= 3 and parts[2] == "users":
        return "app_users"
    return parts[0] or "other"


def account_id(app_id: str, user_id: str) -> str:
    return f"{app_id}:{user_id}"


def split_account(external_id: str) -> tuple[str, str]:
    """(app id, user id) of an assignment's external id; ("", id) for a bare user id."""
    app_id, _, user_id = external_id.strip().rpartition(":")
    return app_id, user_id


def map_person(raw: Any) -> PersonRecord:
    user = record_of(raw, "user")
    user_id = identifier(user, "id")
    try:
        profile = user.get("profile")
        if not isinstance(profile, Mapping):
            raise RecordError("field profile is missing")
        shown = text(profile, "displayName") or " ".join(
            p for p in (text(profile, "firstName"), text(profile, "lastName")) if p
        )
        return PersonRecord(
            external_id=user_id,
            email=text(profile, "email"),
            login=text(profile, "login"),
            display_name=shown or None,
            status=person_status(text(user, "status")),
            manager=_manager(profile),
            department=text(profile, "department"),
            cost_center=text(profile, "costCenter"),
        )
    except RecordError as error:
        raise RecordError(f"user {user_id}: {error}") from None


def person_status(status: str | None) -> str:
    """A person's status in Okta's spelling (`locked-out` is LOCKED_OUT); an unknown one as
    given (never one of the statuses that mean the person left)."""
    if status is None:
        return "ACTIVE"
    meaning = PERSON_STATUSES.read(status)
    return meaning.canonical if meaning else status


def _manager(profile: Mapping[str, Any]) -> str | None:
    """The manager reference of a user profile: `managerId` (an id, login or email; numbers
    allowed), else `manager`."""
    for name in ("managerId", "manager"):
        value = profile.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if value is not None and not isinstance(value, str):
            raise RecordError(f"field {name} is not text: {value!r}")
        if value and value.strip():
            return value.strip()
    return None


@dataclass(frozen=True, slots=True)
class App:
    id: str
    label: str
    product: str  # the label, made unique among the org's apps
    active: bool
    unrecognised: str | None = None  # an app status the connector does not know


def app_of(app_id: str, label: str, product: str, status: str | None) -> App:
    """An app; one whose status the connector does not know counts as active, its seats
    unrecognised (never candidates)."""
    meaning = APP_STATUSES.read(status)
    if meaning is None:
        return App(app_id, label, product, True, APP_STATUSES.unknown(status))
    return App(app_id, label, product, meaning.active)


def map_app_user(
    raw: Any, app: App, people: Mapping[str, PersonRecord], owner_id: str | None
) -> AccountRecord:
    """An app user (assignment) as an AccountRecord of the app's product."""
    seat = record_of(raw, "app user")
    user_id = identifier(seat, "id")
    try:
        person = people.get(user_id)
        credentials = seat.get("credentials")
        profile = seat.get("profile")
        username = text(credentials, "userName") if isinstance(credentials, Mapping) else None
        email = text(profile, "email") if isinstance(profile, Mapping) else None
        status = text(seat, "status") or "ACTIVE"
        meaning = APP_USER_STATUSES.read(status)
        unknown = unrecognised_text(
            app.unrecognised, None if meaning else APP_USER_STATUSES.unknown(status)
        )
        return AccountRecord(
            external_id=account_id(app.id, user_id),
            username=username or (person.login if person else None),
            email=email or (person.email if person else None),
            display_name=person.display_name if person else None,
            active=app.active and (meaning.active if meaning else True),
            admin=user_id == owner_id or unknown is not None,
            edition=OKTA_SSO_EDITION,
            created_in_app_at=instant(seat, "created"),
            product=app.product,
            group_scoped=text(seat, "scope") == "GROUP",
            unrecognised=unknown,
        )
    except RecordError as error:
        raise RecordError(f"app {app.label} user {user_id}: {error}") from None


def sso_event(raw: Any) -> tuple[str, str, datetime] | None:
    """(app id, user id, when) of a successful SSO event; None for anything else."""
    event = record_of(raw, "log event")
    if event.get("eventType") != SSO_EVENT:
        return None
    outcome = event.get("outcome")
    if isinstance(outcome, Mapping) and outcome.get("result") not in (None, "SUCCESS"):
        return None
    actor = event.get("actor")
    if not isinstance(actor, Mapping) or actor.get("type") != "User":
        return None
    targets = event.get("target") or []
    if not isinstance(targets, list):
        raise RecordError("field target is not a list")
    app = next(
        (t for t in targets if isinstance(t, Mapping) and t.get("type") == "AppInstance"), None
    )
    at = instant(event, "published")
    if app is None or at is None:
        return None
    return identifier(app, "id"), identifier(actor, "id"), at


def _statuses(records: list[Any]) -> list[str | None]:
    return [r.get("status") if isinstance(r, Mapping) else None for r in records]


def unknown_statuses(users: list[Any], apps: list[Any], app_users: list[Any]) -> list[str]:
    """The statuses in validation's sample the connector does not know, described."""
    return [
        *PERSON_STATUSES.unknown_in(s for s in _statuses(users) if s),
        *APP_STATUSES.unknown_in(s for s in _statuses(apps) if s),
        *APP_USER_STATUSES.unknown_in(s for s in _statuses(app_users) if s),
    ]


@register_connector
class OktaConnector(HttpConnector):
    """Okta's people (with status) and every assigned app's seats, used by SSO."""

    kind: ClassVar[str] = "okta"
    publisher: ClassVar[str] = OKTA_PUBLISHER
    product: ClassVar[str] = "Okta"
    default_edition: ClassVar[str] = OKTA_SSO_EDITION
    default_threshold_days: ClassVar[int] = OKTA_SSO_THRESHOLD_DAYS
    max_concurrency: ClassVar[int] = 4  # paging is sequential; reclaims stay polite
    revocation_task: ClassVar[str] = "unassign this user from the app in Okta"
    capabilities: ClassVar[Capabilities] = Capabilities(
        download=True, activity=True, reclaim=True, activity_source=ActivitySource.EVENT_LOG
    )
    permissions: ClassVar[list[Permission]] = [
        Permission(
            Process.DOWNLOAD,
            "Read-only administrator",
            ("okta.users.read", "okta.groups.read", "okta.apps.read"),
        ),
        Permission(Process.ACTIVITY, "Read-only administrator", ("okta.logs.read",)),
        Permission(Process.RECLAIM, "Application administrator", ("okta.apps.manage",)),
    ]

    def __init__(self, settings: ConnectorSettings, *args: Any, **kwargs: Any) -> None:
        super().__init__(settings, *args, **kwargs)
        self.import_groups = self.options.flag("import_groups", True)
        self.skip_failed_users = self.options.flag("skip_failed_users", False)
        self.full_import = self.options.flag("full_import", False)
        self.skipped: list[str] = []  # what skip_failed_users left out, in words
        self._people: list[PersonRecord] | None = None
        self._apps: dict[str, App] = {}

    # ------------------------------------------------------------------ hooks

    def resolve_api_url(self, settings: ConnectorSettings) -> str:
        return okta_api_url(settings.url)

    def authenticator(self, settings: ConnectorSettings) -> httpx.Auth:
        if settings.secrets.get("access_token"):
            return BearerAuth(self.token(settings, "api_key"))
        token = self.token(settings, "api_key")
        return ApiKeyAuth(token, name="Authorization", prefix="SSWS ")

    def pacer(self) -> Pacer | None:
        # one budget per endpoint family and token, shared by validation and the sync after it
        secret = self.settings.secrets.get("access_token") or self.settings.secrets.get("api_key")
        key = f"okta|{self.api_url}|" + hashlib.sha256((secret or "").encode()).hexdigest()[:16]
        return PacerByKey(
            rate_bucket, factory_for=lambda bucket: SharedHeaderBudget(f"{key}|{bucket}")
        )

    # ------------------------------------------------------------------ streams

    def _list(self, path: str, limit: int, what: str, **params: Any) -> HttpStream:
        return self.stream(
            path, params={"limit": limit, **params}, paginator=LinkHeader(), what=what
        )

    def _logs(self, start: datetime, end: datetime) -> HttpStream:
        return self._list(
            "/logs",
            LOGS_LIMIT,
            "System Log events",
            since=okta_time(start),
            until=okta_time(end),
            filter=f'eventType eq "{SSO_EVENT}"',
            sortOrder="ASCENDING",
        )

    def _skip_or_fail(self, page: int, error: RecordError, what: str) -> None:
        if not self.skip_failed_users:
            raise PageError(
                page,
                f"malformed {what}: {error} (--option skip_failed_users=true "
                "leaves such records out)",
            )
        self.skipped.append(str(error))

    async def _read_people(self) -> list[PersonRecord]:
        people: list[PersonRecord] = []
        checks = [UniqueKeys(lambda raw: identifier(record_of(raw), "id"))]
        for params in ({}, {"filter": LEAVER_FILTER}):
            stream = self._list("/users", USERS_LIMIT, "users", **params)
            async for page in stream.pages(checks if not params else ()):
                for raw in page.records:
                    try:
                        people.append(map_person(raw))
                    except RecordError as error:
                        self._skip_or_fail(page.number, error, "user")
        return people

    async def _read_groups(self) -> dict[str, set[str]]:
        """User id -> the names of the groups they belong to."""
        groups: list[tuple[str, str]] = []
        checks = [UniqueKeys(lambda raw: identifier(record_of(raw), "id"))]
        async for page in self._list("/groups", GROUPS_LIMIT, "groups").pages(checks):
            for raw in page.records:
                try:
                    group = record_of(raw, "group")
                    group_id = identifier(group, "id")
                    profile = group.get("profile")
                    name = text(profile, "name") if isinstance(profile, Mapping) else None
                except RecordError as error:
                    raise PageError(page.number, f"malformed group: {error}") from None
                groups.append((group_id, (name or group_id).strip()))
        members: dict[str, set[str]] = {}
        for group_id, name in groups:
            where = f"/groups/{path_segment(group_id)}/users"
            stream = self._list(where, GROUP_USERS_LIMIT, f"members of group {name}")
            member_checks = [UniqueKeys(lambda raw: identifier(record_of(raw), "id"))]
            async for page in stream.pages(member_checks):
                for raw in page.records:
                    try:
                        user_id = identifier(record_of(raw, "group member"), "id")
                    except RecordError as error:
                        raise PageError(
                            page.number, f"malformed member of group {name}: {error}"
                        ) from None
                    members.setdefault(user_id, set()).add(name)
        return members

    async def people(self) -> AsyncIterator[list[PersonRecord]]:
        """Every Okta user, leavers included, with their groups where `import_groups` is on
        (read once per connector)."""
        if self._people is None:
            people = await self._read_people()
            if self.import_groups:
                members = await self._read_groups()
                people = [
                    replace(p, groups=tuple(sorted(members.get(p.external_id, ())))) for p in people
                ]
            self._people = people
        yield self._people

    async def apps(self) -> list[App]:
        found: list[tuple[str, str, str | None]] = []
        checks = [UniqueKeys(lambda raw: identifier(record_of(raw), "id")), NotEmpty()]
        async for page in self._list("/apps", APPS_LIMIT, "apps").pages(checks):
            for raw in page.records:
                try:
                    app = record_of(raw, "app")
                    app_id = identifier(app, "id")
                    label = text(app, "label") or text(app, "name") or app_id
                except RecordError as error:
                    raise PageError(page.number, f"malformed app: {error}") from None
                found.append((app_id, label, text(app, "status")))
        labels = [label.casefold() for _, label, _ in found]
        return [
            app_of(
                app_id,
                label,
                label if labels.count(label.casefold()) == 1 else f"{label} ({app_id})",
                status,
            )
            for app_id, label, status in found
        ]

    # ------------------------------------------------------------------ validate

    async def validate(self) -> ValidationReport:
        checks: list[CheckResult] = []
        facts: dict[str, Any] = {"api_url": redact_url(self.api_url)}
        owner = await self.check_credential(checks, facts, "GET /users/me")
        if owner is None:
            return ValidationReport(tuple(checks), None, facts)
        try:
            users = await self._list("/users", VALIDATION_SAMPLE, "users").first_page()
            if self.import_groups:
                await self._list("/groups", 1, "groups").first_page()
            apps = await self._list("/apps", APPS_LIMIT, "apps").first_page()
            facts["apps_on_first_page"] = len(apps.records)
            app_users: list[Any] = []
            if apps.records:
                first = identifier(record_of(apps.records[0]), "id")
                app_users = (
                    await self._list(
                        f"/apps/{path_segment(first)}/users", VALIDATION_SAMPLE, "app users"
                    ).first_page()
                ).records
        except (ConnectorError, RecordError) as error:
            reason = error.reason if isinstance(error, PageError) else str(error)
            checks.append(CheckResult(Process.DOWNLOAD.value, False, reason))
            checks.append(CheckResult(Process.ACTIVITY.value, False, "not checked"))
            return ValidationReport(tuple(checks), owner, facts)
        unknown = unknown_statuses(users.records, apps.records, app_users)
        facts["unknown_values"] = unknown
        checks.append(
            CheckResult(
                Process.DOWNLOAD.value,
                True,
                f"users readable ({len(users.records)} on a first page), "
                + ("groups, " if self.import_groups else "")
                + "apps and their assignments readable",
            )
        )
        checks.append(names_check(unknown, len(users.records) + len(app_users)))
        try:
            now = datetime.now(UTC)
            await self._logs(now - timedelta(days=1), now).first_page()
            checks.append(CheckResult(Process.ACTIVITY.value, True, "System Log readable"))
        except PageError as error:
            checks.append(CheckResult(Process.ACTIVITY.value, False, f"System Log: {error.reason}"))
        facts["reclaim"] = (
            "not exercised (validation never writes); unassigning needs okta.apps.manage"
        )
        return ValidationReport(tuple(checks), owner, facts)

    async def find_credential_owner(self) -> AccountRef | None:
        response = await send(self.http, "GET", "/users/me")
        try:
            person = map_person(decode(self.http, response, "GET /users/me"))
        except RecordError as error:
            raise ConnectorError(f"GET /users/me: {error}") from None
        return AccountRef(person.external_id, person.login, person.email)

    # ------------------------------------------------------------------ accounts

    async def accounts(self) -> AsyncIterator[list[AccountRecord]]:
        async for people in self.people():
            by_id = {p.external_id: p for p in people}
        owner = await self.credential_owner()
        owner_id = owner.external_id if owner else None
        for app in await self.apps():
            checks = [UniqueKeys(lambda raw: identifier(record_of(raw), "id"))]
            stream = self._list(f"/apps/{path_segment(app.id)}/users", APP_USERS_LIMIT, "app users")
            async for page in stream.pages(checks):
                records = []
                for raw in page.records:
                    try:
                        record = map_app_user(raw, app, by_id, owner_id)
                    except RecordError as error:
                        self._skip_or_fail(page.number, error, "assignment")
                        continue
                    if record.group_scoped and not self.import_groups:
                        continue
                    records.append(record)
                if records:
                    yield records

    # ------------------------------------------------------------------ activity

    async def activity(
        self, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[list[ActivityRecord]]:
        """The latest SSO per assignment after `since` (never before the log's retention)."""
        end = until or datetime.now(UTC)
        start = max(since, end - LOG_RETENTION)
        async for page in self._logs(start, end).pages():
            records = []
            for raw in page.records:
                try:
                    found = sso_event(raw)
                except RecordError as error:
                    raise PageError(page.number, f"malformed log event: {error}") from None
                if found is not None and found[2] > since:
                    app_id, user_id, at = found
                    records.append(ActivityRecord(account_id(app_id, user_id), at))
            yield records

    # ------------------------------------------------------------------ current / reclaim

    def _seat_path(self, account: AccountRef) -> tuple[str, str, str]:
        app_id, user_id = split_account(account.external_id)
        if not app_id or not user_id:
            raise ConnectorError(
                f"{account.external_id!r} is not an Okta assignment (APP_ID:USER_ID)"
            )
        return app_id, user_id, f"/apps/{path_segment(app_id)}/users/{path_segment(user_id)}"

    async def _app(self, app_id: str) -> App | None:
        """One app, read once per connector (re-reads before reclaim go app by app)."""
        if app_id not in self._apps:
            where = f"/apps/{path_segment(app_id)}"
            response = await send(self.http, "GET", where, accept_status=(404,))
            if self.is_gone(APP_GONE, response, f"GET {where}", app=app_id):
                return None
            try:
                raw = record_of(decode(self.http, response, f"GET {where}"), "app")
                label = text(raw, "label") or app_id
            except RecordError as error:
                raise ConnectorError(f"reading {where}: {error}") from None
            self._apps[app_id] = app_of(app_id, label, label, text(raw, "status"))
        return self._apps[app_id]

    async def current(self, account: AccountRef) -> AccountRecord | None:
        app_id, user_id, where = self._seat_path(account)
        response = await send(self.http, "GET", where, accept_status=(404,))
        if self.is_gone(GONE, response, f"GET {where}", app=app_id, user=user_id):
            return None
        seat = decode(self.http, response, f"GET {where}")
        app = await self._app(app_id)
        if app is None:
            return None
        owner = await self.credential_owner()
        try:
            return map_app_user(seat, app, {}, owner.external_id if owner else None)
        except RecordError as error:
            raise ConnectorError(f"reading {where}: {error}") from None

    async def reclaim_account(self, account: AccountRef) -> ReclaimResult:
        try:
            app_id, user_id, where = self._seat_path(account)
            response = await send(self.http, "DELETE", where, accept_status=(403, 404))
            if self.is_gone(GONE, response, f"DELETE {where}", app=app_id, user=user_id):
                return ReclaimResult(ReclaimOutcome.ALREADY_GONE, f"{where} not found")
        except ConnectorError as error:  # a 404 not naming the assignment included
            return ReclaimResult(ReclaimOutcome.FAILED, str(error))
        if response.status_code == 403:
            body = decode(self.http, response, f"DELETE {where}")
            code = body.get("errorCode") if isinstance(body, Mapping) else None
            if code == "E0000046":
                return ReclaimResult(ReclaimOutcome.FAILED, GROUP_TASK)
            summary = body.get("errorSummary") if isinstance(body, Mapping) else None
            return ReclaimResult(
                ReclaimOutcome.FAILED, f"DELETE {where}: 403 {code or ''} {summary or ''}".strip()
            )
        return ReclaimResult(ReclaimOutcome.RECLAIMED, f"unassigned {user_id} from app {app_id}")

    async def reclaim(self, account: AccountRef) -> ReclaimResult:
        """Unassign one user from one app (idempotent); never the credential's owner, whose
        user id is the second half of each of their assignments' ids."""
        try:
            owner = await self.credential_owner()
        except ConnectorError as error:
            return ReclaimResult(
                ReclaimOutcome.FAILED, f"cannot confirm whom the credential belongs to: {error}"
            )
        _, user_id = split_account(account.external_id)
        if owner is not None and user_id == owner.external_id:
            return ReclaimResult(
                ReclaimOutcome.FAILED,
                f"refusing to unassign {account.username or user_id}: the profile's credential "
                "belongs to it",
            )
        return await self.reclaim_account(account)
