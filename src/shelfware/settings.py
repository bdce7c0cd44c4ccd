"""Configuration, from SHELFWARE_* environment variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shelfware.kit.proxies import Network, parse_networks


class Settings(BaseSettings):
    """Where shelfware keeps its data and how it reaches its database.

    - ``SHELFWARE_HOME``: data directory (SQLite database and key ring), default ``~/.shelfware``.
    - ``SHELFWARE_DATABASE_URL``: overrides the database (e.g. ``postgresql+psycopg://...``).
    - ``SHELFWARE_SECRET_KEYS``: overrides the key ring: comma-separated Fernet keys, newest first.
    """

    model_config = SettingsConfigDict(env_prefix="SHELFWARE_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".shelfware")
    database_url: str | None = None
    # Under load, answer "busy, retry" (503 + Retry-After) rather than queue: a request waits
    # at most `db_pool_timeout_seconds` for a pooled connection (PostgreSQL, SQLite files) and
    # SQLite waits at most `db_busy_timeout_seconds` for another writer's lock; the API serves
    # at most `api_max_concurrency` requests at once, a further one waiting at most
    # `api_queue_seconds` for a turn.
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    db_busy_timeout_seconds: float = Field(default=30.0, ge=0, le=300)
    api_max_concurrency: int = Field(default=32, ge=1, le=10_000)
    api_queue_seconds: float = Field(default=0.5, ge=0, le=60)
    # A report whose data changed is built again in the background; a request waits for it
    # at most this long, then gets the previous figures with a note (reports.kept).
    report_wait_seconds: float = Field(default=0.25, ge=0, le=300)
    secret_keys: SecretStr | None = None
    # Connection URLs (connectors, OAuth, chat webhook) may name loopback, private, link-local
    # and other non-public addresses only when this is on (sandboxes, the demo, tests, apps on
    # a private network). kit/netguard reads the same variable where each connection is made.
    allow_private_urls: bool = False

    # Notifications (reclamation workflow): a person's own channels (SMTP email, Slack direct
    # messages by a bot token), a Slack-compatible chat webhook that only ever gets summaries
    # (no links), and the address people reach the answer page at (`shelfware serve`).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_ca_file: Path | None = None  # trust this CA for STARTTLS (private mail relays)
    mail_from: str = "shelfware@localhost"
    chat_webhook_url: SecretStr | None = None
    # Slack Web API: a bot token (xoxb-..., scopes users:read, users:read.email, im:write,
    # chat:write) for direct messages; the API's base URL (a sandbox's in tests and demos).
    slack_bot_token: SecretStr | None = None
    slack_api_url: str = Field(default="https://slack.com/api/", min_length=8, max_length=2000)
    public_url: str = "http://127.0.0.1:8000"
    # Nobody is asked twice about the same seat within this many days; one reminder this
    # many days before the deadline.
    notify_cooldown_days: int = Field(default=30, ge=0, le=3650)
    reminder_days: int = Field(default=2, ge=0, le=3650)
    # Blast radius of reclaiming, per software model, in any rolling window of
    # `reclaim_window_hours`, counted in the database across every face, process and worker:
    # at most this share of the model's seats (at least one) and this many accounts. Only an
    # admin exceeds it, with a reason the audit trail records.
    reclaim_max_percent: float = Field(default=10.0, gt=0, le=100)
    reclaim_max_accounts: int = Field(default=50, ge=1, le=1_000_000)
    reclaim_window_hours: float = Field(default=24.0, gt=0, le=24 * 366)
    # Ready candidates of rules that do not notify are reclaimed by the workflow's periodic
    # step once the rule's `auto_reclaim_days` passed only when this is on; off (the default),
    # they wait for a person (`candidates reclaim`, the workspace). Notified candidates always
    # follow their answer or deadline: their users were told.
    auto_reclaim_unnotified: bool = False
    # Renewal alerts: an entitlement's owner is mailed this many days before each notice
    # date (comma-separated, e.g. "90,60,30"), once per threshold; the recommended seat count
    # is the active seats (used minus stale) plus this buffer.
    renewal_alert_days: str = "90,60,30"
    renewal_buffer_percent: float = Field(default=10.0, ge=0, le=1000)

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

    # Reverse proxies in front of `shelfware serve` (comma-separated IPs or CIDR ranges):
    # only a request from one of them has its client taken from X-Forwarded-For (the
    # right-most untrusted hop), for sign-in limits and the audit trail. Empty: the header
    # is ignored and the socket peer is the client.
    trusted_proxies: str = ""

    # Single sign-on (OpenID Connect, authorization code + PKCE): the provider's issuer URL
    # (discovery at {issuer}/.well-known/openid-configuration), shelfware's client there, the
    # scopes asked for and the name on the sign-in button ("Sign in with <name>"). Roles come
    # from the groups claim: `sso_role_map` maps groups to roles (`sam-admins=admin,
    # sam-team=sam_manager`; several groups: the highest role); no mapped group: no access.
    oidc_issuer: str | None = Field(default=None, max_length=2000)
    oidc_client_id: str | None = Field(default=None, max_length=500)
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = Field(default="openid email profile groups", max_length=1000)
    oidc_name: str = Field(default="single sign-on", min_length=1, max_length=100)
    sso_role_map: str = ""
    sso_groups_claim: str = Field(default="groups", min_length=1, max_length=200)
    # Local passwords: off, only the user names in `break_glass` (comma-separated) may still
    # sign in with one, each such sign-in audited with a warning.
    local_login: bool = True
    break_glass: str = ""
    # Single sign-on (SAML 2.0, SP-initiated, answers by HTTP-POST to /sso/saml/acs): the
    # identity provider's metadata from a URL or a file (one of them turns SAML on), which
    # provider in it when it describes several, shelfware's entity ID there (default: its
    # metadata address, {public_url}/sso/saml/metadata), shelfware's key and certificate
    # (PEM files; sign the AuthnRequests, decrypt encrypted assertions; the key's path is
    # shown, never its content), the attributes holding the groups (mapped by
    # `sso_role_map`) and the e-mail, and the name on the sign-in button.
    saml_idp_metadata_url: str | None = Field(default=None, max_length=2000)
    saml_idp_metadata_file: Path | None = None
    saml_idp_entity_id: str | None = Field(default=None, max_length=1000)
    saml_sp_entity_id: str | None = Field(default=None, max_length=1000)
    saml_sp_key_file: Path | None = None
    saml_sp_cert_file: Path | None = None
    saml_groups_attribute: str = Field(default="groups", min_length=1, max_length=500)
    saml_email_attribute: str = Field(default="email", min_length=1, max_length=500)
    saml_name: str = Field(default="SAML single sign-on", min_length=1, max_length=100)

    @field_validator("sso_role_map")
    @classmethod
    def _role_map_parses(cls, value: str) -> str:
        from shelfware.accounts.roles import parse_role_map

        parse_role_map(value)
        return value

    @field_validator("renewal_alert_days")
    @classmethod
    def _alert_days_parse(cls, value: str) -> str:
        parse_alert_days(value)
        return value

    @property
    def renewal_thresholds(self) -> tuple[int, ...]:
        """The renewal alert thresholds, in days before the notice date, largest first."""
        return parse_alert_days(self.renewal_alert_days)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

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


def parse_alert_days(text: str) -> tuple[int, ...]:
    """``"90,60,30"`` as (90, 60, 30); a clear error naming the bad part otherwise."""
    days: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or not 0 <= int(part) <= 3650:
            raise ValueError(
                f"renewal alert days: {part!r} is not a whole number of days 0..3650 "
                "(e.g. 90,60,30)"
            )
        days.add(int(part))
    return tuple(sorted(days, reverse=True))


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def get_settings() -> Settings:
    return Settings()
