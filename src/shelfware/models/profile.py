"""Integration profiles and their encrypted credentials."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shelfware.models.base import Base, BigId, id_column


class ProfileStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class IntegrationProfile(Base):
    """One connected tenant of one app."""

    __tablename__ = "integration_profile"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default=ProfileStatus.DRAFT)
    url: Mapped[str] = mapped_column(String(2000))
    region: Mapped[str | None] = mapped_column(String(50))
    auth: Mapped[str] = mapped_column(String(30), default="api-token")
    username: Mapped[str | None] = mapped_column(String(300))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    process_activity: Mapped[bool] = mapped_column(default=True)
    process_reclaim: Mapped[bool] = mapped_column(default=True)
    analyze_activity_from: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # When the connection or credential last changed: publishing needs a passing
    # validation after this instant.
    connection_changed_at: Mapped[datetime]
    last_validated_at: Mapped[datetime | None]
    last_validation_ok: Mapped[bool | None]
    last_validation: Mapped[dict[str, Any] | None]
    # The account the credential belongs to: never reclaimed.
    credential_owner_external_id: Mapped[str | None] = mapped_column(String(200))
    published_at: Mapped[datetime | None]
    # Activity already applied up to this instant (forward-only cursor).
    activity_watermark: Mapped[datetime | None]
    # Since when the sync records activity per account and day (ActivityDay, migration 0021):
    # a downgrade rule measures a window only from then on
    activity_days_from: Mapped[datetime | None]
    next_refresh_at: Mapped[datetime | None]
    # The last rule evaluation (reclamation/rules_delta.py, migration 0027): when it ran, when
    # the last full one ran, and a digest of what it depended on besides the accounts (rules,
    # prices, settings): the next evaluation looks only at what can have changed since.
    rules_evaluated_at: Mapped[datetime | None]
    rules_full_at: Mapped[datetime | None]
    rules_fingerprint: Mapped[str | None] = mapped_column(String(64))

    credential: Mapped[Credential | None] = relationship(
        back_populates="profile", cascade="all, delete-orphan", uselist=False
    )


class Credential(Base):
    """A profile's secrets as one encrypted JSON document; never stored in plaintext."""

    __tablename__ = "credential"

    id: Mapped[int] = id_column()
    profile_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("integration_profile.id", ondelete="CASCADE"), unique=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    ciphertext: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]

    profile: Mapped[IntegrationProfile] = relationship(back_populates="credential")


class OAuthAttempt(Base):
    """An OAuth authorization of a profile between its start (a page or the API) and the
    redirect back to ``/oauth/callback``: in the database, so that any process of
    ``shelfware serve --workers N`` finishes it. Only the SHA-256 digest of its ``state``;
    the callback deletes the row it uses (a state is good once), old rows are pruned."""

    __tablename__ = "oauth_attempt"
    __table_args__ = (Index("ix_oauth_attempt_created_at", "created_at"),)

    id: Mapped[int] = id_column()
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    profile: Mapped[str] = mapped_column(String(200))
    verifier: Mapped[str] = mapped_column(String(200))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    token_url: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime]
