"""Reclamation rules and removal candidates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    literal_column,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shelfware.models.base import Base, BigId, id_column
from shelfware.models.software import SoftwareModel


class RuleKind(StrEnum):
    """What a rule proposes: remove an idle seat, or move a light user to a cheaper edition."""

    REMOVE = "remove"
    DOWNGRADE = "downgrade"


class CandidateAction(StrEnum):
    """What a candidate's seat is to undergo (its rule's kind)."""

    REMOVE = "remove"
    DOWNGRADE = "downgrade"


class ReclamationRule(Base):
    """Per software model and kind: when an idle account becomes a removal candidate
    (``remove``), or a light user a candidate to move to the ``target_model``'s edition
    (``downgrade``, migration 0021)."""

    __tablename__ = "reclamation_rule"
    __table_args__ = (UniqueConstraint("software_model_id", "kind"),)

    id: Mapped[int] = id_column()
    software_model_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("software_model.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(10), default="remove", server_default="remove")
    # downgrade: the edition (software model) light users move to, and what "light" is: fewer
    # than `max_active_days` days with activity and/or fewer than `max_events` activity events
    # in the last `window_days` days (event-based activity only)
    target_model_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("software_model.id", ondelete="CASCADE")
    )
    # loaded with the rule: the notices name it ("we will move you to B")
    target_model: Mapped[SoftwareModel | None] = relationship(
        foreign_keys=[target_model_id], lazy="joined"
    )
    max_active_days: Mapped[int | None]
    max_events: Mapped[int | None]
    window_days: Mapped[int | None]
    threshold_days: Mapped[int] = mapped_column(default=60)
    notify: Mapped[bool] = mapped_column(default=False)
    auto_reclaim_days: Mapped[int] = mapped_column(default=7)
    approval_required: Mapped[bool] = mapped_column(default=False)
    exclude_admins: Mapped[bool] = mapped_column(default=True)
    excluded_users: Mapped[list[Any]] = mapped_column(default=list)
    excluded_domains: Mapped[list[Any]] = mapped_column(default=list)
    excluded_groups: Mapped[list[Any]] = mapped_column(default=list)
    # Glob patterns (``svc-*``, ``*bot@*``) on user name or email: service accounts.
    service_account_patterns: Mapped[list[Any]] = mapped_column(default=list)
    # Who decides a "keep" when the person has no manager in the directory (emails).
    approvers: Mapped[list[Any]] = mapped_column(default=list)
    new_account_grace: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    # A seat its user or approver chose to keep is no candidate for this many days.
    keep_days: Mapped[int] = mapped_column(default=90)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CandidateState(StrEnum):
    ATTENTION_REQUIRED = "attention_required"
    READY = "ready"
    AWAITING_USER = "awaiting_user"
    AWAITING_APPROVAL = "awaiting_approval"
    AWAITING_REVOCATION = "awaiting_revocation"
    CLOSED_COMPLETE = "closed_complete"
    CLOSED_SKIPPED = "closed_skipped"
    CLOSED_CANCELED = "closed_canceled"

    @property
    def is_open(self) -> bool:
        return not self.value.startswith("closed_")


OPEN_STATES = tuple(state.value for state in CandidateState if state.is_open)
CLOSED_STATES = tuple(state.value for state in CandidateState if not state.is_open)


class Justification(StrEnum):
    LOW_USAGE = "low_usage"
    LIGHT_USE = "light_use"  # a downgrade: active, but lightly
    NEVER_USED = "never_used"
    UNLICENSED = "unlicensed"
    RESTRICTED = "restricted"
    LEFT_ORGANISATION = "left the organisation"  # deprovisioned / suspended in the IdP
    # a reviewer revoked the seat in an access review campaign (reviews/): a person's
    # decision, carried out whatever the seat's activity
    ACCESS_REVIEW = "revoked in an access review"


# "state NOT IN ('closed_complete', 'closed_skipped', 'closed_canceled')"
_OPEN_SQL = "state NOT IN (" + ", ".join(f"'{value}'" for value in CLOSED_STATES) + ")"
# the candidates of people who left (rule evaluation reads them by this index: migration 0027)
LEFT_SQL = f"justification = '{Justification.LEFT_ORGANISATION.value}'"


class RemovalCandidate(Base):
    __tablename__ = "removal_candidate"
    __table_args__ = (
        # At most one open candidate per subscription.
        Index(
            "uq_removal_candidate_open",
            "subscription_id",
            unique=True,
            sqlite_where=text(_OPEN_SQL),
            postgresql_where=text(_OPEN_SQL),
        ),
        Index("ix_removal_candidate_profile_state", "profile_id", "state"),
        # candidates written since the profile's last rule evaluation (migration 0027)
        Index(
            "ix_removal_candidate_rules_dirty",
            "profile_id",
            sqlite_where=text("rules_dirty = 1"),
            postgresql_where=text("rules_dirty"),
        ),
        # the seats of people who left, by profile (evaluation looks at them every time)
        Index(
            "ix_removal_candidate_left",
            "profile_id",
            "subscription_id",
            sqlite_where=text(LEFT_SQL),
            postgresql_where=text(LEFT_SQL),
        ),
        # the queue's order (biggest saving, longest idle, id): keyset pages, all or by state
        Index("ix_removal_candidate_queue", "potential_savings", "inactive_days", "id"),
        Index(
            "ix_removal_candidate_state_queue", "state", "potential_savings", "inactive_days", "id"
        ),
    )

    id: Mapped[int] = id_column()
    subscription_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscription.id", ondelete="CASCADE")
    )
    profile_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("integration_profile.id", ondelete="CASCADE")
    )
    software_model_id: Mapped[int] = mapped_column(BigId, ForeignKey("software_model.id"))
    rule_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("reclamation_rule.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(String(30))
    justification: Mapped[str] = mapped_column(String(30))
    inactive_days: Mapped[int | None]
    unit_cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    potential_savings: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    reclaim_requested_at: Mapped[datetime | None]
    reclaimed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Written since the profile's last rule evaluation (reclamation/rules_delta.py): every
    # UPDATE sets it (``onupdate``), the evaluation clears it (migration 0027).
    rules_dirty: Mapped[bool] = mapped_column(default=True, server_default=true(), onupdate=True)
    # The workflow: asked when, remind when, answer by when, what they answered, who decides.
    notified_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]
    answer: Mapped[str | None] = mapped_column(String(20))
    answered_at: Mapped[datetime | None]
    approver: Mapped[str | None] = mapped_column(Text)
    approval_requested_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    # closed_complete: the annual unit cost the reclaim freed (realised savings).
    realised_saving: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    # remove the seat, or move it to `target_model_id`'s edition (migration 0021); the
    # saving of a downgrade is the annual price difference of the two editions. No foreign
    # key: adding one would copy this big table on SQLite (its rule's target has one)
    action: Mapped[str] = mapped_column(String(10), default="remove", server_default="remove")
    target_model_id: Mapped[int | None] = mapped_column(BigId)
    # a downgrade: the days with activity in the rule's window when it was proposed
    active_days: Mapped[int | None]


class ActivityDay(Base):
    """How many activity events an account had on one day (UTC), from an event-based activity
    source (audit log, SSO events, a custom event stream; migration 0021): the intensity a
    downgrade rule measures. Accounts whose activity is one date on the record have none."""

    __tablename__ = "activity_day"

    subscription_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscription.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    events: Mapped[int]


class AnswerLink(Base):
    """One message's signed "keep" / "release" links share a nonce: usable once, until expiry."""

    __tablename__ = "answer_link"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    candidate_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("removal_candidate.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_for: Mapped[str | None] = mapped_column(String(20))


def is_open_candidate() -> ColumnElement[bool]:
    """SQL for "the candidate is open", written exactly like the partial unique index's
    predicate (literal values, ``NOT IN`` the closed states) so both SQLite and PostgreSQL
    can prove the index applies and use it: a ``state IN (open...)`` test cannot."""
    state = RemovalCandidate.__table__.c.state
    return state.not_in([literal_column(f"'{value}'") for value in CLOSED_STATES])
