"""Software models: publisher + product + edition."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shelfware.models.base import Base, BigId, id_column


class SoftwareModel(Base):
    __tablename__ = "software_model"
    __table_args__ = (UniqueConstraint("publisher", "product", "edition"),)

    id: Mapped[int] = id_column()
    publisher: Mapped[str] = mapped_column(String(200))
    product: Mapped[str] = mapped_column(String(200))
    edition: Mapped[str] = mapped_column(String(200))
    list_price: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    created_at: Mapped[datetime]
    # The same app reached another way (an SSO app in an identity provider and a direct
    # integration of the same app): its people are counted once across both.
    same_app_as_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("software_model.id", ondelete="SET NULL")
    )

    @property
    def display_name(self) -> str:
        return f"{self.publisher} {self.product} {self.edition}"
