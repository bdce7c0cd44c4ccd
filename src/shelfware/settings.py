"""Configuration, from SHELFWARE_* environment variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

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

    # Notifications (reclamation workflow): SMTP, a Slack-compatible chat webhook, and the
    # address people reach the answer page at (`shelfware serve`).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_ca_file: Path | None = None  # trust this CA for STARTTLS (private mail relays)
    mail_from: str = "shelfware@localhost"
    chat_webhook_url: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8000"
    # Nobody is asked twice about the same seat within this many days; one reminder this
    # many days before the deadline.
    notify_cooldown_days: int = Field(default=30, ge=0, le=3650)
    reminder_days: int = Field(default=2, ge=0, le=3650)
    # Blast radius of one reclaim run: at most this share of a model's seats and this many
    # accounts, unless forced with a reason.
    reclaim_max_percent: float = Field(default=10.0, gt=0, le=100)
    reclaim_max_accounts: int = Field(default=50, ge=1, le=1_000_000)
    # Ready candidates of rules that do not notify are reclaimed by the workflow's periodic
    # step once the rule's `auto_reclaim_days` passed only when this is on; off (the default),
    # they wait for a person (`candidates reclaim`, the workspace). Notified candidates always
    # follow their answer or deadline: their users were told.
    auto_reclaim_unnotified: bool = False

    # Jobs: worker threads inside `shelfware serve` (embedded), or a Celery engine whose
    # workers `shelfware worker` starts on any number of machines (distributed; the job
    # table in the shared database stays the source of truth).
    jobs: Literal["embedded", "distributed"] = "embedded"
    jobs_broker_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    jobs_queue: str = Field(default="shelfware", min_length=1, max_length=200)
    jobs_workers: int = Field(default=2, ge=1, le=64)
    jobs_tick_seconds: float = Field(default=60.0, gt=0, le=86400)
    # Finished jobs and sync runs older than this are deleted by the tick (a profile's latest
    # run and latest successful run are always kept).
    jobs_keep_days: int = Field(default=30, ge=1, le=36500)

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{self.home / 'shelfware.db'}"

    @property
    def key_file(self) -> Path:
        return self.home / "keys"

    @property
    def templates_dir(self) -> Path:
        """Admin overrides of the packaged message templates (same file names)."""
        return self.home / "templates"


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def get_settings() -> Settings:
    return Settings()
