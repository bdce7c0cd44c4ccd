"""People: one human across apps, matched by normalised email; and the resolution rules."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from shelfware.models.base import Base, BigId, id_column

# Identity-provider statuses of people who left the organisation (DELETED: no longer listed).
LEFT_STATUSES: tuple[str, ...] = ("DEPROVISIONED", "SUSPENDED", "DELETED")


class Person(Base):
    __tablename__ = "person"

    id: Mapped[int] = id_column()
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    # Set when an identity provider (Okta) imported this person: its profile, the person's id
    # there and their status (DEPROVISIONED and SUSPENDED people have left).
    idp_profile_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("integration_profile.id", ondelete="SET NULL")
    )
    idp_user_id: Mapped[str | None] = mapped_column(String(200))
    idp_login: Mapped[str | None] = mapped_column(String(320))
    idp_status: Mapped[str | None] = mapped_column(String(30))
    idp_seen_at: Mapped[datetime | None]


class DomainAlias(Base):
    """A resolution rule: emails at `alias` are the same people as at `canonical`."""

    __tablename__ = "domain_alias"

    id: Mapped[int] = id_column()
    alias: Mapped[str] = mapped_column(String(255), unique=True)
    canonical: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
