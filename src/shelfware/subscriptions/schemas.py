"""What a subscriptions listing asks for and returns."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shelfware.ranges import Name, View


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
