"""Subscriptions (accounts holding seats) and the per-run staging area."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from shelfware.models.base import Base, BigId, id_column


class Subscription(Base):
    """One account in one app holding (or having held) a seat of one software model."""

    __tablename__ = "subscription"
    __table_args__ = (
        UniqueConstraint("profile_id", "external_id"),
        # Covers reconciliation and the usage report (index-only scans per model); its prefix
        # serves every "seats of this model" lookup (migration 0005).
        Index(
            "ix_subscription_model_position",
            "software_model_id",
            "active",
            "gone_at",
            "person_id",
            "last_activity_at",
            "created_in_app_at",
            "first_seen_at",
        ),
        Index("ix_subscription_person", "person_id"),
        # the accounts written since the profile's last rule evaluation (a sync, a keep, a
        # link to a person): rule evaluation looks at those only (migration 0027)
        Index(
            "ix_subscription_rules_dirty",
            "profile_id",
            sqlite_where=text("rules_dirty = 1"),
            postgresql_where=text("rules_dirty"),
        ),
        # keeps still recorded, by profile: evaluation forgets those that ran out
        Index(
            "ix_subscription_kept_until",
            "profile_id",
            "kept_until",
            sqlite_where=text("kept_until IS NOT NULL"),
            postgresql_where=text("kept_until IS NOT NULL"),
        ),
        # the accounts matching nobody in id order: the people report's keyset pages and its
        # streamed export (reports.service.people_queries); only those rows are in it
        Index(
            "ix_subscription_unmatched",
            "id",
            sqlite_where=text("person_id IS NULL"),
            postgresql_where=text("person_id IS NULL"),
        ),
        # the accounts an app says are charged somewhere (SCIM enterprise extension): few, so
        # the chargeback finds them without reading every seat (migration 0019)
        *(
            Index(
                f"ix_subscription_{column}",
                "software_model_id",
                column,
                "person_id",
                "active",
                "gone_at",
                sqlite_where=text(f"{column} IS NOT NULL"),
                postgresql_where=text(f"{column} IS NOT NULL"),
            )
            for column in ("department", "cost_center")
        ),
        # the seat-holding accounts matching nobody by profile and account: the directory's
        # unmatched listing's keyset pages (directory.service.unmatched_page, migration 0028)
        Index(
            "ix_subscription_unmatched_page",
            "profile_id",
            "external_id",
            sqlite_where=text("person_id IS NULL"),
            postgresql_where=text("person_id IS NULL"),
        ),
        # one model's accounts per profile by account: a rule's dry run, a page at a time
        # (reclamation.rules.dry_run_page, migration 0028)
        Index(
            "ix_subscription_model_profile_page", "software_model_id", "profile_id", "external_id"
        ),
        # keyset pages of one profile / one model (migration 0007)
        Index("ix_subscription_profile_page", "profile_id", "id"),
        Index("ix_subscription_model_page", "software_model_id", "id"),
        # keyset paging of the listings (subscriptions/service.py page_subscriptions)
        Index("ix_subscription_username_id", "username", "id"),
        Index("ix_subscription_last_activity_at_id", "last_activity_at", "id"),
        # search by the start of a user name or email, any case (LIKE 'x%' on PostgreSQL,
        # a range on SQLite)
        *(
            Index(
                f"ix_subscription_lower_{column}",
                func.lower(text(column)).label(f"lower_{column}"),
                postgresql_ops={f"lower_{column}": "text_pattern_ops"},
            )
            for column in ("username", "email")
        ),
    )

    id: Mapped[int] = id_column()
    profile_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("integration_profile.id", ondelete="CASCADE")
    )
    software_model_id: Mapped[int] = mapped_column(BigId, ForeignKey("software_model.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    username: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool]
    admin: Mapped[bool] = mapped_column(default=False)
    edition: Mapped[str] = mapped_column(String(200))
    created_in_app_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    # Set when a complete download no longer shows the account; last_seen_at is then the
    # start of the last complete download that did (while present: the profile's last sync).
    gone_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    person_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("person.id", ondelete="SET NULL")
    )
    # The product of the seat where a profile spans several apps (an identity provider).
    product: Mapped[str | None] = mapped_column(String(200))
    # Held through a group in the identity provider: cannot be reclaimed per account.
    group_scoped: Mapped[bool] = mapped_column(default=False)
    # Vendor values the connector did not know (roles, statuses): never a removal candidate.
    unrecognised: Mapped[str | None] = mapped_column(String(500))
    # Its user or an approver chose to keep the seat: no new removal candidate before this
    # instant (reclamation/keeps.py); the sync never writes it.
    kept_until: Mapped[datetime | None]
    # The app's own word on where the seat is charged (SCIM enterprise extension; migration
    # 0019): the chargeback's fallback when the person has no department.
    department: Mapped[str | None] = mapped_column(String(200))
    cost_center: Mapped[str | None] = mapped_column(String(100))
    # The account as its last sync staged it, hashed (sync/fingerprint.py, migration 0025): a
    # sync stages only the accounts whose fingerprint differs. Any other writer of a field the
    # sync tracks sets it to NULL, so that the next sync stages the account again.
    fingerprint: Mapped[int | None] = mapped_column(BigInteger)
    # Written since the profile's last rule evaluation (reclamation/rules_delta.py): every
    # UPDATE sets it (``onupdate``), the evaluation clears it (migration 0027).
    rules_dirty: Mapped[bool] = mapped_column(default=True, server_default=true(), onupdate=True)

    @property
    def holds_seat(self) -> bool:
        return self.active and self.gone_at is None


class StagedAccount(Base):
    """An account row downloaded by a run, held until the whole download succeeded
    (unlogged on PostgreSQL: migration 0002)."""

    __tablename__ = "staged_account"

    run_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("sync_run.id", ondelete="CASCADE"), primary_key=True
    )
    external_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    username: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool]
    admin: Mapped[bool]
    edition: Mapped[str] = mapped_column(String(200))
    created_in_app_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]
    product: Mapped[str] = mapped_column(String(200))
    group_scoped: Mapped[bool]
    unrecognised: Mapped[str | None] = mapped_column(String(500))
    department: Mapped[str | None] = mapped_column(String(200))
    cost_center: Mapped[str | None] = mapped_column(String(100))
    fingerprint: Mapped[int | None] = mapped_column(BigInteger)
