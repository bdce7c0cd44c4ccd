"""Entitlements: seats bought for a software model."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shelfware.models.base import Base, BigId, id_column


class Entitlement(Base):
    __tablename__ = "entitlement"
    __table_args__ = (
        CheckConstraint("seats >= 0", name="seats_not_negative"),
        CheckConstraint("unit_cost >= 0", name="unit_cost_not_negative"),
        Index("ix_entitlement_model", "software_model_id"),
        Index("ux_entitlement_vendor", "profile_id", "vendor_ref", unique=True),
    )

    id: Mapped[int] = id_column()
    software_model_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("software_model.id", ondelete="CASCADE")
    )
    seats: Mapped[int]
    # None: no price known (a vendor-managed entitlement the admin has not priced yet)
    unit_cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    # Unit cost is per seat per billing period: "annual" or "monthly".
    billing_period: Mapped[str] = mapped_column(String(10), default="annual")
    term_start: Mapped[date | None]
    term_end: Mapped[date | None]
    renewal_date: Mapped[date | None]
    notice_date: Mapped[date | None]
    contract_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    # Vendor-managed: read from the vendor by this profile's sync (seats owned, e.g. Microsoft
    # 365's subscribed SKUs), `vendor_ref` being the vendor's id; its seats follow the vendor.
    profile_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("integration_profile.id", ondelete="SET NULL")
    )
    vendor_ref: Mapped[str | None] = mapped_column(String(200))
    # who answers for the contract: gets the renewal alerts before each notice date
    owner: Mapped[str | None] = mapped_column(String(254))


class RenewalAlert(Base):
    """One renewal alert: an entitlement's owner warned ``threshold_days`` before its notice
    date. The unique key is the claim: a run inserts the row (committed) before it sends, so
    however many workers and restarts, each (entitlement, notice date, threshold) is mailed
    once. ``state``: sending (claimed), sent, failed (claimed again by a later run)."""

    __tablename__ = "renewal_alert"
    __table_args__ = (
        UniqueConstraint(
            "entitlement_id", "notice_date", "threshold_days", name="uq_renewal_alert_threshold"
        ),
    )

    id: Mapped[int] = id_column()
    entitlement_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("entitlement.id", ondelete="CASCADE")
    )
    notice_date: Mapped[date]
    threshold_days: Mapped[int]
    owner: Mapped[str] = mapped_column(String(254))
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(default=1)
    claimed_at: Mapped[datetime]
    claimed_by: Mapped[str] = mapped_column(String(200))
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(500))


class CommitmentChange(Base):
    """A change made in place to an entitlement's annual committed spend (its seats, unit
    cost, billing period or currency edited, or the vendor's seat count moving): the one
    thing the entitlement's current row forgets. Terms starting and ending are read from the
    entitlements themselves. ``annual_delta`` is signed (a true-down is negative)."""

    __tablename__ = "commitment_change"
    __table_args__ = (Index("ix_commitment_change_model_day", "software_model_id", "effective_on"),)

    id: Mapped[int] = id_column()
    entitlement_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("entitlement.id", ondelete="SET NULL")
    )
    software_model_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("software_model.id", ondelete="CASCADE")
    )
    currency: Mapped[str] = mapped_column(String(3))
    effective_on: Mapped[date]
    annual_delta: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    created_at: Mapped[datetime]


class CalendarFeed(Base):
    """A read-only calendar feed of renewals: its secret travels in the URL, only the
    SHA-256 digest is kept; revoking it ends the URL."""

    __tablename__ = "calendar_feed"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None]
