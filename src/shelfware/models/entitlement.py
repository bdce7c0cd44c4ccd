"""Entitlements: seats bought for a software model."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String
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
