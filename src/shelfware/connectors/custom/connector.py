"""The custom connector: a spec (see `spec.py`) composed into the same kit pieces the built-in
connectors use, so a fix to a paginator or an authenticator fixes both.

The profile stores the spec as JSON in its option `spec`; every other option is `{config.*}`
and the credential's secrets are `{secrets.*}`. Every request stays on the profile's URL host:
spec paths are paths, placeholder values are percent-encoded into them, and the kit's next-link
paginators refuse other hosts.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
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
    ValidationReport,
)
from shelfware.connectors.custom import fields
from shelfware.connectors.custom.spec import (
    AccountsStream,
    ActivityStream,
    ApiKeySpec,
    BasicSpec,
    BearerSpec,
    ClientCredentialsSpec,
    Condition,
    CursorSpec,
    CustomSpec,
    FieldSpec,
    GoneSpec,
    LinkHeaderSpec,
    NextUrlSpec,
    OffsetSpec,
    PageNumberSpec,
    ReclaimSpec,
    SpecError,
    StartIndexSpec,
    parse_spec,
)
from shelfware.connectors.custom.templates import TemplateError, render
from shelfware.connectors.registry import register_connector
from shelfware.connectors.toolkit import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    CountMatchesTotal,
    Cursor,
    ErrorEnvelope,
    FullPages,
    GoneWhen,
    HttpConnector,
    HttpStream,
    LinkHeader,
    NextUrl,
    NotEmpty,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    Offset,
    Pacer,
    PageNumber,
    Paginator,
    RecordError,
    RecordSelector,
    RequestQuota,
    SinglePage,
    StableTotal,
    StartIndex,
    TokenSet,
    UniqueKeys,
    decode,
    names_check,
    path,
    send,
    unrecognised_text,
)
from shelfware.kit.redact import redact_url

SAMPLE_RECORDS = 3


def spec_of(options: Mapping[str, str]) -> CustomSpec:
    text = options.get("spec")
    if not text:
        raise ConnectorError("a custom profile needs a spec (`profile create custom --spec FILE`)")
    try:
        return parse_spec(text)
    except SpecError as error:
        raise ConnectorError(str(error)) from None


def kept_records(conditions: list[Condition], records: list[Any]) -> list[Any]:
    """The records every condition keeps (all of them when there is none)."""
    if not conditions:
        return records
    tests = [(path(c.path), {_key(v) for v in c.in_}) for c in conditions]
    return [r for r in records if all(_key(where.find(r)) in allowed for where, allowed in tests)]


def _key(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def capabilities_of(spec: CustomSpec) -> Capabilities:
    """What a spec can do: activity from an event stream, or from a field on the accounts."""
    streams = spec.streams
    if streams.activity is not None:
        source = ActivitySource.EVENT_LOG
    elif streams.accounts.fields.last_activity_at is not None:
        source = ActivitySource.ACCOUNT_FIELD
    else:
        source = ActivitySource.NONE
    return Capabilities(
        download=True,
        activity=source is not ActivitySource.NONE,
        reclaim=streams.reclaim is not None,
        activity_source=source,
        downgrade=streams.downgrade is not None,
    )


@register_connector
class CustomConnector(HttpConnector):
    """Any SaaS app, described by a declarative spec."""

    kind: ClassVar[str] = "custom"
    publisher: ClassVar[str] = "Custom"
    product: ClassVar[str] = "Custom app"
    default_edition: ClassVar[str] = "Standard"
    capabilities: ClassVar[Capabilities] = Capabilities(
        download=True, activity=True, reclaim=True, activity_source=ActivitySource.EVENT_LOG
    )
    permissions: ClassVar[list[Permission]] = [
        Permission(Process.DOWNLOAD, "as the app's admin API requires (see the spec)"),
        Permission(Process.ACTIVITY, "as the app's admin API requires (see the spec)"),
        Permission(Process.RECLAIM, "as the app's admin API requires (see the spec)"),
    ]

    def __init__(self, settings: ConnectorSettings, *args: Any, **kwargs: Any) -> None:
        self.spec = spec_of(settings.options)
        config = {k: v for k, v in settings.options.items() if k != "spec"}
        self.values: dict[str, Mapping[str, Any]] = {
            "config": {"username": settings.username, **config},
            "secrets": dict(settings.secrets),
        }
        super().__init__(settings, *args, **kwargs)
        app = self.spec.app
        self.publisher, self.product, self.default_edition = (  # type: ignore[misc]
            app.publisher,
            app.product,
            app.edition,
        )
        self.capabilities = capabilities_of(self.spec)  # type: ignore[misc]
        self.unpaid_editions = frozenset(app.unpaid_editions)  # type: ignore[misc]

    @classmethod
    def model_identity(cls, url: str, options: Mapping[str, str]) -> tuple[str, str, str]:
        app = spec_of(options).app
        return app.publisher, app.product, app.edition

    @classmethod
    def profile_capabilities(cls, options: Mapping[str, str]) -> Capabilities:
        return capabilities_of(spec_of(options))

    def vendor_concurrency(self) -> int:
        return self.spec.concurrency

    def _render(self, template: str, **extra: Mapping[str, Any]) -> str:
        try:
            return render(template, {**self.values, **extra})
        except TemplateError as error:
            raise ConnectorError(f"spec: {error}") from None

    def authenticator(self, settings: ConnectorSettings) -> httpx.Auth:
        auth = self.spec.auth
        if isinstance(auth, BearerSpec):
            return BearerAuth(self._render(auth.token))
        if isinstance(auth, ApiKeySpec):
            return ApiKeyAuth(
                self._render(auth.key), name=auth.name, location=auth.location, prefix=auth.prefix
            )
        if isinstance(auth, BasicSpec):
            return BasicAuth(self._render(auth.username), self._render(auth.password))
        base = self.resolve_api_url(settings)
        if isinstance(auth, ClientCredentialsSpec):
            return BearerAuth(
                OAuth2ClientCredentials(
                    base + auth.token_path,
                    self._render(auth.client_id),
                    self._render(auth.client_secret),
                    scope=auth.scope,
                )
            )
        token = settings.secrets.get("access_token")
        if not token:
            raise ConnectorError(
                "this profile uses OAuth 2.0 authorization code: authorize it first "
                "(`shelfware profile authorize NAME`)"
            )
        expires = settings.secrets.get("expires_at")
        return BearerAuth(
            OAuth2RefreshToken(
                base + auth.token_path,
                settings.secrets.get("client_id") or str(self.values["config"].get("client_id")),
                settings.secrets.get("client_secret"),
                TokenSet(
                    token,
                    settings.secrets.get("refresh_token"),
                    float(expires) if expires else None,
                ),
            )
        )

    def pacer(self) -> Pacer | None:
        limit = self.spec.rate_limit
        if limit.requests is not None:
            return RequestQuota(limit.requests, limit.per_seconds)
        return None

    # ------------------------------------------------------------------ streams

    def _paginator(self, spec: AccountsStream | ActivityStream) -> Paginator:
        paging = spec.pagination
        if isinstance(paging, PageNumberSpec):
            return PageNumber(
                page_param=paging.param,
                size_param=paging.size_param,
                page_size=paging.size,
                first_page=paging.first,
            )
        if isinstance(paging, OffsetSpec):
            return Offset(
                page_size=paging.size, offset_param=paging.param, limit_param=paging.limit_param
            )
        if isinstance(paging, StartIndexSpec):
            return StartIndex(
                page_size=paging.size,
                concurrency=self.concurrency,
                start_param=paging.start_param,
                size_param=paging.size_param,
            )
        if isinstance(paging, CursorSpec):
            return Cursor(
                path(paging.cursor),
                paging.param,
                inject=paging.inject,
                has_more_path=path(paging.has_more) if paging.has_more else None,
            )
        if isinstance(paging, NextUrlSpec):
            return NextUrl(path(paging.next))
        if isinstance(paging, LinkHeaderSpec):
            return LinkHeader(paging.rel)
        return SinglePage()

    def _stream(
        self, spec: AccountsStream | ActivityStream, what: str, **extra: Mapping[str, Any]
    ) -> HttpStream:
        request = spec.request
        total = spec.pagination.total if isinstance(spec.pagination, StartIndexSpec) else None
        return self.stream(
            self._render_path(request.path, **extra),
            method=request.method,
            params={k: self._render(v, **extra) for k, v in request.params.items()},
            body=self._render_body(request.body, **extra),
            paginator=self._paginator(spec),
            records=RecordSelector(path(spec.records)),
            total=path(total) if total else None,
            envelope=ErrorEnvelope(path(spec.errors)) if spec.errors else None,
            what=what,
        )

    def _render_path(self, template: str, **extra: Mapping[str, Any]) -> str:
        try:
            return render(template, {**self.values, **extra}, url_path=True)
        except TemplateError as error:
            raise ConnectorError(f"spec: {error}") from None

    def _render_body(self, body: Any, **extra: Mapping[str, Any]) -> Any:
        if isinstance(body, str):
            return self._render(body, **extra)
        if isinstance(body, dict):
            return {k: self._render_body(v, **extra) for k, v in body.items()}
        if isinstance(body, list):
            return [self._render_body(v, **extra) for v in body]
        return body

    def map_account(self, raw: Any) -> AccountRecord:
        spec = self.spec.streams.accounts.fields
        external_id = fields.text_value(spec.external_id, raw, "external_id")
        if not external_id:
            raise RecordError("field external_id is missing")
        try:
            unknown: list[str] = []
            active = _never_guessed(spec.active, raw, "active", True, unknown)
            admin = _never_guessed(spec.admin, raw, "admin", False, unknown)
            return AccountRecord(
                external_id=external_id,
                username=fields.text_value(spec.username, raw, "username"),
                email=fields.text_value(spec.email, raw, "email"),
                display_name=fields.text_value(spec.display_name, raw, "display_name"),
                active=True if active is None else active,
                admin=True if unknown else bool(admin),
                edition=fields.text_value(spec.edition, raw, "edition"),
                created_in_app_at=fields.instant_value(
                    spec.created_in_app_at, raw, "created_in_app_at"
                ),
                last_activity_at=fields.instant_value(
                    spec.last_activity_at, raw, "last_activity_at"
                ),
                unrecognised=unrecognised_text(*unknown),
            )
        except RecordError as error:
            raise RecordError(f"account {external_id}: {error}") from None

    def _account_key(self, raw: Any) -> str:
        value = fields.text_value(self.spec.streams.accounts.fields.external_id, raw, "external_id")
        if not value:
            raise RecordError("field external_id is missing")
        return value

    async def accounts(self) -> AsyncIterator[list[AccountRecord]]:
        stream = self._stream(self.spec.streams.accounts, "accounts")
        checks: list[Any] = [UniqueKeys(self._account_key), NotEmpty()]
        if isinstance(self.spec.streams.accounts.pagination, StartIndexSpec):
            checks = [StableTotal(), FullPages(), *checks, CountMatchesTotal()]
        async for page in stream.pages(checks):
            if page.number == 1:
                self.expected_total = page.total
            kept = kept_records(self.spec.streams.accounts.keep_if, page.records)
            try:
                yield [self.map_account(raw) for raw in kept]
            except RecordError as error:
                raise PageError(page.number, f"malformed account: {error}") from None

    async def activity(
        self, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[list[ActivityRecord]]:
        spec = self.spec.streams.activity
        if spec is None:
            return
        start = since - timedelta(hours=spec.lookback_hours)
        cursor = {"start": fields.format_instant(start, spec.cursor_format)}
        if until is not None:
            cursor["end"] = fields.format_instant(until, spec.cursor_format)
        stream = self._stream(spec, "activity events", cursor=cursor)
        async for page in stream.pages():
            records = []
            for raw in kept_records(spec.keep_if, page.records):
                try:
                    external_id = fields.text_value(spec.fields.external_id, raw, "external_id")
                    at = fields.instant_value(spec.fields.at, raw, "at")
                except RecordError as error:
                    raise PageError(page.number, f"malformed activity event: {error}") from None
                if external_id and at is not None and at > since:
                    records.append(ActivityRecord(external_id, at))
            if records:
                yield records

    # ------------------------------------------------------------------ validate

    async def validate(self) -> ValidationReport:
        checks: list[CheckResult] = []
        facts: dict[str, Any] = {"api_url": redact_url(self.api_url)}
        try:
            page = await self._stream(self.spec.streams.accounts, "accounts").first_page()
            kept = kept_records(self.spec.streams.accounts.keep_if, page.records)
            mapped = [self.map_account(raw) for raw in kept]
        except (PageError, RecordError, AuthenticationError) as error:
            checks.append(CheckResult(Process.DOWNLOAD.value, False, f"accounts: {error}"))
            return ValidationReport(tuple(checks), None, facts)
        sample = mapped[:SAMPLE_RECORDS]
        facts["accounts_sample"] = [_shown(r) for r in sample]
        unknown = list(
            dict.fromkeys(
                part for r in mapped if r.unrecognised for part in r.unrecognised.split("; ")
            )
        )
        facts["unknown_values"] = unknown
        checks.append(names_check(unknown, len(mapped)))
        facts["account_count"] = page.total if page.total is not None else len(page.records)
        checks.append(
            CheckResult(
                Process.DOWNLOAD.value,
                True,
                f"accounts readable ({len(page.records)} on the first page)",
            )
        )
        activity = self.spec.streams.activity
        if activity is not None:
            try:
                # a probe of the last day (validation needs a bound, not the data)
                end = datetime.now(UTC)
                events = self._stream(
                    activity,
                    "activity events",
                    cursor={
                        "start": fields.format_instant(
                            end - timedelta(days=1), activity.cursor_format
                        ),
                        "end": fields.format_instant(end, activity.cursor_format),
                    },
                )
                first = await events.first_page()
                facts["activity_sample"] = [
                    {
                        "external_id": fields.text_value(activity.fields.external_id, raw, "id"),
                        "at": str(fields.instant_value(activity.fields.at, raw, "at")),
                    }
                    for raw in first.records[:SAMPLE_RECORDS]
                ]
                checks.append(CheckResult(Process.ACTIVITY.value, True, "activity readable"))
            except (PageError, RecordError, ConnectorError) as error:
                checks.append(CheckResult(Process.ACTIVITY.value, False, f"activity: {error}"))
        facts["reclaim"] = (
            "not exercised (validation never writes)"
            if self.spec.streams.reclaim
            else "the spec has no reclaim: candidates wait for manual revocation"
        )
        return ValidationReport(tuple(checks), None, facts)

    # ------------------------------------------------------------------ current / reclaim

    async def current(self, account: AccountRef) -> AccountRecord | None:
        """Re-read one account: the spec has no single-account request, so read the list."""
        return await self.find_in_accounts(account)

    async def reclaim_account(self, account: AccountRef) -> ReclaimResult:
        spec = self.spec.streams.reclaim
        if spec is None:
            return ReclaimResult(ReclaimOutcome.FAILED, "the spec defines no reclaim request")
        return await self._account_request(spec, account)

    async def downgrade(self, account: AccountRef, edition: str) -> ReclaimResult:
        """The spec's `downgrade` request, `{target.edition}` being ``edition``."""
        spec = self.spec.streams.downgrade
        if spec is None:
            return ReclaimResult(ReclaimOutcome.FAILED, "the spec defines no downgrade request")
        value = spec.editions.get(edition, edition)
        return await self._account_request(spec, account, {"target": {"edition": value}})

    async def _account_request(
        self,
        spec: ReclaimSpec,
        account: AccountRef,
        extra: dict[str, dict[str, Any]] | None = None,
    ) -> ReclaimResult:
        """One write request about one account (reclaim, downgrade), its answer judged by the
        spec's success statuses, `gone` matcher and in-answer errors."""
        values: dict[str, dict[str, Any]] = {
            "account": {
                "external_id": account.external_id,
                "username": account.username,
                "email": account.email,
            },
            **(extra or {}),
        }
        try:
            where = self._render_path(spec.path, **values)
            response = await send(
                self.http,
                spec.method,
                where,
                json=self._render_body(spec.body, **values),
                idempotent=spec.method in ("PUT", "DELETE", "PATCH"),
                accept_status=tuple(spec.success + spec.gone.status),
            )
            ids = {k: v for k, v in values["account"].items() if v}
            gone = response.status_code in spec.gone.status and self.is_gone(
                gone_matcher(spec.gone), response, f"{spec.method} {where}", **ids
            )
        except ConnectorError as error:  # a not-found answer not naming the account included
            return ReclaimResult(ReclaimOutcome.FAILED, str(error))
        if gone:
            return ReclaimResult(ReclaimOutcome.ALREADY_GONE, f"{where}: already gone")
        if response.status_code in spec.success:
            if spec.errors is not None and response.content:
                try:
                    errors = ErrorEnvelope(path(spec.errors)).errors(
                        decode(self.http, response, f"{spec.method} {where}")
                    )
                except ConnectorError as error:
                    return ReclaimResult(ReclaimOutcome.FAILED, str(error))
                if errors:
                    message = self.http.redactor.redact("; ".join(errors))
                    return ReclaimResult(ReclaimOutcome.FAILED, f"the app refused: {message}")
            return ReclaimResult(ReclaimOutcome.RECLAIMED, f"{spec.method} {where} done")
        return ReclaimResult(
            ReclaimOutcome.FAILED, f"{spec.method} {where} answered {response.status_code}"
        )


def _never_guessed(
    spec: FieldSpec | None, raw: Any, name: str, default: bool, unknown: list[str]
) -> bool | None:
    """A boolean that decides candidacy (admin, active); a value the spec's map does not list
    is never guessed: None, and its description added to `unknown`."""
    try:
        return fields.bool_value(spec, raw, name, default)
    except fields.Unmapped as error:
        shown = str(error.value)
        unknown.append(f"unknown {name} value {shown[:80]!r}")
        return None


def gone_matcher(spec: GoneSpec) -> GoneWhen:
    """A spec's `gone` as the kit's matcher: `{account.x}` placeholders become its ids."""
    names = re.sub(r"\{\s*account\.(\w+)\s*\}", r"{\1}", spec.names)
    return GoneWhen.at(spec.path, names, status=spec.status)


def _shown(record: AccountRecord) -> dict[str, Any]:
    return {
        "external_id": record.external_id,
        "username": record.username,
        "email": record.email,
        "active": record.active,
        "admin": record.admin,
        "edition": record.edition,
        "last_activity_at": record.last_activity_at.isoformat()
        if record.last_activity_at
        else None,
    }
