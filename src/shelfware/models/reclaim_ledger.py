"""The reclaim ledger: one row per reclaim started, the blast-radius cap's memory."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shelfware.models.base import Base, BigId, id_column


class ReclaimLedgerEntry(Base):
    """A reclaim this workspace started (reserved under the cap before the app is asked):
    counted per software model over the rolling window by every face, process and worker.
    A reservation whose seat was not touched (canceled, unreachable, not attempted) is taken
    back when the run records its outcome; a crashed run's stays counted (the cautious side).
    """

    __tablename__ = "reclaim_ledger"
    __table_args__ = (Index("ix_reclaim_ledger_model_started", "software_model_id", "started_at"),)

    id: Mapped[int] = id_column()
    software_model_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("software_model.id", ondelete="CASCADE")
    )
    candidate_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("removal_candidate.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    # reserved beyond the cap by an admin's override (the audit trail has the reason)
    forced: Mapped[bool] = mapped_column(default=False)
