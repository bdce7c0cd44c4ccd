"""SCIM 2.0 connector (RFC 7643 / 7644): download and reclaim for any app that speaks SCIM.

Composed from the connector kit; this module holds SCIM's facts only:

- Accounts: `GET {base}/Users?startIndex=&count=` (`ListResponse`), 1-based `StartIndex`
  paging with `totalResults`; pages are independent, so after the first they are fetched in
  parallel (`max_concurrency`, default 4: SCIM servers document no limit, stay polite). Servers
  cap `count`: the kit follows the size the server answers with.
- Reclaim: `PATCH /Users/{id}` setting `active` to false (RFC 7644 section 3.5.2), or, with
  `--option reclaim=delete`, `DELETE /Users/{id}`. A 404 means the account is already gone only
  when the SCIM error names the user (`GONE`); another 404 (an endpoint, a proxy) is an error.
- Editions: with `--option edition_attribute=userType` (any single-valued string attribute of
  the core User schema) an account's edition is that attribute's value (absent or blank: the
  `edition` option), and a downgrade is `PATCH /Users/{id}` replacing the attribute with the
  target edition's name (the server must answer with it, or 204). Without the option every
  account has the `edition` option's edition and a downgrade is a task for a person.
- Validation reads `/ServiceProviderConfig` (PATCH support, page size limits) and one page of
  `/Users`; it never writes.
- SCIM has no last-login attribute: activity must come from elsewhere. With
  `--option activity_from=IDP_PROFILE:APP_ID` it comes from the SSO events of the identity
  provider's app that fronts this one (the sync reads them from that profile's last sync).

A SCIM profile stands for one app; its software model comes from the profile's options
`publisher`, `product` and `edition` (defaults: the host name of the URL). Assumed (kept here):
an account is an admin when one of its `roles` values is an admin role of `ROLES` (or of
`--option admin_roles=...`); a role not known makes it an unrecognised admin; the edition is
the `edition` option for every account (SCIM has no standard license attribute).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import urlsplit

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
    BasicAuth,
    BearerAuth,
    CountMatchesTotal,
    FullPages,
    GoneWhen,
    HttpConnector,
    HttpStream,
    Meaning,
    NameTable,
    NotEmpty,
    Options,
    RecordError,
    RecordSelector,
    StableTotal,
    StartIndex,
    UniqueKeys,
    decode,
    flag,
    identifier,
    instant,
    names_check,
    names_option,
    path,
    path_segment,
    record_of,
    rejected,
    send,
    text,
    unrecognised_text,
)
from shelfware.kit.redact import redact_url

SCIM_MEDIA_TYPE = "application/scim+json"
SCIM_PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# RFC 7643 section 4.3: where the account's cost is charged (`department`, `costCenter`)
SCIM_ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCIM_DEFAULT_PAGE_SIZE = 100
SCIM_MAX_CONCURRENCY = 4
VALIDATION_SAMPLE = 200  # users validation reads to check their roles
RESOURCES = RecordSelector.at("Resources", allow_missing=True)  # absent when totalResults is 0
TOTAL = path("totalResults")
RECLAIM_MODES = ("deactivate", "delete")
# single-valued string attributes of the core User schema (RFC 7643 section 4.1.1) that can
# carry an edition; multi-valued ones (`roles`, `entitlements`) also carry admin rights here
EDITION_ATTRIBUTES = ("userType", "title", "profileUrl", "preferredLanguage", "locale")
SCIM_ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
# A SCIM server's answer for a user it does not know: 404 in the Error schema, its detail naming
# the id ("User 'abc' not found"). RFC 7644 answers an unknown endpoint with the same 404, so a
# detail that does not name the user (or an HTML page, an empty body) is an error, not "gone".
GONE = GoneWhen.at(
    "detail",
    "{id}",
    requires={"schemas": (SCIM_ERROR_SCHEMA,), "status": ("404",)},
)
# `roles` values, matched without regard to case, spaces, hyphens or underscores. SCIM roles are
# the server's own words: the common ones are listed, a profile adds its own with
# `--option admin_roles=A,B` and `--option user_roles=C,D`. An account with a role not known is
# never guessed: an admin, unrecognised (never a candidate), listed by validation.
ROLES = NameTable.of(
    "role",
    {
        **{
            name: Meaning(admin=True)
            for name in (
                "admin",
                "administrator",
                "owner",
                "super admin",
                "account admin",
                "org admin",
                "organization admin",
                "organisation admin",
                "workspace admin",
                "global admin",
                "system administrator",
            )
        },
        **{
            name: Meaning()
            for name in (
                "user",
                "member",
                "standard",
                "basic",
                "viewer",
                "reader",
                "read only",
                "editor",
                "contributor",
                "collaborator",
                "reviewer",
                "guest",
            )
        },
    },
)


def _primary_email(raw: Mapping[str, Any]) -> str | None:
    emails = raw.get("emails")
    if emails is None:
        return None
    if not isinstance(emails, list):
        raise RecordError(f"field emails is not a list: {emails!r}")
    values = [e for e in emails if isinstance(e, Mapping) and isinstance(e.get("value"), str)]
    primary = next((e for e in values if e.get("primary") is True), values[0] if values else None)
    return str(primary["value"]) if primary else None


def _display_name(raw: Mapping[str, Any]) -> str | None:
    shown = text(raw, "displayName")
    if shown:
        return shown
    name = raw.get("name")
    if isinstance(name, Mapping):
        formatted = name.get("formatted")
        if isinstance(formatted, str) and formatted:
            return formatted
        parts = [name.get("givenName"), name.get("familyName")]
        joined = " ".join(p for p in parts if isinstance(p, str) and p)
        return joined or None
    return None


def role_values(raw: Mapping[str, Any]) -> list[str | None]:
    """The `roles` values of a User resource (a role without a text value is None)."""
    roles = raw.get("roles")
    if roles is None:
        return []
    if not isinstance(roles, list):
        return [None]
    found: list[str | None] = []
    for role in roles:
        value = role.get("value") if isinstance(role, Mapping) else role
        found.append(value if isinstance(value, str) and value.strip() else None)
    return found


def role_meaning(raw: Mapping[str, Any], roles: NameTable = ROLES) -> tuple[bool, str | None]:
    """(admin, unrecognised) of a User resource's roles; an unknown role makes an admin."""
    values = role_values(raw)
    unknown = roles.unknown_in(values)
    if unknown:
        return True, unrecognised_text(*unknown)
    return any(m.admin for v in values if (m := roles.read(v)) is not None), None


def map_user(
    raw: Any,
    edition: str | None = None,
    roles: NameTable = ROLES,
    edition_attribute: str | None = None,
) -> AccountRecord:
    """A SCIM User resource as an AccountRecord; `RecordError` names a malformed field.
    ``edition_attribute``: the attribute whose value is the account's edition."""
    user = record_of(raw, "SCIM resource")
    user_id = identifier(user, "id")
    try:
        if edition_attribute is not None:
            edition = _group_name(text(user, edition_attribute)) or edition
        meta = user.get("meta")
        admin, unknown = role_meaning(user, roles)
        extension = user.get(SCIM_ENTERPRISE)
        charging = extension if isinstance(extension, Mapping) else {}
        return AccountRecord(
            external_id=user_id,
            username=text(user, "userName"),
            email=_primary_email(user),
            display_name=_display_name(user),
            # RFC 7643: `active` absent means the service provider did not say; count it active
            active=flag(user, "active") if "active" in user else True,
            admin=admin,
            edition=edition,
            created_in_app_at=instant(meta, "created") if isinstance(meta, Mapping) else None,
            last_activity_at=None,
            unrecognised=unknown,
            department=_group_name(text(charging, "department")),
            cost_center=_group_name(text(charging, "costCenter")),
        )
    except RecordError as error:
        raise RecordError(f"user {user_id}: {error}") from None


def _group_name(value: str | None) -> str | None:
    """A department or cost centre: inner whitespace single, blank is none."""
    if value is None:
        return None
    return " ".join(value.split()) or None


@register_connector
class ScimConnector(HttpConnector):
    """Any SCIM 2.0 service provider's Users as seats."""

    kind: ClassVar[str] = "scim"
    publisher: ClassVar[str] = "SCIM"
    product: ClassVar[str] = "SCIM app"
    default_edition: ClassVar[str] = "Standard"
    basic_auth: ClassVar[bool] = True  # a user name and password instead of a bearer token
    max_concurrency: ClassVar[int] = SCIM_MAX_CONCURRENCY
    capabilities: ClassVar[Capabilities] = Capabilities(
        download=True, activity=False, reclaim=True, activity_source=ActivitySource.NONE
    )
    permissions: ClassVar[list[Permission]] = [
        Permission(Process.DOWNLOAD, "SCIM client with read access to Users", ("Users: read",)),
        Permission(Process.RECLAIM, "SCIM client with write access to Users", ("Users: write",)),
    ]

    def __init__(self, settings: ConnectorSettings, *args: Any, **kwargs: Any) -> None:
        super().__init__(settings, *args, **kwargs)
        # one SCIM profile is one app: its software model comes from the profile
        identity = self.model_identity(settings.url, settings.options)
        self.publisher, self.product, self.default_edition = identity  # type: ignore[misc]
        self.page_size = (
            self.options.whole_number("page_size", maximum=10_000) or SCIM_DEFAULT_PAGE_SIZE
        )
        mode = (self.options.text("reclaim", "deactivate") or "deactivate").lower()
        if mode not in RECLAIM_MODES:
            raise ConnectorError(f"option reclaim must be one of {', '.join(RECLAIM_MODES)}")
        self.reclaim_mode = mode
        try:
            self.roles = ROLES.extended(
                {
                    **names_option(self.options.text("user_roles"), Meaning(), what="user_roles"),
                    **names_option(
                        self.options.text("admin_roles"), Meaning(admin=True), what="admin_roles"
                    ),
                }
            )
        except ValueError as error:
            raise ConnectorError(f"option {error}") from None
        self.edition_attribute = self.edition_attribute_of(settings.options)

    @classmethod
    def edition_attribute_of(cls, options: Mapping[str, str]) -> str | None:
        """The `edition_attribute` option, checked: a single-valued string attribute."""
        name = Options(options).text("edition_attribute")
        if not name:
            return None
        known = {a.lower(): a for a in EDITION_ATTRIBUTES}
        if name.strip().lower() not in known:
            raise ConnectorError(
                f"option edition_attribute must be one of {', '.join(EDITION_ATTRIBUTES)} "
                f"(a single-valued attribute of the SCIM User), got {name!r}"
            )
        return known[name.strip().lower()]

    @classmethod
    def model_identity(cls, url: str, options: Mapping[str, str]) -> tuple[str, str, str]:
        known = Options(options)
        host = urlsplit(url).hostname or cls.product
        return (
            known.text("publisher", host) or host,
            known.text("product", host) or host,
            known.text("edition", cls.default_edition) or cls.default_edition,
        )

    @classmethod
    def profile_capabilities(cls, options: Mapping[str, str]) -> Capabilities:
        """With `--option activity_from=IDP_PROFILE:APP_ID` a SCIM profile takes its activity
        from the SSO events of the identity provider's app that fronts it."""
        capabilities = cls.capabilities
        if Options(options).text("activity_from"):
            capabilities = replace(
                capabilities, activity=True, activity_source=ActivitySource.IDENTITY_PROVIDER
            )
        try:
            if cls.edition_attribute_of(options):
                capabilities = replace(capabilities, downgrade=True)
        except ConnectorError:
            pass  # refused when the connector is opened, with the reason
        return capabilities

    def authenticator(self, settings: ConnectorSettings) -> httpx.Auth:
        if settings.auth == "basic":
            password = settings.secrets.get("password") or settings.secrets.get("api_key")
            if not settings.username or not password:
                raise ConnectorError("SCIM with basic auth needs a user name and a password")
            return BasicAuth(settings.username, password)
        token = settings.secrets.get("access_token") or settings.secrets.get("api_key")
        if not token:
            raise ConnectorError("SCIM needs a bearer token (secret 'api_key')")
        return BearerAuth(token)

    def headers(self) -> Mapping[str, str]:
        return {"Accept": f"{SCIM_MEDIA_TYPE}, application/json"}

    def users(self, page_size: int, **params: Any) -> HttpStream:
        return self.stream(
            "/Users",
            params=params,
            paginator=StartIndex(
                page_size=page_size,
                concurrency=self.concurrency,
                start_param="startIndex",
                size_param="count",
            ),
            records=RESOURCES,
            total=TOTAL,
            what="users",
        )

    # ------------------------------------------------------------------ validate

    async def validate(self) -> ValidationReport:
        checks: list[CheckResult] = []
        facts: dict[str, Any] = {"api_url": redact_url(self.api_url)}
        try:
            config = decode(
                self.http,
                await send(self.http, "GET", "/ServiceProviderConfig"),
                "GET /ServiceProviderConfig",
            )
        except AuthenticationError as error:
            reason = rejected(error)
            checks.append(CheckResult("credential", False, reason))
            checks.append(CheckResult(Process.DOWNLOAD.value, False, f"not checked: {reason}"))
            return ValidationReport(tuple(checks), None, facts)
        except ConnectorError as error:
            config = None
            facts["service_provider_config"] = f"unreadable: {error}"
        if isinstance(config, Mapping):
            patch = config.get("patch")
            facts["patch_supported"] = isinstance(patch, Mapping) and patch.get("supported")
            limits = config.get("filter")
            if isinstance(limits, Mapping):
                facts["max_results"] = limits.get("maxResults")
        try:
            page = await self.users(1).first_page()
        except PageError as error:
            failed = "401" in error.reason
            checks.append(CheckResult("credential", not failed, error.reason if failed else "ok"))
            checks.append(CheckResult(Process.DOWNLOAD.value, False, f"Users: {error.reason}"))
            return ValidationReport(tuple(checks), None, facts)
        checks.append(CheckResult("credential", True, "accepted"))
        try:
            sample = (await self.users(min(self.page_size, VALIDATION_SAMPLE)).first_page()).records
        except PageError as error:
            sample = []
            facts["roles_sample"] = f"unreadable: {error.reason}"
        unknown = self.roles.unknown_in(
            v for raw in sample if isinstance(raw, Mapping) for v in role_values(raw)
        )
        facts["unknown_values"] = unknown
        checks.append(names_check(unknown, len(sample)))
        facts["account_count"] = page.total
        checks.append(
            CheckResult(Process.DOWNLOAD.value, True, f"Users readable: {page.total} users")
        )
        if self.reclaim_mode == "deactivate" and facts.get("patch_supported") is False:
            checks.append(
                CheckResult(
                    Process.RECLAIM.value,
                    False,
                    "the server says it does not support PATCH: use --option reclaim=delete",
                )
            )
        facts["reclaim"] = (
            f"not exercised (validation never writes); reclaim will {self.reclaim_mode} users"
        )
        return ValidationReport(tuple(checks), None, facts)

    # ------------------------------------------------------------------ accounts

    async def accounts(self) -> AsyncIterator[list[AccountRecord]]:
        checks = [
            StableTotal(),
            FullPages(),
            UniqueKeys(lambda raw: identifier(record_of(raw), "id")),
            CountMatchesTotal(),
            NotEmpty(),
        ]
        async for page in self.users(self.page_size).pages(checks):
            if page.number == 1:
                self.expected_total = page.total
            try:
                yield [
                    map_user(raw, self.default_edition, self.roles, self.edition_attribute)
                    for raw in page.records
                ]
            except RecordError as error:
                raise PageError(page.number, f"malformed user: {error}") from None

    # ------------------------------------------------------------------ current / reclaim

    def _user_path(self, account: AccountRef) -> str:
        if not account.external_id.strip():
            raise ConnectorError("a SCIM user id is empty")
        return f"/Users/{path_segment(account.external_id)}"

    async def current(self, account: AccountRef) -> AccountRecord | None:
        where = self._user_path(account)
        response = await send(self.http, "GET", where, accept_status=(404,))
        if self.is_gone(GONE, response, f"GET {where}", id=account.external_id):
            return None  # the server says it does not know the user
        try:
            return map_user(
                decode(self.http, response, f"GET {where}"),
                self.default_edition,
                self.roles,
                self.edition_attribute,
            )
        except RecordError as error:
            raise ConnectorError(f"reading {where}: {error}") from None

    async def reclaim_account(self, account: AccountRef) -> ReclaimResult:
        try:
            where = self._user_path(account)
            if self.reclaim_mode == "delete":
                response = await send(self.http, "DELETE", where, accept_status=(404,))
            else:
                response = await self._replace(where, "active", False)
            if self.is_gone(GONE, response, f"{where}", id=account.external_id):
                return ReclaimResult(ReclaimOutcome.ALREADY_GONE, f"{where} not found")
        except ConnectorError as error:  # a 404 not naming the user included
            return ReclaimResult(ReclaimOutcome.FAILED, str(error))
        if response.status_code == 204 or self.reclaim_mode == "delete":
            return ReclaimResult(ReclaimOutcome.RECLAIMED, f"{where} {self.reclaim_mode}d")
        try:
            body = decode(self.http, response, f"PATCH {where}")
        except ConnectorError as error:
            return ReclaimResult(ReclaimOutcome.FAILED, str(error))
        if isinstance(body, Mapping) and body.get("active") is False:
            return ReclaimResult(ReclaimOutcome.RECLAIMED, f"{where} deactivated")
        return ReclaimResult(
            ReclaimOutcome.FAILED, f"the server did not confirm that {where} is inactive"
        )

    async def _replace(self, where: str, attribute: str, value: Any) -> httpx.Response:
        """`PATCH` one attribute of a user (RFC 7644 section 3.5.2 `replace`); a 404 is
        answered, for the caller to judge."""
        return await send(
            self.http,
            "PATCH",
            where,
            json={
                "schemas": [SCIM_PATCH_SCHEMA],
                "Operations": [{"op": "replace", "path": attribute, "value": value}],
            },
            headers={"Content-Type": SCIM_MEDIA_TYPE},
            idempotent=True,  # setting the same value twice is harmless
            accept_status=(404,),
        )

    async def downgrade(self, account: AccountRef, edition: str) -> ReclaimResult:
        """Move the account to ``edition``: `PATCH /Users/{id}` replacing the edition
        attribute (`--option edition_attribute`); confirmed by the resource the server
        answers with (or a 204)."""
        attribute = self.edition_attribute
        if attribute is None:
            return ReclaimResult(
                ReclaimOutcome.FAILED,
                "this SCIM profile has no edition attribute (--option edition_attribute=...): "
                "change the edition in the app by hand",
            )
        try:
            where = self._user_path(account)
            response = await self._replace(where, attribute, edition)
            if self.is_gone(GONE, response, where, id=account.external_id):
                return ReclaimResult(ReclaimOutcome.ALREADY_GONE, f"{where} not found")
            if response.status_code == 204:
                return ReclaimResult(ReclaimOutcome.RECLAIMED, f"{where} {attribute} set")
            body = decode(self.http, response, f"PATCH {where}")
        except ConnectorError as error:
            return ReclaimResult(ReclaimOutcome.FAILED, str(error))
        if isinstance(body, Mapping) and body.get(attribute) == edition:
            return ReclaimResult(ReclaimOutcome.RECLAIMED, f"{where} moved to {edition}")
        return ReclaimResult(
            ReclaimOutcome.FAILED,
            f"the server did not confirm that {where} has {attribute} {edition!r}",
        )
