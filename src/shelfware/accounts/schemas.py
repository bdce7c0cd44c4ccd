"""Accounts as the faces see them: never a password hash or a token digest."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shelfware.accounts.roles import Role
from shelfware.ranges import without_nul

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$"
TOKEN_NAME_PATTERN = USERNAME_PATTERN
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
# An API token lives this many days unless told otherwise (`--expires-in`), at most ten years.
TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 3650


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
    # single sign-on: "issuer sub" of the person at the identity provider (None: local)
    sso_subject: str | None = None
    # SCIM: the identity provider created this user and owns it (/scim/v2)
    provisioned: bool = False


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TOKEN_NAME_PATTERN)
    role: Role
    # The user the token acts for: it dies with their deactivation and may not hold more
    # rights than they do. None: the local operator's (CLI) or, over the API, the owner of
    # the token that creates it.
    owner: str | None = Field(default=None, pattern=USERNAME_PATTERN)
    expires_in_days: int = Field(default=TOKEN_DAYS, ge=1, le=MAX_TOKEN_DAYS)


class TokenKind(StrEnum):
    API = "api"  # the REST API (/api/v1), with its role
    SCIM = "scim"  # SCIM provisioning (/scim/v2) only


class TokenView(BaseModel):
    id: int
    name: str
    role: Role
    owner: str | None  # None: created by the local operator
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked: bool
    kind: TokenKind = TokenKind.API


class Principal(BaseModel):
    """Who is acting: a signed-in user or an API token, with its role."""

    kind: str  # "user" | "token" (an API token) | "scim" (a SCIM provisioning token)
    id: int
    name: str
    role: Role

    @property
    def actor(self) -> str:
        """How the audit trail names this principal."""
        return f"{self.kind}:{self.name}"
