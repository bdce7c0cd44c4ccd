"""Input and output shapes of the profile lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ProfileCreate(BaseModel):
    kind: str
    name: str = Field(min_length=1, max_length=200)
    url: str | None = None
    region: str | None = None
    auth: str = "api-token"
    username: str | None = None
    secrets: dict[str, str] = Field(default_factory=dict, repr=False)
    options: dict[str, str] = Field(default_factory=dict)
    activity: bool = True
    reclaim: bool = True
    analyze_activity_from: datetime | None = None


class Processes(BaseModel):
    download: bool
    activity: bool
    reclaim: bool


class LastSync(BaseModel):
    id: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    accounts: int
    error: str | None


class ProfileView(BaseModel):
    """What ``profile show`` prints: never a secret."""

    name: str
    kind: str
    status: str
    url: str
    region: str | None
    auth: str
    processes: Processes
    analyze_activity_from: datetime
    last_validated_at: datetime | None
    last_validation_ok: bool | None
    last_validation: dict[str, Any] | None
    credential_owner: str | None
    has_credential: bool
    last_sync: LastSync | None
    next_refresh_at: datetime | None
    options: dict[str, Any]
