"""Deterministic synthetic organisations for the vendor sandboxes.

Every date is relative to an injected ``now`` and kept at least :data:`BOUNDARY_GAP` away from
``now - 30/60/90 days``, so tests whose clock differs slightly from ``now`` never see a user
flip between idle categories. Only ``random.Random(seed)`` is used, never the global RNG.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

BOUNDARY_DAYS: tuple[int, ...] = (30, 60, 90)
BOUNDARY_GAP = timedelta(hours=36)
FIRST_OBJECT_ID = 10_000

PERMISSIONS: tuple[str, ...] = (
    "Workspace User",
    "Project Admin",
    "Workspace Admin",
    "Subscription Admin",
)

# Share of each activity category; "active" takes whatever is left (~45%).
MIX: dict[str, float] = {
    "disabled": 0.08,
    "idle_30_60": 0.15,
    "idle_60_365": 0.20,
    "never": 0.07,
    "new": 0.05,
}
ADMIN_SHARE = 0.03
_PERM_CUM = (80, 92, 100)  # Workspace User, Project Admin, Workspace Admin
_PAIR_CUM = (15, 35, 65, 100)  # login only, active only, login later, active later

# Name pools, one string each (compact; split once at import).
_FIRST = (  # noqa: SIM905
    "jane john maria ahmed li wei olga pierre fatima kenji aisha carlos emma noah sofia "
    "liam mia lucas chloe omar yuki ingrid pavel grace tariq elena diego hana ivan zoe "
    "samuel nora felix amara jonas leila marco anya victor ruth"
).split()
_LAST = (  # noqa: SIM905
    "doe smith garcia khan chen nguyen muller rossi dubois tanaka okafor silva novak "
    "johansson kowalski haddad ivanova patel kim lopez schmidt martin bernard costa "
    "fischer moreau sato wright young ali berg lindqvist moretti reyes walker brown "
    "clarke nakamura popescu"
).split()
_DOMAINS = ("example.com",) * 8 + ("example.org", "contractors.example.net")


@dataclass
class SyntheticUser:
    """One account of the synthetic organisation (mutable: the sandboxes disable users)."""

    object_id: int
    object_uuid: str
    username: str
    email: str | None
    first_name: str
    last_name: str
    display_name: str
    disabled: bool
    subscription_admin: bool
    permission: str
    creation_date: datetime
    last_login_date: datetime | None
    last_active_date: datetime | None

    @property
    def last_activity(self) -> datetime | None:
        """``max(last_login_date, last_active_date)``, ignoring nulls."""
        dates = [d for d in (self.last_login_date, self.last_active_date) if d is not None]
        return max(dates) if dates else None


@dataclass
class Organisation:
    """A synthetic organisation; ``users`` are sorted by ``object_id``."""

    users: list[SyntheticUser]
    seed: int
    now: datetime
    api_key: str
    subscription_id: int
    by_id: dict[int, SyntheticUser] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_id = index_by_object_id(self.users)

    @property
    def owner(self) -> SyntheticUser:
        """The API-key owner: the user with the lowest ObjectID."""
        return self.users[0]

    def user(self, object_id: int) -> SyntheticUser | None:
        return self.by_id.get(object_id)


def index_by_object_id(users: Iterable[SyntheticUser]) -> dict[int, SyntheticUser]:
    """A dict from ObjectID to user."""
    return {u.object_id: u for u in users}


def api_key_for(seed: int) -> str:
    """The sandbox API key for a seed (Rally keys start with ``_``)."""
    return "_sbx" + hashlib.sha256(f"shelfware-sandbox:{seed}".encode()).hexdigest()[:40]


_GAP_DAYS = BOUNDARY_GAP / timedelta(days=1)


def _near_boundary(age_days: float) -> bool:
    return any(abs(age_days - d) < _GAP_DAYS for d in BOUNDARY_DAYS)


def _age(rng: random.Random, lo: float, hi: float) -> float:
    """A random age in days within [lo, hi], away from the category boundaries."""
    while True:
        age = rng.uniform(lo, hi)
        if not _near_boundary(age):
            return age


def _at(now: datetime, age_days: float) -> datetime:
    d = now - timedelta(days=age_days)
    return d.replace(microsecond=d.microsecond // 1000 * 1000)


def _categories(rng: random.Random, n: int) -> list[str]:
    pool = [cat for cat, share in MIX.items() for _ in range(int(n * share))]
    pool += ["active"] * (n - 1 - len(pool))
    rng.shuffle(pool)
    return ["owner", *pool]


Ages = tuple[float, float | None, float | None]  # creation, last login, last active (days ago)


def _pair(rng: random.Random, latest: float, cap: float) -> tuple[float | None, float | None]:
    """(login age, active age): one may be null, else they differ and either may be newer."""
    variant = rng.choices(
        ("login", "active", "login_later", "active_later"), cum_weights=_PAIR_CUM
    )[0]
    if variant == "login":
        return latest, None
    if variant == "active":
        return None, latest
    other = _age(rng, latest + 0.01, cap) if cap > latest + 0.1 else latest
    return (latest, other) if variant == "login_later" else (other, latest)


_LATEST = {
    "owner": (0.02, 2.0),
    "active": (0.02, 28.4),
    "idle_30_60": (31.6, 58.4),
    "idle_60_365": (61.6, 365.0),
    "disabled": (61.6, 900.0),
}


def _ages(rng: random.Random, category: str) -> Ages:
    """Creation, last login and last active ages (days) for an activity category."""
    if category == "new":
        created = _age(rng, 0.1, 20)
        if rng.random() < 0.4:
            return created, None, None
        return (created, *_pair(rng, rng.uniform(0.01, created * 0.9), created))
    if category == "never" or (category == "disabled" and rng.random() < 0.3):
        old = category == "disabled" or rng.random() < 0.5
        return (_age(rng, 62, 1500) if old else _age(rng, 2, 58)), None, None
    latest = _age(rng, *_LATEST[category])
    login, active = _pair(rng, latest, latest + 120)
    oldest = max(d for d in (login, active) if d is not None)
    return _age(rng, oldest + 1, oldest + 1200), login, active


def _username(rng: random.Random, first: str, last: str, taken: set[str]) -> str:
    domain = rng.choice(_DOMAINS)
    while True:
        name = f"{first}.{last}{rng.randint(1, 999)}@{domain}"
        if name not in taken:
            taken.add(name)
            return name


def _email(rng: random.Random, username: str) -> str | None:
    r = rng.random()
    if r < 0.02:
        return None
    if r < 0.03:
        return ""
    if r < 0.09:
        local, domain = username.split("@")
        return ".".join(p.capitalize() for p in local.split(".")) + "@" + domain.capitalize()
    return username


def generate_org(users: int, seed: int, now: datetime) -> Organisation:
    """Generate ``users`` accounts deterministically from ``seed``, dated relative to ``now``."""
    if users < 1:
        raise ValueError("an organisation needs at least one user")
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    now = now.astimezone(UTC)
    rng = random.Random(seed)
    categories = _categories(rng, users)
    enabled = [i for i, c in enumerate(categories) if c not in ("owner", "disabled")]
    admins = {0, *rng.sample(enabled, min(len(enabled), max(0, round(users * ADMIN_SHARE) - 1)))}
    taken: set[str] = set()
    result: list[SyntheticUser] = []
    object_id = FIRST_OBJECT_ID
    for i, category in enumerate(categories):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        username = _username(rng, first, last, taken)
        created, login, active = _ages(rng, category)
        admin = i in admins
        permission = (
            "Subscription Admin"
            if admin
            else rng.choices(PERMISSIONS[:3], cum_weights=_PERM_CUM)[0]
        )
        display = f"{first.capitalize()} {last.capitalize()}"
        if i and rng.random() < 0.03:
            display = ""  # Rally then names the user by UserName
        result.append(
            SyntheticUser(
                object_id=object_id,
                object_uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                username=username,
                email=username if i == 0 else _email(rng, username),
                first_name=first.capitalize(),
                last_name=last.capitalize(),
                display_name=display,
                disabled=category == "disabled",
                subscription_admin=admin,
                permission=permission,
                creation_date=_at(now, created),
                last_login_date=None if login is None else _at(now, login),
                last_active_date=None if active is None else _at(now, active),
            )
        )
        object_id += rng.randint(1, 5)
    return Organisation(
        users=result,
        seed=seed,
        now=now,
        api_key=api_key_for(seed),
        subscription_id=100 + seed % 900,
    )
