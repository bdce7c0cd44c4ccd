"""Sync runs: one record per download + activity + rule evaluation."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from shelfware.models.base import Base, BigId, id_column


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class SyncRun(Base):
    __tablename__ = "sync_run"
    __table_args__ = (
        # One active run per profile, enforced by the database.
        Index(
            "uq_sync_run_one_running",
            "profile_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
        Index("ix_sync_run_profile_started", "profile_id", "started_at"),
    )

    id: Mapped[int] = id_column()
    profile_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("integration_profile.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.RUNNING)
    started_at: Mapped[datetime]
    # host:pid of the process running it, so an abandoned run can be recognised.
    owner: Mapped[str | None] = mapped_column(String(200))
    finished_at: Mapped[datetime | None]
    pages: Mapped[int] = mapped_column(default=0)
    requests: Mapped[int] = mapped_column(default=0)
    retries: Mapped[int] = mapped_column(default=0)
    accounts: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    gone: Mapped[int] = mapped_column(default=0)
    activity_updates: Mapped[int] = mapped_column(default=0)
    candidates_created: Mapped[int] = mapped_column(default=0)
    candidates_canceled: Mapped[int] = mapped_column(default=0)
    candidates_closed: Mapped[int] = mapped_column(default=0)
    failed_page: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    # Seconds spent in each stage (staging overlaps the download; rule evaluation is part of
    # the switch-over's transaction but counted apart).
    download_seconds: Mapped[float | None]
    activity_seconds: Mapped[float | None]
    staging_seconds: Mapped[float | None]
    switch_over_seconds: Mapped[float | None]
    evaluation_seconds: Mapped[float | None]
    # Seconds spent waiting for the app's rate limits (pacing by its headers, 429 pauses).
    waited_seconds: Mapped[float | None]
    # Accounts left out because they could not be read (a profile's skip-failures option).
    skipped: Mapped[int | None]
    # Accounts with a role or status the connector does not know (kept, never candidates).
    unrecognised: Mapped[int | None]
    # Vendor values made storable before staging, per field and kind, e.g.
    # {"display_name.truncated": 1, "username.control": 3}; None when nothing was cleaned.
    cleaned: Mapped[dict[str, Any] | None]
