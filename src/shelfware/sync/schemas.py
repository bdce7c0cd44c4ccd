"""What a sync reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from shelfware.directory.schemas import ImportResult


class SyncProgress(Protocol):
    """Told about the download as it goes (the CLI draws a progress bar from it)."""

    def pages(self, done: int, accounts: int, total: int | None) -> None: ...

    def stage(self, name: str) -> None: ...


class NoProgress:
    def pages(self, done: int, accounts: int, total: int | None) -> None:
        pass

    def stage(self, name: str) -> None:
        pass


@dataclass
class SyncSummary:
    run_id: int
    profile: str
    status: str
    pages: int = 0
    requests: int = 0
    retries: int = 0
    accounts: int = 0
    # Downloaded accounts whose fingerprint was the stored one: not staged, not written.
    unchanged: int = 0
    created: int = 0
    updated: int = 0
    gone: int = 0
    activity_updates: int = 0
    candidates_created: int = 0
    candidates_canceled: int = 0
    candidates_closed: int = 0
    failed_page: int | None = None
    error: str | None = None
    seconds: float = 0.0
    # Seconds per stage: staging (writing downloaded pages, in a worker thread) overlaps the
    # download; the switch-over's figure leaves out rule evaluation, which runs inside it.
    download_seconds: float = 0.0
    activity_seconds: float = 0.0
    staging_seconds: float = 0.0
    switch_over_seconds: float = 0.0
    evaluation_seconds: float = 0.0
    # Seconds spent waiting for the app's rate limits; accounts left out as unreadable.
    waited_seconds: float = 0.0
    skipped: int = 0
    # Accounts with a role or status the connector does not know: kept as admins, never
    # candidates (connectors/toolkit/names.py); `unrecognised_values` says which values.
    unrecognised: int = 0
    unrecognised_values: list[str] = field(default_factory=list)
    # Vendor values made storable before staging, per field and kind (sync/cleaning.py):
    # {"display_name.truncated": 1, "username.control": 3, "last_activity_at.out_of_range": 2}
    cleaned: dict[str, int] = field(default_factory=dict)
    # An identity provider's people as this run imported them (None for other apps).
    people: ImportResult | None = None
