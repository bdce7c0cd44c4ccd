"""A deterministic synthetic Okta organisation: people, groups, apps, assignments, System Log.

The people are those of :func:`shelfware.sandbox.org.generate_org` for the same seed (same logins,
names and emails), so an Okta sandbox and a Rally sandbox started with one seed describe the same
people. Only ``random.Random(seed)`` is used; every date is relative to ``now`` and kept at least
:data:`~shelfware.sandbox.org.BOUNDARY_GAP` away from ``now - 30/60/90 days``.

Assumptions (not documented by Okta, kept here): DEPROVISIONED people hold no app assignments;
a person assigned both directly and through a group shows up once, with scope USER.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .okta_filter import parse_time
from .org import BOUNDARY_DAYS, BOUNDARY_GAP, generate_org

STATUSES: tuple[str, ...] = (
    "ACTIVE",
    "DEPROVISIONED",
    "SUSPENDED",
    "LOCKED_OUT",
    "PASSWORD_EXPIRED",
    "PROVISIONED",
    "RECOVERY",
    "STAGED",
)
_RARE = STATUSES[2:]  # every one of these appears at least once in an org of 10+ people
_RARE_SHARE = 0.02  # share of each rare status among the enabled people
RETENTION = timedelta(days=90)
SSO = "user.authentication.sso"
SESSION_START = "user.session.start"
UNASSIGN = "application.user_membership.remove"

# (name, label, signOnMode, status, share assigned directly, group name assigned or None)
APPS: tuple[tuple[str, str, str, str, float, str | None], ...] = (
    ("zoomus", "Zoom", "SAML_2_0", "ACTIVE", 0.35, "Sales"),
    ("slack", "Slack", "SAML_2_0", "ACTIVE", 0.15, "Engineering"),
    ("rally", "Rally", "SAML_2_0", "ACTIVE", 0.45, None),
    ("asana", "Asana", "OPENID_CONNECT", "ACTIVE", 0.35, "Marketing"),
    ("roadmunk", "Roadmunk", "SAML_2_0", "ACTIVE", 0.12, None),
    ("legacywiki", "Legacy Wiki", "BOOKMARK", "INACTIVE", 0.10, None),
)
# (department, cost centre): most people have both; DEPARTMENT_SHARE of them a department
# (and COST_CENTER_SHARE of those a cost centre), the rest none: profiles are never complete.
DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("Engineering", "CC-100"),
    ("Sales", "CC-200"),
    ("Marketing", "CC-300"),
    ("Finance", "CC-400"),
    ("Support", "CC-200"),
)
DEPARTMENT_SHARE = 0.85
COST_CENTER_SHARE = 0.9
GROUPS: tuple[tuple[str, float], ...] = (
    ("Engineering", 0.30),
    ("Sales", 0.20),
    ("Marketing", 0.15),
    ("Contractors", 0.08),
)
# Age (days ago) of the latest SSO per assignment: active, idle, beyond retention, never.
_SSO_MIX: tuple[tuple[str, float], ...] = (
    ("active", 0.50),
    ("idle_30_60", 0.15),
    ("idle_60_90", 0.12),
    ("expired", 0.10),
    ("never", 0.13),
)
_SSO_AGES: dict[str, tuple[float, float]] = {
    "active": (0.02, 28.4),
    "idle_30_60": (31.6, 58.4),
    "idle_60_90": (61.6, 88.4),
    "expired": (91.6, 200.0),
}
_GAP_DAYS = BOUNDARY_GAP / timedelta(days=1)


@dataclass
class OktaUser:
    """An Okta user (mutable: tests change statuses and dates)."""

    id: str
    status: str
    created: datetime
    activated: datetime | None
    status_changed: datetime | None
    last_login: datetime | None
    last_updated: datetime
    login: str
    email: str
    first_name: str
    last_name: str
    display_name: str
    manager_id: str | None = None
    admin: bool = False  # holds an Okta admin role (the token owner does)
    # Enterprise profile attributes (omitted from the profile when unset, as Okta does)
    department: str | None = None
    cost_center: str | None = None

    @property
    def profile(self) -> dict[str, Any]:
        return {
            "firstName": self.first_name,
            "lastName": self.last_name,
            "displayName": self.display_name,
            "login": self.login,
            "email": self.email,
            "managerId": self.manager_id,
            **({"department": self.department} if self.department is not None else {}),
            **({"costCenter": self.cost_center} if self.cost_center is not None else {}),
        }


@dataclass
class OktaGroup:
    id: str
    name: str
    description: str
    type: str
    created: datetime
    members: list[str] = field(default_factory=list)  # user ids


@dataclass
class OktaApp:
    id: str
    name: str
    label: str
    sign_on_mode: str
    status: str
    created: datetime
    groups: list[str] = field(default_factory=list)  # ids of the groups assigned to the app


@dataclass
class Assignment:
    """A user's assignment to an app; ``group_id`` is set when the scope is GROUP."""

    app_user_id: str  # the AppUser id that SSO events name as a target
    user_id: str
    scope: str
    created: datetime
    status: str = "ACTIVE"
    group_id: str | None = None


@dataclass
class OktaOrg:
    """A synthetic Okta organisation. ``events`` are sorted by (published, uuid)."""

    users: list[OktaUser]
    groups: list[OktaGroup]
    apps: list[OktaApp]
    assignments: dict[str, dict[str, Assignment]]  # app id -> user id -> assignment
    events: list[dict[str, Any]]
    seed: int
    now: datetime
    api_key: str
    read_only_api_key: str  # a read-only admin's token: reads succeed, writes answer 403
    owner_id: str

    def user(self, key: str) -> OktaUser | None:
        """A user by id or login (case-insensitive login, as Okta)."""
        for u in self.users:
            if u.id == key or u.login.lower() == key.lower():
                return u
        return None

    def app(self, app_id: str) -> OktaApp | None:
        return next((a for a in self.apps if a.id == app_id), None)

    def app_by_label(self, label: str) -> OktaApp:
        return next(a for a in self.apps if a.label == label)

    def group(self, group_id: str) -> OktaGroup | None:
        return next((g for g in self.groups if g.id == group_id), None)


def okta_id(rng: random.Random, prefix: str) -> str:
    """A 20-character Okta-style id: a 3-character type prefix then 17 random characters."""
    return prefix + format(rng.getrandbits(68), "017x")


def okta_token_for(seed: int, role: str = "super") -> str:
    """The sandbox API token for a seed (Okta SSWS tokens are 42 characters starting ``00``)."""
    digest = hashlib.sha256(f"shelfware-okta:{role}:{seed}".encode()).hexdigest()
    return "00" + digest[:40]


def format_time(value: datetime) -> str:
    """Okta's timestamp format: ``2025-06-01T12:00:00.000Z``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _age(rng: random.Random, lo: float, hi: float) -> float:
    """A random age in days within [lo, hi], away from the 30/60/90-day boundaries."""
    while True:
        age = rng.uniform(lo, hi)
        if not any(abs(age - d) < _GAP_DAYS for d in BOUNDARY_DAYS):
            return age


def _at(now: datetime, age_days: float) -> datetime:
    d = now - timedelta(days=age_days)
    return d.replace(microsecond=d.microsecond // 1000 * 1000)


def _statuses(rng: random.Random, disabled: list[bool]) -> list[str]:
    """Status per person: Rally-disabled people left (mostly DEPROVISIONED), a few rare ones."""
    statuses = [
        ("DEPROVISIONED" if rng.random() < 0.7 else "SUSPENDED") if off else "ACTIVE"
        for off in disabled
    ]
    enabled = [i for i, off in enumerate(disabled) if not off and i > 0]
    rng.shuffle(enabled)
    per_status = max(1, round(len(enabled) * _RARE_SHARE)) if len(enabled) >= 10 else 0
    for k, status in enumerate(s for s in _RARE for _ in range(per_status)):
        if k < len(enabled) // 2:
            statuses[enabled[k]] = status
    if "DEPROVISIONED" not in statuses and len(enabled) > len(_RARE) * per_status:
        statuses[enabled[-1]] = "DEPROVISIONED"
    return statuses


def _users(rng: random.Random, n: int, seed: int, now: datetime) -> list[OktaUser]:
    people = generate_org(n, seed, now).users
    statuses = _statuses(rng, [p.disabled for p in people])
    users: list[OktaUser] = []
    for person, status in zip(people, statuses, strict=True):
        created = person.creation_date
        staged = status == "STAGED"
        changed = None if staged else _at(now, _age(rng, 0.5, (now - created).days + 0.4))
        updated_age = rng.uniform(0.01, max(0.02, (now - created).days))
        users.append(
            OktaUser(
                id=okta_id(rng, "00u"),
                status=status,
                created=created,
                activated=None if staged or status == "PROVISIONED" else created,
                status_changed=changed,
                last_login=None,  # set from the session events
                last_updated=_at(now, updated_age),
                login=person.username,
                email=(person.email or person.username).lower(),
                first_name=person.first_name,
                last_name=person.last_name,
                display_name=person.display_name or f"{person.first_name} {person.last_name}",
            )
        )
    for user in users[1:]:
        manager = rng.choice(users[: max(1, len(users) // 10)])
        user.manager_id = manager.id if manager is not user else None
    users[0].admin = True
    _departments(users, seed)
    return users


def _departments(users: list[OktaUser], seed: int) -> None:
    """Departments and cost centres from their own random stream (the rest of the org is the
    same as before they existed): most people have both, some neither or no cost centre."""
    rng = random.Random(f"okta-departments:{seed}")
    for user in users:
        if rng.random() >= DEPARTMENT_SHARE:
            continue
        department, cost_center = rng.choice(DEPARTMENTS)
        user.department = department
        if rng.random() < COST_CENTER_SHARE:
            user.cost_center = cost_center


def _event(
    rng: random.Random, published: datetime, event_type: str, actor: OktaUser, targets: list[Any]
) -> dict[str, Any]:
    message = {
        SSO: "User single sign on to app",
        SESSION_START: "User login to Okta",
        UNASSIGN: "Remove user from application membership",
    }[event_type]
    event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    return {
        "uuid": str(event_id),
        "published": format_time(published),
        "eventType": event_type,
        "version": "0",
        "severity": "INFO",
        "legacyEventType": {SSO: "app.auth.sso", SESSION_START: "core.user_auth.login_success"}.get(
            event_type
        ),
        "displayMessage": message,
        "actor": {
            "id": actor.id,
            "type": "User",
            "alternateId": actor.login,
            "displayName": actor.display_name,
            "detailEntry": None,
        },
        "client": {
            "userAgent": {"rawUserAgent": "Mozilla/5.0", "os": "Mac OS X", "browser": "CHROME"},
            "zone": "null",
            "device": "Computer",
            "id": None,
            "ipAddress": f"198.51.100.{rng.randint(1, 254)}",
            "geographicalContext": None,
        },
        "outcome": {"result": "SUCCESS", "reason": None},
        "target": targets,
        "transaction": {"type": "WEB", "id": "Wx" + event_id.hex[:18], "detail": {}},
        "debugContext": {"debugData": {}},
        "authenticationContext": {
            "externalSessionId": "102" + event_id.hex[14:31],
            "interface": None,
        },
        "securityContext": {},
    }


def sso_targets(app: OktaApp, assignment: Assignment, user: OktaUser) -> list[dict[str, Any]]:
    """The targets of an SSO event: the AppInstance, then the AppUser."""
    return [
        {
            "id": app.id,
            "type": "AppInstance",
            "alternateId": app.label,
            "displayName": app.label,
            "detailEntry": {"signOnModeType": app.sign_on_mode},
        },
        {
            "id": assignment.app_user_id,
            "type": "AppUser",
            "alternateId": user.login,
            "displayName": user.display_name,
            "detailEntry": None,
        },
    ]


def _sso_category(rng: random.Random) -> str:
    return rng.choices([c for c, _ in _SSO_MIX], weights=[w for _, w in _SSO_MIX])[0]


def generate_okta_org(users: int, seed: int, now: datetime) -> OktaOrg:
    """Generate an Okta organisation of ``users`` people deterministically from ``seed``."""
    if users < 1:
        raise ValueError("an organisation needs at least one user")
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    now = now.astimezone(UTC)
    rng = random.Random(seed)
    people = _users(rng, users, seed, now)
    everyone = OktaGroup(
        okta_id(rng, "00g"), "Everyone", "All users in the organisation", "BUILT_IN", _at(now, 2000)
    )
    everyone.members = [u.id for u in people]
    groups = [everyone]
    for name, share in GROUPS:
        team = OktaGroup(okta_id(rng, "00g"), name, f"{name} team", "OKTA_GROUP", _at(now, 1500))
        team.members = [u.id for u in people if rng.random() < share]
        groups.append(team)
    by_name = {g.name: g for g in groups}
    holders = [u for u in people if u.status != "DEPROVISIONED"]
    holder_by_id = {u.id: u for u in holders}
    apps: list[OktaApp] = []
    assignments: dict[str, dict[str, Assignment]] = {}
    events: list[dict[str, Any]] = []
    for name, label, mode, status, share, group_name in APPS:
        app = OktaApp(okta_id(rng, "0oa"), name, label, mode, status, _at(now, 1200))
        apps.append(app)
        seats: dict[str, Assignment] = {}
        group = by_name[group_name] if group_name else None
        if group is not None:
            app.groups.append(group.id)
            members = set(group.members)
        else:
            members = set()
        for user in holders:
            direct = user is people[0] or rng.random() < share
            if not direct and user.id not in members:
                continue
            created = _at(now, _age(rng, 1, max(1.5, (now - user.created).days)))
            seats[user.id] = Assignment(
                okta_id(rng, "0ua"),
                user.id,
                "USER" if direct else "GROUP",
                created,
                "ACTIVE" if app.status == "ACTIVE" else "INACTIVE",
                None if direct else group.id if group else None,
            )
        assignments[app.id] = seats
        for assignment in seats.values():
            user = holder_by_id[assignment.user_id]
            category = "active" if user is people[0] else _sso_category(rng)
            if category == "never" or user.status in ("STAGED", "PROVISIONED"):
                continue
            latest = _age(rng, *_SSO_AGES[category])
            older = rng.randint(0, 3)
            ages = [latest] + [_age(rng, latest + 0.1, latest + 150) for _ in range(older)]
            for age in ages:
                published = _at(now, age)
                session = published - timedelta(minutes=rng.randint(1, 30))
                events.append(_event(rng, session, SESSION_START, user, []))
                events.append(_event(rng, published, SSO, user, sso_targets(app, assignment, user)))
    for user in holders:  # Okta sign-ins without any app use
        if user.status in ("STAGED", "PROVISIONED"):
            continue
        for _ in range(rng.randint(0, 2)):
            events.append(_event(rng, _at(now, _age(rng, 0.02, 150)), SESSION_START, user, []))
    events.sort(key=lambda e: (e["published"], e["uuid"]))
    sessions = (e for e in events if e["eventType"] == SESSION_START)
    last_sign_in = {e["actor"]["id"]: e["published"] for e in sessions}  # ascending: the latest
    for user in people:  # lastLogin is the latest Okta sign-in (session start), if any
        seen = last_sign_in.get(user.id)
        user.last_login = None if seen is None else parse_time(seen)
    return OktaOrg(
        users=people,
        groups=groups,
        apps=apps,
        assignments=assignments,
        events=events,
        seed=seed,
        now=now,
        api_key=okta_token_for(seed),
        read_only_api_key=okta_token_for(seed, "read-only"),
        owner_id=people[0].id,
    )
