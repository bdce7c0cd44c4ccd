"""Local accounts of the workspace: people who sign in, and API tokens for scripts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from shelfware.models.base import Base, id_column


class User(Base):
    """A person who signs in to the workspace with a local password (argon2 hash only)."""

    __tablename__ = "app_user"

    id: Mapped[int] = id_column()
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(30))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    # Sessions issued before this instant are no longer valid (the web face checks it).
    password_changed_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class ApiToken(Base):
    """A bearer token for the REST API: only its SHA-256 digest is kept."""

    __tablename__ = "api_token"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None]
