"""The connector contract: what every app connector offers the sync and reclaim pipelines.

Connectors do I/O only. They know nothing of the store; they turn a vendor's admin API into
streams of plain records, and carry out one reclaim at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Protocol, runtime_checkable

from shelfware.kit.http import RequestStats


class ActivitySource(StrEnum):
    """Where an app's last-activity figure comes from."""

    NONE = "none"  # the app has no activity data (SCIM); activity comes from elsewhere
    ACCOUNT_FIELD = "account_field"  # a field on the user record (Rally, Roadmunk)
    EVENT_LOG = "event_log"  # an audit / sign-in log (Asana, Okta)
    # the SSO events of an identity provider's app that fronts this app (a SCIM profile's
    # `activity_from` option); read from the store, not from the app
    IDENTITY_PROVIDER = "identity_provider"


class Process(StrEnum):
    DOWNLOAD = "download"
    ACTIVITY = "activity"
    RECLAIM = "reclaim"


@dataclass(frozen=True, slots=True)
class Capabilities:
    download: bool = True
    activity: bool = False
    reclaim: bool = False
    activity_source: ActivitySource = ActivitySource.NONE
    # The vendor says how many seats were bought (`SeatsOwnedSource.entitlements`)
    seats_owned: bool = False
    # The app's API can move an account to another edition (`Downgrader.downgrade`); without
    # it a downgrade candidate is a task for a person
    downgrade: bool = False


@dataclass(frozen=True, slots=True)
class Permission:
    """One row of the least-privilege table: what a process needs in the app."""

    process: Process
    role: str
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OAuthEndpoints:
    """An app's OAuth 2.0 authorization-code endpoints, as paths on the profile URL's host."""

    authorize_path: str
    token_path: str
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """One account in the app that holds, or could hold, a paid seat."""

    external_id: str
    username: str | None = None
    email: str | None = None
    display_name: str | None = None
    active: bool = True
    admin: bool = False
    edition: str | None = None  # license type; None means the connector's default edition
    created_in_app_at: datetime | None = None
    last_activity_at: datetime | None = None
    # The product the seat is of, where one profile spans several apps (an identity provider's
    # apps); None means the connector's own product.
    product: str | None = None
    # The seat comes through a group (identity provider): it cannot be reclaimed per account.
    group_scoped: bool = False
    # Vendor values the connector does not know (e.g. "unknown role 'SUPER_USER'"), joined by
    # "; ". Never guessed: such an account counts as holding a seat and as an admin, and is
    # never a removal candidate (evaluation and the re-read before reclaim both check it).
    unrecognised: str | None = None
    # Where the app says the account's cost is charged (SCIM's enterprise extension), for
    # accounts whose person no identity provider gives a department; None when not given.
    department: str | None = None
    cost_center: str | None = None


class AccountPage(list[AccountRecord]):
    """A page of accounts whose records carry the fingerprint of the vendor record each was
    mapped from (`fingerprints[i]` is `self[i]`'s), where the connector declares one
    (connectors/toolkit/fingerprints.py): the sync stores it as the account's fingerprint."""

    __slots__ = ("fingerprints",)

    def __init__(self) -> None:
        super().__init__()
        self.fingerprints: list[int] = []


class KnownAccounts:
    """What a sync holds of a profile's accounts before a download, handed to a connector
    that can fingerprint its vendor records (`HttpConnector.skip_unchanged`): external id ->
    the stored fingerprint (None: to be staged again whatever it is) and the `seed` every
    fingerprint of this run starts from (what decides how values are written). A record
    whose fingerprint is the stored one is taken out and counted, never mapped; every id
    listed is remembered in `seen` (the first of duplicates wins). The connector compares on
    the event loop, the sync's staging thread takes out the changed ones: distinct keys."""

    def __init__(
        self, fingerprints: dict[str, int | None] | None = None, seed: bytes = b""
    ) -> None:
        self.fingerprints = fingerprints if fingerprints is not None else {}
        self.seed = seed
        self.skipped = 0  # records found unchanged (and not mapped) by the connector
        self.seen: set[str] = set()

    def take_unchanged(self, external_ids: list[str]) -> None:
        """The accounts the connector found unchanged (their stored fingerprint is the one
        of their record): taken out and counted."""
        fingerprints = self.fingerprints
        for external_id in external_ids:
            del fingerprints[external_id]
        self.skipped += len(external_ids)


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A person as an identity provider knows them (with status, so leavers are known)."""

    external_id: str
    email: str | None
    login: str | None = None
    display_name: str | None = None
    status: str = "ACTIVE"  # the provider's word, e.g. Okta's ACTIVE, SUSPENDED, DEPROVISIONED
    # The person's manager as the provider names them (an id, login or email of another of its
    # people), resolved by the directory when a manager is asked.
    manager: str | None = None
    # Names of the provider's groups the person belongs to; None when groups were not read
    # (the memberships stored before are then kept).
    groups: tuple[str, ...] | None = None
    # Where the person's cost is charged (Okta's profile `department` and `costCenter`, the
    # SCIM enterprise extension's, Microsoft Graph's `department`); None when not given.
    department: str | None = None
    cost_center: str | None = None


@dataclass(frozen=True, slots=True)
class EntitlementRecord:
    """Seats bought, as the vendor reports them (Microsoft 365's subscribed SKUs): read at each
    sync instead of typed, and kept in step with the vendor."""

    external_id: str  # the vendor's id of what was bought (a SKU id)
    seats: int  # seats owned now (e.g. prepaid units enabled)
    product: str | None = None  # as `AccountRecord.product`: the software model's product
    edition: str | None = None  # as `AccountRecord.edition`
    consumed: int | None = None  # seats the vendor counts as assigned, where it says
    # The admin's price for it (profile configuration; never assumed): per seat and period
    unit_cost: Decimal | None = None
    currency: str = "USD"
    billing_period: str = "annual"


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    """Evidence that an account was used at a point in time."""

    external_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AccountRef:
    """Enough to address one account in the app."""

    external_id: str
    username: str | None = None
    email: str | None = None


class ReclaimOutcome(StrEnum):
    RECLAIMED = "reclaimed"  # the app confirmed the seat is released
    ALREADY_GONE = "already_gone"  # already disabled or deleted: counts as done
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ReclaimResult:
    outcome: ReclaimOutcome
    message: str = ""

    @property
    def done(self) -> bool:
        return self.outcome is not ReclaimOutcome.FAILED


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One read path that validation exercised."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ValidationReport:
    checks: tuple[CheckResult, ...]
    # The account the credential belongs to; the pipeline never reclaims it.
    credential_owner: AccountRef | None = None
    # e.g. the account count seen, the permission level found
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


@dataclass(frozen=True, slots=True)
class ConnectorSettings:
    """What a connector is built from: the profile's connection and its decrypted secrets."""

    url: str
    region: str | None = None
    auth: str = "api-token"
    username: str | None = None
    secrets: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    # Called with the new secrets when an OAuth refresh rotates the tokens, so the profile
    # stores them (encrypted) before the old refresh token is needed again.
    on_new_secrets: Callable[[Mapping[str, str]], Awaitable[None]] | None = field(
        default=None, compare=False, repr=False
    )


class ConnectorError(Exception):
    """A connector failed; the message names what failed and never holds a secret."""


class AuthenticationError(ConnectorError):
    """The app rejected the credential (401)."""


class SnapshotError(ConnectorError):
    """A download was not one consistent snapshot (the data changed while it was read, or a
    page was short); nothing may be concluded from it. Running the sync again is the remedy.
    `page` names the page where it showed, when one did."""

    def __init__(self, message: str, page: int | None = None) -> None:
        super().__init__(message)
        self.page = page


class PageError(ConnectorError):
    """A page of a download could not be fetched; says which page and why."""

    def __init__(self, page: int, reason: str) -> None:
        super().__init__(f"page {page} failed: {reason}")
        self.page = page
        self.reason = reason


class PageAuthenticationError(PageError, AuthenticationError):
    """A page was refused because the app rejected the credential."""


@runtime_checkable
class Connector(Protocol):
    kind: ClassVar[str]
    publisher: ClassVar[str]
    product: ClassVar[str]
    default_edition: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    permissions: ClassVar[list[Permission]]
    default_url: ClassVar[str | None]
    stats: RequestStats
    # Accounts the running download expects, once the app has said (for progress bars and
    # snapshot checks); None when the app reports no total.
    expected_total: int | None

    async def validate(self) -> ValidationReport: ...

    def accounts(self) -> AsyncIterator[list[AccountRecord]]: ...

    def activity(
        self, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[list[ActivityRecord]]:
        """Activity after `since` (and before `until`, the run's start, where the app's log is
        a stream that only ends when asked to)."""
        ...

    async def reclaim(self, account: AccountRef) -> ReclaimResult: ...

    async def current(self, account: AccountRef) -> AccountRecord | None: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Downgrader(Protocol):
    """A connector that can move one account to another edition (optional: where the app's
    API allows it; ``Capabilities.downgrade`` says so). ``edition`` is the target software
    model's edition, as ``AccountRecord.edition`` names editions. ``RECLAIMED`` means the app
    confirmed the change, ``ALREADY_GONE`` that the account is gone or disabled."""

    async def downgrade(self, account: AccountRef, edition: str) -> ReclaimResult: ...


@runtime_checkable
class IdentityProvider(Protocol):
    """A connector that also knows the organisation's people (Okta): the sync imports them
    (after a complete download) and links every profile's accounts to them."""

    full_import: bool  # link accounts already in other profiles to the people imported
    skipped: list[str]  # records left out because they could not be read

    def people(self) -> AsyncIterator[list[PersonRecord]]: ...


@runtime_checkable
class SeatsOwnedSource(Protocol):
    """A connector whose vendor says how many seats were bought: the sync keeps one
    vendor-managed entitlement per record (after a complete download)."""

    def entitlements(self) -> AsyncIterator[list[EntitlementRecord]]: ...


__all__ = [
    "AccountRecord",
    "AccountRef",
    "ActivityRecord",
    "ActivitySource",
    "AuthenticationError",
    "Capabilities",
    "CheckResult",
    "Connector",
    "ConnectorError",
    "ConnectorSettings",
    "Downgrader",
    "EntitlementRecord",
    "IdentityProvider",
    "OAuthEndpoints",
    "PageAuthenticationError",
    "PageError",
    "Permission",
    "PersonRecord",
    "Process",
    "ReclaimOutcome",
    "ReclaimResult",
    "RequestStats",
    "SeatsOwnedSource",
    "SnapshotError",
    "ValidationReport",
]
