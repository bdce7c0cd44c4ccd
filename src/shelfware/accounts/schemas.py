"""Accounts as the faces see them: never a password hash or a token digest."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shelfware.accounts.roles import Role
from shelfware.ranges import without_nul

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$"
TOKEN_NAME_PATTERN = USERNAME_PATTERN
MIN_PASSWORD = 10
MAX_PASSWORD = 1024


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN)
    password: Annotated[str, AfterValidator(without_nul)] = Field(
        min_length=MIN_PASSWORD, max_length=MAX_PASSWORD, repr=False
    )
    role: Role


class UserView(BaseModel):
    id: int
    username: str
    role: Role
    active: bool
    created_at: datetime
    password_changed_at: datetime
    last_login_at: datetime | None


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TOKEN_NAME_PATTERN)
    role: Role


class TokenView(BaseModel):
    id: int
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


class Principal(BaseModel):
    """Who is acting: a signed-in user or an API token, with its role."""

    kind: str  # "user" | "token"
    id: int
    name: str
    role: Role

    @property
    def actor(self) -> str:
        """How the audit trail names this principal."""
        return f"{self.kind}:{self.name}"
