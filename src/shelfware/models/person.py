"""People: one human across apps, matched by normalised email; and the resolution rules."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from shelfware.models.base import Base, BigId, id_column

# Identity-provider statuses of people who left the organisation (DELETED: no longer listed).
LEFT_STATUSES: tuple[str, ...] = ("DEPROVISIONED", "SUSPENDED", "DELETED")


class Person(Base):
    __tablename__ = "person"
    __table_args__ = (
        # a manager found by the provider's id or login, for every person at once (access
        # reviews assign each seat to its holder's manager; migration 0023)
        Index("ix_person_idp_user", "idp_profile_id", "idp_user_id"),
        # the people who left, by email: the directory's leavers listing, and rule evaluation,
        # which looks at the seats of everyone who left every time (migration 0028)
        Index("ix_person_idp_status_email", "idp_status", "email"),
        Index(
            "ix_person_idp_login",
            "idp_profile_id",
            func.lower(text("idp_login")).label("lower_idp_login"),
        ),
    )

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
    # Who the provider says the person's manager is (Okta's `managerId`, else `manager`): an
    # id, login or email of another person of the same provider, resolved when asked.
    idp_manager_id: Mapped[str | None] = mapped_column(String(320))
    # Where the person's seats are charged: as the identity provider says (each import
    # replaces them), and as an administrator overrode them (wins until cleared; migration
    # 0019). The effective value is the override, else the provider's.
    department: Mapped[str | None] = mapped_column(String(200))
    cost_center: Mapped[str | None] = mapped_column(String(100))
    department_override: Mapped[str | None] = mapped_column(String(200))
    cost_center_override: Mapped[str | None] = mapped_column(String(100))


class PersonGroup(Base):
    """A person's membership of an identity-provider group (by name), as the provider's last
    complete import listed it; replaced as a whole per import."""

    __tablename__ = "person_group"
    __table_args__ = (UniqueConstraint("person_id", "profile_id", "name"),)

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    profile_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("integration_profile.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(300), index=True)


class DomainAlias(Base):
    """A resolution rule: emails at `alias` are the same people as at `canonical`."""

    __tablename__ = "domain_alias"

    id: Mapped[int] = id_column()
    alias: Mapped[str] = mapped_column(String(255), unique=True)
    canonical: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
