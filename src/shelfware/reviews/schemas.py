"""Access reviews as the faces see them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shelfware.ranges import without_nul

MAX_REASON = 1000  # characters of a decision's reason
Text = Annotated[str, AfterValidator(without_nul)]


class ScopeKind(StrEnum):
    MODEL = "model"
    PROFILE = "profile"
    DEPARTMENT = "department"


class Policy(StrEnum):
    MANAGER = "manager"  # the holder's manager, else the model's owner
    OWNER = "owner"  # the model's owner
    EMAIL = "email"  # one named person reviews every seat


class Recurrence(StrEnum):
    QUARTERLY = "quarterly"


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=150)
    # model=PUBLISHER PRODUCT EDITION (or its id) | profile=NAME | department=NAME
    scope: Text = Field(min_length=3, max_length=600)
    due: datetime
    # manager | owner | an email address
    reviewer: Text = Field(default="manager", min_length=1, max_length=320)
    # the campaign's owner (an email): the last escalation step; None: the creator, when
    # their user name is an email
    owner: Text | None = Field(default=None, max_length=320)
    recurrence: Recurrence | None = None


class CampaignView(BaseModel):
    id: int
    name: str
    scope: str
    reviewer_policy: str
    reviewer_email: str | None
    owner: str
    created_by: str
    created_at: datetime
    due_at: datetime
    closed_at: datetime | None
    recurrence: str | None
    next_start_at: datetime | None
    items: int = 0
    decided: int = 0
    unassigned: int = 0


class ItemView(BaseModel):
    id: int
    campaign_id: int
    holder: str | None
    username: str | None
    app: str
    edition: str
    last_activity_at: datetime | None
    idle_days: int | None
    annual_cost: float | None
    reviewer: str | None
    decision: str | None
    reason: str | None
    decided_at: datetime | None
    decided_by: str | None
    outcome: str
    outcome_at: datetime | None
    outcome_detail: str | None


class DecisionIn(BaseModel):
    """keep / revoke (reason required) / reassign (to: another reviewer's email)."""

    model_config = ConfigDict(extra="forbid")

    decision: Text = Field(pattern=r"^(keep|revoke|reassign)$")
    reason: Text | None = Field(default=None, max_length=MAX_REASON)
    to: Text | None = Field(default=None, max_length=320)


class BulkDecisionIn(DecisionIn):
    holder: Text = Field(min_length=3, max_length=320)


class ReviewerProgress(BaseModel):
    reviewer: str | None
    items: int
    decided: int
    kept: int
    revoked: int

    @property
    def percent(self) -> float:
        return 100.0 * self.decided / self.items if self.items else 100.0


class TickSummary(BaseModel):
    reminded: dict[str, int] = Field(default_factory=dict)  # campaign -> reviewers reminded
    escalated: dict[str, int] = Field(default_factory=dict)  # campaign -> items escalated
    started: list[str] = Field(default_factory=list)  # recurring campaigns started
    reclaimed: int = 0
    delivery_failed: list[str] = Field(default_factory=list)
    held: list[str] = Field(default_factory=list)  # why revokes wait (the reclaim cap)
