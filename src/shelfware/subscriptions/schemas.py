"""What a subscriptions listing asks for and returns."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shelfware.ranges import Instant, Name, View


class SubscriptionQuery(BaseModel):
    """``profile``: only this profile; ``all``: also accounts that hold no seat any more."""

    model_config = ConfigDict(extra="forbid")

    profile: Name | None = None
    all: bool = False


class SubscriptionView(View):
    id: int
    profile: str
    external_id: str
    username: str | None
    email: str | None
    display_name: str | None
    software_model: str
    edition: str
    active: bool
    admin: bool
    created_in_app_at: datetime | None
    last_activity_at: datetime | None
    person_id: int | None
    gone_at: datetime | None
    # its user or an approver chose to keep the seat: no removal candidate before this instant
    kept_until: datetime | None = None


class SubscriptionSort(StrEnum):
    ID = "id"
    USERNAME = "username"
    LAST_ACTIVITY = "last_activity_at"


PAGE_LIMIT = 500


class SubscriptionPageQuery(BaseModel):
    """One page of a subscriptions listing, filtered and sorted, paged by an opaque cursor
    (keyset paging: every page costs the same at a million rows). Sorting by user name or
    last activity puts accounts without one first (never used: the most idle)."""

    model_config = ConfigDict(extra="forbid")

    profile: Name | None = None
    model: Name | None = Field(default=None, description="'Publisher Product Edition' or id")
    all: bool = Field(default=False, description="also accounts that hold no seat any more")
    admin: bool | None = None
    q: Name | None = Field(
        default=None, description="the start of the user name or email, any case"
    )
    idle_since: Instant | None = Field(
        default=None, description="only accounts with no activity since this instant"
    )
    stale_at: Instant | None = Field(
        default=None,
        description="only seats stale at this instant: idle past their model's rule threshold "
        "(never used: created before it), as reconciliation counts stale",
    )
    sort: SubscriptionSort = SubscriptionSort.ID
    descending: bool = False
    limit: int = Field(default=50, ge=1, le=PAGE_LIMIT)
    cursor: str | None = Field(default=None, max_length=1000)


class SubscriptionPage(View):
    items: list[SubscriptionView]
    next_cursor: str | None


class PersonView(View):
    id: int
    email: str
    display_name: str | None
    created_at: datetime
    subscriptions: int  # accounts linked to this person that hold a seat


class PeoplePage(View):
    items: list[PersonView]
    next_cursor: str | None
