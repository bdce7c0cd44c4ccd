"""Stored reconciliations: the compliance position per software model at a date, kept so
positions can be compared over time."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shelfware.models.base import Base, BigId, id_column

# Money per year: up to 10,000,000 seats x 12,000,000 a year needs 15 integer digits.
Money = Numeric(20, 4)


class ReconciliationRun(Base):
    __tablename__ = "reconciliation_run"
    __table_args__ = (Index("ix_reconciliation_run_as_of", "as_of"),)

    id: Mapped[int] = id_column()
    as_of: Mapped[datetime]  # the instant the position describes
    created_at: Mapped[datetime]
    models: Mapped[int] = mapped_column(default=0)
    seconds: Mapped[float | None]


class ReconciliationPosition(Base):
    """One software model's position in one run. Names are copied: a run stays readable
    after its model is gone."""

    __tablename__ = "reconciliation_position"
    __table_args__ = (
        Index("ix_reconciliation_position_run", "run_id"),
        Index("ix_reconciliation_position_model", "software_model_id"),
    )

    id: Mapped[int] = id_column()
    run_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("reconciliation_run.id", ondelete="CASCADE")
    )
    software_model_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("software_model.id", ondelete="SET NULL")
    )
    software_model: Mapped[str] = mapped_column(String(610))
    currency: Mapped[str] = mapped_column(String(3))
    unit_cost: Mapped[Decimal | None] = mapped_column(Money)
    rights_owned: Mapped[int]
    rights_used: Mapped[int]
    rights_used_people: Mapped[int]
    rights_available: Mapped[int]
    stale: Mapped[int]
    status: Mapped[str] = mapped_column(String(20))
    true_up_cost: Mapped[Decimal | None] = mapped_column(Money)
    over_licensed_amount: Mapped[Decimal | None] = mapped_column(Money)
    potential_savings: Mapped[Decimal | None] = mapped_column(Money)
    realised_savings: Mapped[Decimal | None] = mapped_column(Money)
    spend: Mapped[Decimal | None] = mapped_column(Money)
    note: Mapped[str | None] = mapped_column(Text)
