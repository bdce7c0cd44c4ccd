"""Configuration, from SHELFWARE_* environment variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where shelfware keeps its data and how it reaches its database.

    - ``SHELFWARE_HOME``: data directory (SQLite database and key ring), default ``~/.shelfware``.
    - ``SHELFWARE_DATABASE_URL``: overrides the database (e.g. ``postgresql+psycopg://...``).
    - ``SHELFWARE_SECRET_KEYS``: overrides the key ring: comma-separated Fernet keys, newest first.
    """

    model_config = SettingsConfigDict(env_prefix="SHELFWARE_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".shelfware")
    database_url: str | None = None
    secret_keys: SecretStr | None = None

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{self.home / 'shelfware.db'}"

    @property
    def key_file(self) -> Path:
        return self.home / "keys"


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def get_settings() -> Settings:
    return Settings()
