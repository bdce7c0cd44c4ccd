"""Input and output shapes of the profile lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shelfware.ranges import Instant, Name, Text, printable

# A secret may be a document: a service account's JSON key file (Google) or a PEM private key
# and certificate (Microsoft 365 certificate credentials), several lines and a few thousand
# characters; other control characters are refused. Secrets are never shown.
MAX_SECRET = 16_000


def secret_text(value: str) -> str:
    """Printable characters and line breaks (tabs too) only."""
    printable(value.replace("\r", "").replace("\n", "").replace("\t", ""))
    return value


Secret = Annotated[str, Field(min_length=1, max_length=MAX_SECRET), AfterValidator(secret_text)]


# Names a link cannot reach: "." and ".." are path steps to every browser and HTTP client
# (escaped or not), and /profiles/new is the workspace's wizard. Anything else is escaped in
# routes and links ("a/b?c#d %e" included).
UNREACHABLE_NAMES = frozenset({".", "..", "new"})


def _reachable(name: str) -> str:
    if name.strip().lower() in UNREACHABLE_NAMES:
        raise ValueError(f"{name!r} cannot name a profile (it is a path step or a page)")
    return name


ProfileName = Annotated[Name, AfterValidator(_reachable)]


class ProfileCreate(BaseModel):
    """A new (draft) profile. Ranges: names, kind, region, user name, option keys 1..200
    printable characters; URL and option values up to 2,000; secrets 1..16,000 printable
    characters and line breaks (key files, PEM); at most 100 options; activity look-back date
    1970-01-01..2999-12-31."""

    model_config = ConfigDict(extra="forbid")

    kind: Name
    name: ProfileName
    url: Text | None = None
    region: Name | None = None
    auth: str = Field(default="api-token", max_length=20)
    username: Name | None = None
    secrets: dict[Name, Secret] = Field(default_factory=dict, repr=False, max_length=10)
    options: dict[Name, Text] = Field(default_factory=dict, max_length=100)
    # a custom profile's spec (YAML or JSON text, checked by the custom connector's parser)
    spec: str | None = Field(default=None, max_length=256 * 1024, repr=False)
    activity: bool = True
    reclaim: bool = True
    analyze_activity_from: Instant | None = None


class ConnectionChange(BaseModel):
    """A change to a profile's connection: ``None`` leaves a field as it is. ``url`` empty:
    the app's default (for the region); ``secrets``: the credential's parts given replace
    theirs, the others are kept (a form never shows a secret back, so a blank one means
    "as is"); ``options`` replace the plain options (a custom spec and what syncs attached
    stay)."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2000)
    region: Name | None = None
    username: Name | None = None
    secrets: dict[Name, Secret] = Field(default_factory=dict, repr=False, max_length=10)
    options: dict[Name, Text] | None = Field(default=None, max_length=100)
    # another sign-in method (api-token, basic, oauth) where the connector takes several:
    # ``secrets`` then is the new method's whole credential (the old one's parts go)
    auth: str | None = Field(default=None, max_length=20)


class ProcessChange(BaseModel):
    """``profile set``: processes on or off, the activity look-back date (``None``: as is)."""

    model_config = ConfigDict(extra="forbid")

    activity: bool | None = None
    reclaim: bool | None = None
    analyze_from: Instant | None = None


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
    username: str | None = None  # basic authentication's user name (never a secret)
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


class KeyRotation(BaseModel):
    """What ``keys rotate`` did."""

    credentials: int
    keys: int


class RunView(BaseModel):
    """One sync run of a profile, with its counts and error (run history)."""

    id: int
    profile: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    pages: int
    requests: int
    retries: int
    accounts: int
    created: int
    updated: int
    gone: int
    activity_updates: int
    candidates_created: int
    candidates_canceled: int
    candidates_closed: int
    error: str | None
    # vendor values made storable before staging, per field and kind
    # ({"display_name.truncated": 1, "username.control": 3}); empty when nothing was cleaned
    cleaned: dict[str, int] = {}
