"""`HttpConnector`: what every HTTP connector shares, so a connector module holds vendor facts.

A subclass declares its facts as class variables (kind, publisher, product, edition,
capabilities, permissions, default URL, the vendor's concurrency limit) and supplies three
hooks: `api_url`, `authenticator` and, where the vendor has one, `pacer`. The base builds the
`VendorClient` (retries, timeouts, redaction, concurrency capped at the vendor's limit, never
above), keeps the request counters, reads typed options, and guards reclaim: the account the
credential belongs to is never reclaimed, whatever the connector's own reclaim call does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx

from shelfware.connectors.base import (
    AccountRecord,
    AccountRef,
    ActivityRecord,
    AuthenticationError,
    Capabilities,
    CheckResult,
    ConnectorError,
    ConnectorSettings,
    KnownAccounts,
    OAuthEndpoints,
    Permission,
    Process,
    ReclaimOutcome,
    ReclaimResult,
    RequestStats,
)
from shelfware.connectors.toolkit.auth import OAuth2RefreshToken, TokenSet, TokenSource
from shelfware.connectors.toolkit.fingerprints import SourceFingerprint
from shelfware.connectors.toolkit.gone import GoneWhen, NotGone
from shelfware.connectors.toolkit.paging import base_of
from shelfware.connectors.toolkit.stream import HttpStream, rejected
from shelfware.kit.http import HttpPolicy, Sleep, VendorClient
from shelfware.kit.pacing import Pacer


class Options:
    """A profile's `--option KEY=VALUE` settings, read with types and ranges."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = {str(k): str(v) for k, v in values.items()}

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name, "").strip()
        return value or default

    def whole_number(
        self, name: str, *, minimum: int = 1, maximum: int | None = None
    ) -> int | None:
        raw = self.values.get(name)
        if raw is None or raw.strip() == "":
            return None
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConnectorError(f"option {name} must be a whole number, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise ConnectorError(f"option {name} must be at least {minimum}{upper}, got {value}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.values.get(name)
        if raw is None or raw.strip() == "":
            return default
        value = raw.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ConnectorError(f"option {name} must be true or false, got {raw!r}")


class HttpConnector:
    """Base of the HTTP connectors; see the module docstring."""

    kind: ClassVar[str]
    publisher: ClassVar[str]
    product: ClassVar[str]
    default_edition: ClassVar[str]
    default_url: ClassVar[str | None] = None
    capabilities: ClassVar[Capabilities]
    permissions: ClassVar[list[Permission]]
    # The vendor's documented limit of concurrent requests; never exceeded.
    max_concurrency: ClassVar[int] = 4
    # OAuth 2.0 authorization code endpoints, for apps that offer it.
    oauth: ClassVar[OAuthEndpoints | None] = None
    # What a person must do where reclaim is manual (the candidate's task), if not the default.
    revocation_task: ClassVar[str] = ""
    # Editions whose seats cost nothing (guests): their models get no price and an inactive rule.
    unpaid_editions: ClassVar[frozenset[str]] = frozenset()
    # How raw account records are fingerprinted (toolkit/fingerprints.py), where the connector
    # maps them with `map_accounts`: a re-sync then neither maps nor cleans an unchanged one.
    source_fingerprint: ClassVar[SourceFingerprint | None] = None

    def __init__(
        self,
        settings: ConnectorSettings,
        client: httpx.AsyncClient | None = None,
        *,
        policy: HttpPolicy | None = None,
        stats: RequestStats | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.settings = settings
        # told the new secrets when an OAuth refresh rotates the tokens (the profile saves them)
        self.secrets_listener = settings.on_new_secrets
        self.options = Options(settings.options)
        policy = policy or HttpPolicy()
        self.concurrency = self._concurrency(policy)
        self.stats = stats if stats is not None else RequestStats()
        self.expected_total: int | None = None
        self.known_accounts: KnownAccounts | None = None
        self.api_url = self.resolve_api_url(settings)
        self.http = VendorClient(
            base_url=self.api_url,
            headers={"Accept": "application/json", **self.headers()},
            secrets=list(settings.secrets.values()),
            auth=self.authenticator(settings),
            pacer=self.pacer(),
            policy=policy.with_concurrency(self.concurrency),
            stats=self.stats,
            client=client,
            sleep=sleep,
        )
        self._owner: AccountRef | None = None

    # ------------------------------------------------------------------ hooks

    @classmethod
    def model_identity(cls, url: str, options: Mapping[str, str]) -> tuple[str, str, str]:
        """Publisher, product and default edition of the software model a profile's seats
        belong to. Vendor connectors know theirs; generic ones (SCIM) read the profile."""
        return cls.publisher, cls.product, cls.default_edition

    @classmethod
    def default_url_for(cls, region: str | None) -> str | None:
        """The connection URL when a profile gives none (vendors with regions pick one)."""
        return cls.default_url

    @classmethod
    def profile_capabilities(cls, options: Mapping[str, str]) -> Capabilities:
        """What a profile of this kind can do (generic connectors: what its options say)."""
        return cls.capabilities

    def resolve_api_url(self, settings: ConnectorSettings) -> str:
        """The API root requests are relative to (from the profile's URL or region)."""
        return (settings.url or self.default_url or "").rstrip("/")

    def authenticator(self, settings: ConnectorSettings) -> httpx.Auth:
        raise NotImplementedError

    def token(self, settings: ConnectorSettings, *names: str) -> str | TokenSource:
        """The credential's token: an OAuth authorization's access token, kept fresh with its
        refresh token (rotations handed to `settings.on_new_secrets`), else the first of the
        secrets `names` (an API key). Raises when there is none."""
        secrets = settings.secrets
        access = secrets.get("access_token")
        if access:
            endpoints = type(self).oauth
            refresh = secrets.get("refresh_token")
            if endpoints is None or not refresh:
                return access
            expires = secrets.get("expires_at")

            async def persist(tokens: TokenSet) -> None:
                notify = self.secrets_listener
                if notify is not None:
                    await notify(
                        {
                            **secrets,
                            "access_token": tokens.access_token,
                            "refresh_token": tokens.refresh_token or "",
                            "expires_at": str(tokens.expires_at or ""),
                        }
                    )

            return OAuth2RefreshToken(
                base_of(self.resolve_api_url(settings)) + endpoints.token_path,
                secrets.get("client_id", ""),
                secrets.get("client_secret"),
                TokenSet(access, refresh, float(expires) if expires else None),
                on_rotate=persist,
            )
        for name in names:
            if secrets.get(name):
                return secrets[name]
        raise ConnectorError(
            f"{type(self).__name__.removesuffix('Connector')} needs an API token (secret "
            f"{names[0]!r})"
            + (
                " or an OAuth authorization (`shelfware profile authorize NAME`)"
                if type(self).oauth
                else ""
            )
        )

    def headers(self) -> Mapping[str, str]:
        """Extra headers on every request (e.g. integration names the vendor asks for)."""
        return {}

    def pacer(self) -> Pacer | None:
        """The vendor's rate-limit pacing; None: the `X-Rate-Limit-*` header budget."""
        return None

    async def find_credential_owner(self) -> AccountRef | None:
        """The account the credential belongs to, if the app can say."""
        return None

    async def reclaim_account(self, account: AccountRef) -> ReclaimResult:
        raise NotImplementedError

    def accounts(self) -> AsyncIterator[list[AccountRecord]]:
        raise NotImplementedError

    async def activity(
        self, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[list[ActivityRecord]]:
        """No activity stream of its own (SCIM), or activity on the account records (Rally,
        Roadmunk): nothing to read here."""
        return
        yield []  # pragma: no cover (makes this an async generator)

    async def find_in_accounts(self, account: AccountRef) -> AccountRecord | None:
        """Re-read one account by reading the list, for APIs without a single-account read
        (bounded by the list's size; correct for any API)."""
        async for page in self.accounts():
            for record in page:
                if record.external_id == account.external_id:
                    return record
        return None

    # ------------------------------------------------------------------ shared behaviour

    def vendor_concurrency(self) -> int:
        """The vendor's documented concurrency limit (the class's, unless a spec says)."""
        return type(self).max_concurrency

    def _concurrency(self, policy: HttpPolicy) -> int:
        wanted = [self.vendor_concurrency()]
        if policy.max_concurrency is not None:
            wanted.append(policy.max_concurrency)
        option = self.options.whole_number("max_concurrency")
        if option is not None:
            wanted.append(option)
        return min(wanted)

    def is_gone(self, matcher: GoneWhen, response: httpx.Response, what: str, **ids: str) -> bool:
        """Whether a not-found answer names the object (`GoneWhen`); one that does not (an
        unknown route, a proxy's page) raises `NotGone`, its message redacted."""
        try:
            return matcher.gone(response, what, **ids)
        except NotGone as error:
            raise NotGone(self.http.redactor.redact(str(error))) from None

    def skip_unchanged(self, known: KnownAccounts) -> bool:
        """Told by a sync which accounts it holds: True when the connector fingerprints its
        records (`source_fingerprint`) and will not map those whose fingerprint is stored.
        The profile's options are part of every fingerprint (they may change the mapping)."""
        if self.source_fingerprint is None:
            return False
        options = repr(sorted(self.options.values.items())).encode()
        known.seed = b"%s|%s|" % (known.seed, options)
        self.known_accounts = known
        return True

    def map_accounts(
        self, raws: Sequence[Any], fingerprint: SourceFingerprint | None = None
    ) -> list[AccountRecord]:
        """A page of raw account records mapped with `source_fingerprint`'s mapping (or with
        `fingerprint`, the run's `bound` declaration), leaving out the unchanged ones where a
        sync said which it holds (`skip_unchanged`)."""
        fingerprint = fingerprint or self.source_fingerprint
        if fingerprint is None:
            raise TypeError(f"{type(self).__name__} declares no source_fingerprint")
        return fingerprint.map_page(raws, self.known_accounts)

    def stream(self, path: str, **kwargs: Any) -> HttpStream:
        return HttpStream(self.http, path, **kwargs)

    async def check_credential(
        self, checks: list[CheckResult], facts: dict[str, Any], probe: str
    ) -> AccountRef | None:
        """Validation's first step: whom the credential belongs to (`find_credential_owner`,
        whose request `probe` names). Appends the credential's check (and, when it is refused,
        "not checked" for the read processes) and returns the owner; None: stop validating."""
        try:
            owner = await self.find_credential_owner()
        except AuthenticationError as error:
            checks.append(CheckResult("credential", False, rejected(error)))
            for process in (Process.DOWNLOAD, Process.ACTIVITY):
                checks.append(CheckResult(process.value, False, "not checked: credential rejected"))
            return None
        except ConnectorError as error:
            checks.append(CheckResult("credential", False, f"{probe}: {error}"))
            return None
        if owner is None:
            checks.append(CheckResult("credential", False, f"{probe}: no user in the response"))
            return None
        self._owner = owner
        facts["credential_owner"] = owner.email or owner.username or owner.external_id
        checks.append(
            CheckResult("credential", True, f"the token belongs to {facts['credential_owner']}")
        )
        return owner

    async def credential_owner(self) -> AccountRef | None:
        """The credential's own account, learnt once."""
        if self._owner is None:
            self._owner = await self.find_credential_owner()
        return self._owner

    async def reclaim(self, account: AccountRef) -> ReclaimResult:
        """Reclaim one account (idempotent); never the one the credential belongs to."""
        try:
            owner = await self.credential_owner()
        except ConnectorError as error:
            return ReclaimResult(
                ReclaimOutcome.FAILED, f"cannot confirm whom the credential belongs to: {error}"
            )
        if owner is not None and owner.external_id == account.external_id:
            return ReclaimResult(
                ReclaimOutcome.FAILED,
                f"refusing to reclaim {account.username or account.external_id}: the "
                "profile's credential belongs to it",
            )
        return await self.reclaim_account(account)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> HttpConnector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
