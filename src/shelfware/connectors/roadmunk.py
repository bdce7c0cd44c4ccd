"""Roadmunk (Tempo Strategic Roadmaps) connector: the GraphQL API, composed from the kit.

Roadmunk's facts (VENDOR_APIS.md); the user schema is NOT public, so everything assumed about
it is kept in this module's constants:

- Endpoints by region (`--region app|eu|apac`, default `app`): the gateway URL follows from it.
  POST JSON `{query, variables, operationName}` to `ROADMUNK_GRAPHQL_PATH`, with
  `Authorization: Bearer <API token>` (an Account Admin's token).
- Accounts: `account { users(first, after) { pageInfo { hasNextPage endCursor } nodes {...} } }`
  with the kit's `Cursor` sending `after` inside the JSON body's variables; GraphQL errors come
  inside HTTP 200 (`ErrorEnvelope("errors")`).
- Roles: Account Admin and Collaborator hold a Collaborator license, Reviewer a Reviewer
  license (two editions); User Manager is assumed to need a Collaborator license. Role names
  are read through one `NameTable` (`ROLES`): any case, spaces, hyphens or underscores, so the
  GraphQL enum `ACCOUNT_ADMIN` is "Account Admin"; an unknown role is never guessed.
- Activity: `lastLogin` on the user. Reclaim: not possible through the API; candidates wait in
  `awaiting_revocation` with a task for a person, and close when the user is gone.
- The "Download User CSV" report (attached to the profile with `shelfware profile attach`):
  once attached, only users the latest report lists as Active count as holding a seat.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
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
    Process,
    ReclaimOutcome,
    ReclaimResult,
    ValidationReport,
)
from shelfware.connectors.registry import register_connector
from shelfware.connectors.toolkit import (
    BearerAuth,
    Cursor,
    ErrorEnvelope,
    HttpConnector,
    HttpStream,
    Meaning,
    NameTable,
    NotEmpty,
    RecordError,
    RecordSelector,
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
from shelfware.kit.csv_input import CsvInputError, read_csv
from shelfware.kit.redact import redact_url

# --------------------------------------------------------------------------- assumptions

ROADMUNK_REGIONS: Mapping[str, str] = {
    "app": "https://app-gateway.roadmunk.com",  # North America (default)
    "eu": "https://eu-gateway.roadmunk.com",
    "apac": "https://apac-gateway.roadmunk.com",
}
ROADMUNK_DEFAULT_REGION = "app"
ROADMUNK_GRAPHQL_PATH = "/graphql"  # assumed: the gateway's GraphQL endpoint
ROADMUNK_PAGE_SIZE = 100  # assumed maximum of `first`
ROADMUNK_MAX_CONCURRENCY = 4  # no documented limit; cursor paging is sequential anyway
HEALTH_QUERY = "query Health { account { id } }"
USERS_QUERY = (
    "query Users($first: Int!, $after: String) { account { id users(first: $first, after: "
    "$after) { pageInfo { hasNextPage endCursor } nodes { id email firstName lastName role "
    "active lastLogin createdAt } } } }"
)
USERS = "data.account.users"
COLLABORATOR = "Collaborator"
REVIEWER = "Reviewer"
# Roles, matched without regard to case, spaces, hyphens or underscores (a GraphQL enum
# ACCOUNT_ADMIN is "Account Admin"). A role not listed is never guessed: the account counts as
# an admin holding a Collaborator seat, is marked unrecognised (never a candidate) and
# `profile validate` lists the role.
ROLES = NameTable.of(
    "role",
    {
        "Account Admin": Meaning(admin=True, edition=COLLABORATOR),
        "User Manager": Meaning(edition=COLLABORATOR),  # assumed: a Collaborator license
        "Collaborator": Meaning(edition=COLLABORATOR),
        "Reviewer": Meaning(edition=REVIEWER),
    },
)
# The "Download User CSV" report's columns (import columns are documented; Status and Last
# Login are assumed), with spellings accepted for each.
REPORT_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "first name": ("firstname", "first"),
    "last name": ("lastname", "last"),
    "emails": ("email", "e-mail", "email address"),
    "role": ("roles",),
    "status": ("state",),
    "last login": ("lastlogin", "last login date"),
}
REPORT_OPTION = "_user_report_active"  # set by `shelfware profile attach` (profiles.attachments)
# GraphQL error codes (extensions.code) meaning the token was rejected (answered with HTTP 200)
AUTH_ERROR_CODES = frozenset({"UNAUTHENTICATED", "FORBIDDEN"})
ERRORS = ErrorEnvelope.at("errors", auth_codes=AUTH_ERROR_CODES, code_path="extensions.code")
# The user report's Status column (Active / Inactive documented; the others assumed).
REPORT_STATUSES = NameTable.of(
    "status",
    {
        "Active": Meaning(active=True),
        "Inactive": Meaning(active=False),
        "Deactivated": Meaning(active=False),
        "Disabled": Meaning(active=False),
        "Pending": Meaning(active=False),
    },
)


def roadmunk_url(url: str | None, region: str | None) -> str:
    """The gateway for a region (or an explicit URL, e.g. a sandbox)."""
    if url:
        return url.rstrip("/")
    key = (region or ROADMUNK_DEFAULT_REGION).strip().lower()
    if key not in ROADMUNK_REGIONS:
        raise ConnectorError(
            f"unknown Roadmunk region {region!r}: use one of {', '.join(ROADMUNK_REGIONS)}"
        )
    return ROADMUNK_REGIONS[key]


def edition_of(role: str | None) -> str:
    """The license a role holds; an unknown role holds a Collaborator license (the default)."""
    meaning = ROLES.read(role)
    return (meaning.edition if meaning else None) or COLLABORATOR


def map_user(raw: Any, active_emails: frozenset[str] | None = None) -> AccountRecord:
    user = record_of(raw, "user")
    user_id = identifier(user, "id")
    try:
        email = text(user, "email")
        role = text(user, "role")
        names = [text(user, "firstName"), text(user, "lastName")]
        active = flag(user, "active", required=True)
        if active_emails is not None:  # the attached report decides who holds a seat
            active = active and (email or "").strip().lower() in active_emails
        meaning = ROLES.read(role)
        return AccountRecord(
            external_id=user_id,
            username=email,
            email=email,
            display_name=" ".join(n for n in names if n) or None,
            active=active,
            admin=meaning.admin if meaning else True,  # an unknown role is never guessed
            edition=edition_of(role),
            created_in_app_at=instant(user, "createdAt"),
            last_activity_at=instant(user, "lastLogin"),
            unrecognised=None if meaning else ROLES.unknown(role),
        )
    except RecordError as error:
        raise RecordError(f"user {user_id}: {error}") from None


@dataclass(frozen=True, slots=True)
class UserReport:
    """The attached "Download User CSV" report: who it lists, and who as active."""

    rows: int
    active_emails: frozenset[str]


def parse_user_report(data: bytes) -> UserReport:
    """Read a user report strictly; `CsvInputError` names the line of the first problem."""
    rows = read_csv(  # the app's own export: its other columns are not ours to judge
        data,
        columns=REPORT_COLUMNS,
        required=("emails", "status"),
        what="the report",
        unknown="ignore",
    )
    active: set[str] = set()
    for row in rows:
        status = REPORT_STATUSES.read(row.values["status"])
        if status is None:
            raise CsvInputError(
                f"the report, line {row.line}: unknown status {row.values['status']!r} "
                f"(expected Active or Inactive)"
            )
        emails = [e.strip().lower() for e in row.values["emails"].replace(";", ",").split(",")]
        if not all("@" in e for e in emails if e):
            raise CsvInputError(
                f"the report, line {row.line}: {row.values['emails']!r} is not an email"
            )
        if status.active:
            active.update(e for e in emails if e)
    return UserReport(len(rows), frozenset(active))


@register_connector
class RoadmunkConnector(HttpConnector):
    """Roadmunk users as seats (Collaborator and Reviewer licenses); manual revocation."""

    kind: ClassVar[str] = "roadmunk"
    publisher: ClassVar[str] = "Tempo"
    product: ClassVar[str] = "Roadmunk"
    default_edition: ClassVar[str] = COLLABORATOR
    default_url: ClassVar[str | None] = ROADMUNK_REGIONS[ROADMUNK_DEFAULT_REGION]
    max_concurrency: ClassVar[int] = ROADMUNK_MAX_CONCURRENCY
    revocation_task: ClassVar[str] = (
        "deactivate this user in Roadmunk (Account Settings > Users); the next sync closes the "
        "candidate once the user is gone from the active users"
    )
    capabilities: ClassVar[Capabilities] = Capabilities(
        download=True, activity=True, reclaim=False, activity_source=ActivitySource.ACCOUNT_FIELD
    )
    permissions: ClassVar[list[Permission]] = [
        Permission(Process.DOWNLOAD, "Account Admin (API token)"),
        Permission(Process.ACTIVITY, "Account Admin (API token)"),
    ]

    def __init__(self, settings: ConnectorSettings, *args: Any, **kwargs: Any) -> None:
        super().__init__(settings, *args, **kwargs)
        report = settings.options.get(REPORT_OPTION)
        # the attached report's active emails, one per line (set by `profile attach`)
        self.active_emails = (
            frozenset(e for e in report.split("\n") if e) if report is not None else None
        )

    @classmethod
    def default_url_for(cls, region: str | None) -> str | None:
        return roadmunk_url(None, region)

    def resolve_api_url(self, settings: ConnectorSettings) -> str:
        return roadmunk_url(settings.url, settings.region)

    def authenticator(self, settings: ConnectorSettings) -> httpx.Auth:
        return BearerAuth(self.token(settings, "api_key"))

    def users(self) -> HttpStream:
        return self.stream(
            ROADMUNK_GRAPHQL_PATH,
            method="POST",
            body={
                "query": USERS_QUERY,
                "operationName": "Users",
                "variables": {"first": ROADMUNK_PAGE_SIZE},
            },
            paginator=Cursor(
                path(f"{USERS}.pageInfo.endCursor"),
                "variables.after",
                inject="json",
                has_more_path=path(f"{USERS}.pageInfo.hasNextPage"),
                stop_on_empty=False,
            ),
            records=RecordSelector.at(f"{USERS}.nodes"),
            envelope=ERRORS,
            what="users",
        )

    async def validate(self) -> ValidationReport:
        checks: list[CheckResult] = []
        facts: dict[str, Any] = {"api_url": redact_url(self.api_url)}
        try:
            response = await send(
                self.http,
                "POST",
                ROADMUNK_GRAPHQL_PATH,
                json={"query": HEALTH_QUERY, "operationName": "Health"},
                idempotent=True,
            )
            body = decode(self.http, response, "health check")
            errors = ERRORS.errors(body)
            if errors:
                message = self.http.redactor.redact("; ".join(errors))
                if ERRORS.rejects_credential(body):
                    raise AuthenticationError(message)
                raise ConnectorError(message)
            facts["account"] = path("data.account.id").find(body)
            checks.append(CheckResult("credential", True, f"account {facts['account']} reachable"))
        except AuthenticationError as error:
            checks.append(CheckResult("credential", False, f"API token rejected: {error}"))
            checks.append(CheckResult(Process.DOWNLOAD.value, False, "not checked"))
            return ValidationReport(tuple(checks), None, facts)
        except ConnectorError as error:
            checks.append(CheckResult("credential", False, f"health check: {error}"))
            checks.append(CheckResult(Process.DOWNLOAD.value, False, "not checked"))
            return ValidationReport(tuple(checks), None, facts)
        try:
            page = await self.users().first_page()
        except PageError as error:
            checks.append(CheckResult(Process.DOWNLOAD.value, False, f"users: {error.reason}"))
            return ValidationReport(tuple(checks), None, facts)
        checks.append(
            CheckResult(Process.DOWNLOAD.value, True, f"users readable ({len(page.records)} first)")
        )
        unknown = ROLES.unknown_in(
            raw.get("role") if isinstance(raw, Mapping) else None for raw in page.records
        )
        facts["unknown_values"] = unknown
        checks.append(names_check(unknown, len(page.records)))
        checks.append(CheckResult(Process.ACTIVITY.value, True, "lastLogin readable on users"))
        facts["reclaim"] = (
            "not possible through Roadmunk's API: candidates become tasks to deactivate the "
            "user in Roadmunk"
        )
        facts["user_report"] = (
            f"attached: {len(self.active_emails)} active users"
            if self.active_emails is not None
            else "none attached (every active user counts)"
        )
        return ValidationReport(tuple(checks), None, facts)

    async def accounts(self) -> AsyncIterator[list[AccountRecord]]:
        checks = [UniqueKeys(lambda raw: identifier(record_of(raw), "id")), NotEmpty()]
        async for page in self.users().pages(checks):
            try:
                yield [map_user(raw, self.active_emails) for raw in page.records]
            except RecordError as error:
                raise PageError(page.number, f"malformed user: {error}") from None

    async def current(self, account: AccountRef) -> AccountRecord | None:
        """The assumed schema has no single-user query: read the list and pick the user."""
        return await self.find_in_accounts(account)

    async def reclaim_account(self, account: AccountRef) -> ReclaimResult:
        return ReclaimResult(
            ReclaimOutcome.FAILED,
            "Roadmunk cannot deactivate users through its API: deactivate "
            f"{account.email or account.external_id} in Roadmunk (Account Settings -> Users)",
        )
