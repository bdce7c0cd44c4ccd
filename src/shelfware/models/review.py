"""Access review campaigns: a snapshot of the seats in scope, each item decided by a reviewer."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from shelfware.models.base import Base, BigId, id_column


class Decision(StrEnum):
    KEEP = "keep"
    REVOKE = "revoke"


class ReviewCampaign(Base):
    """Who reviews which seats, by when. The items are snapshotted when it starts: later
    syncs do not change what is under review. Closed: nothing in it changes any more."""

    __tablename__ = "review_campaign"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # model=PUBLISHER PRODUCT EDITION | profile=NAME | department=NAME
    scope_kind: Mapped[str] = mapped_column(String(20))
    scope_value: Mapped[str] = mapped_column(String(600))
    # manager | owner | email (then reviewer_email reviews every seat)
    reviewer_policy: Mapped[str] = mapped_column(String(20))
    reviewer_email: Mapped[str | None] = mapped_column(String(320))
    # the campaign owner: the last escalation step, and the fallback reviewer
    owner: Mapped[str] = mapped_column(String(320))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # reminders and escalations done (the tick is idempotent: each happens once)
    reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    escalated_to_owner_at: Mapped[datetime | None]
    # quarterly: the tick starts the next campaign of the series at next_start_at
    recurrence: Mapped[str | None] = mapped_column(String(20))
    next_start_at: Mapped[datetime | None]
    series: Mapped[str | None] = mapped_column(String(200))


class ReviewItem(Base):
    """One seat under review, as it was when the campaign started, and what was decided."""

    __tablename__ = "review_item"
    __table_args__ = (
        UniqueConstraint("campaign_id", "subscription_id"),
        # a reviewer's own items; the report's order
        Index("ix_review_item_campaign_reviewer", "campaign_id", "reviewer", "id"),
        # a reviewer's page: holder by holder (none first), app, item (reviews.service
        # my_items_page, keyset pages; migration 0028)
        Index(
            "ix_review_item_reviewer_page",
            "campaign_id",
            "reviewer",
            func.coalesce(text("holder"), text("''")).label("holder_or_blank"),
            "app",
            "id",
        ),
        # the few items with a removal candidate (revokes)
        Index(
            "ix_review_item_candidate",
            "candidate_id",
            sqlite_where=text("candidate_id IS NOT NULL"),
            postgresql_where=text("candidate_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = id_column()
    campaign_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("review_campaign.id", ondelete="CASCADE")
    )
    subscription_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("subscription.id", ondelete="SET NULL")
    )
    # what the seat was, as it was: plain ids, no foreign keys (a snapshot needs none, and
    # 100,000 rows start without 300,000 key checks)
    profile_id: Mapped[int | None] = mapped_column(BigId)
    software_model_id: Mapped[int | None] = mapped_column(BigId)
    person_id: Mapped[int | None] = mapped_column(BigId)
    # the snapshot: who holds what, how idle, what it costs a year
    holder: Mapped[str | None] = mapped_column(String(320))  # the person's email
    username: Mapped[str | None] = mapped_column(String(300))
    app: Mapped[str] = mapped_column(String(620))
    edition: Mapped[str] = mapped_column(String(200))
    last_activity_at: Mapped[datetime | None]
    idle_days: Mapped[int | None]
    annual_cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    # who reviews it now (an email; NULL: nobody could be found, an admin reassigns it)
    reviewer: Mapped[str | None] = mapped_column(String(320))
    first_reviewer: Mapped[str | None] = mapped_column(String(320))
    decision: Mapped[str | None] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(200))
    # a revoke's removal candidate (its outcome: reclaimed when, task done when)
    candidate_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("removal_candidate.id", ondelete="SET NULL")
    )
    outcome_note: Mapped[str | None] = mapped_column(Text)
