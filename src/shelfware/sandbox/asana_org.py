"""A deterministic Asana organisation: workspaces, users, workspace memberships, audit-log events.

Built on :func:`shelfware.sandbox.org.generate_org`, so every date keeps its distance from the
30/60/90-day boundaries: a user's last ``user_login_succeeded`` event is their Rally-style last
login, their last content event (``task_created``, ``comment_added``, ...) their last activity.
Disabled users become deactivated memberships, subscription admins become admins, a share of the
rest guests. Events older than the 90-day retention are generated too (the API must hide them),
and some idle users have recent events of types that are not activity (failed logins).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .org import SyntheticUser, generate_org

GID_BASE = 1_200_000_000_000_000
GUEST_SHARE = 0.06
SIDE_SHARE = 0.25  # share of organisation members also in each plain workspace
RETENTION = timedelta(days=90)
LOGIN_TYPES: tuple[str, ...] = ("user_login_succeeded",)
CONTENT_TYPES: tuple[str, ...] = ("task_created", "task_completed", "comment_added")
NOISE_TYPES: tuple[str, ...] = ("user_login_failed",)
CATEGORIES: dict[str, str] = {
    "user_login_succeeded": "logins",
    "user_login_failed": "logins",
    "task_created": "content_creation",
    "task_completed": "content_modification",
    "comment_added": "content_creation",
}


@dataclass
class AsanaUser:
    """A user; ``synthetic`` carries the generated activity dates."""

    gid: str
    name: str
    email: str
    synthetic: SyntheticUser

    def compact(self) -> dict[str, Any]:
        return {"gid": self.gid, "name": self.name, "resource_type": "user"}


@dataclass
class Workspace:
    gid: str
    name: str
    is_organization: bool
    enterprise: bool  # the Audit Log API is an Enterprise feature
    email_domains: list[str]

    def compact(self) -> dict[str, Any]:
        return {"gid": self.gid, "name": self.name, "resource_type": "workspace"}


@dataclass
class Membership:
    """A user's membership of a workspace (mutable: ``removeUser`` deactivates it)."""

    gid: str
    user: AsanaUser
    workspace: Workspace
    is_active: bool
    is_admin: bool
    is_guest: bool
    created_at: datetime


@dataclass
class AuditEvent:
    gid: str
    created_at: datetime
    event_type: str
    actor: AsanaUser
    workspace_gid: str
    resource_gid: str

    @property
    def event_category(self) -> str:
        return CATEGORIES[self.event_type]


@dataclass
class AsanaOrganisation:
    """The organisation a sandbox serves; ``users`` are the members of the main organisation."""

    seed: int
    now: datetime
    users: list[AsanaUser]
    workspaces: list[Workspace]
    memberships: list[Membership]
    events: list[AuditEvent]  # sorted by (created_at, gid)
    tokens: dict[str, str]  # personal access token -> user gid
    api_key: str  # the owner's personal access token (an admin of the organisation)
    member_key: str  # a personal access token of an active non-admin member
    by_gid: dict[str, AsanaUser] = field(init=False, repr=False)
    _by_workspace: dict[str, list[Membership]] = field(init=False, repr=False)
    _by_pair: dict[tuple[str, str], Membership] = field(init=False, repr=False)
    _member_keys: dict[str, list[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_gid = {u.gid: u for u in self.users}
        self._by_workspace = {w.gid: [] for w in self.workspaces}
        for m in self.memberships:
            self._by_workspace[m.workspace.gid].append(m)
        self._by_pair = {(m.workspace.gid, m.user.gid): m for m in self.memberships}
        self._member_keys = {w: [m.gid for m in ms] for w, ms in self._by_workspace.items()}

    @property
    def owner(self) -> AsanaUser:
        return self.users[0]

    @property
    def organisation(self) -> Workspace:
        """The Enterprise organisation (the first workspace)."""
        return self.workspaces[0]

    def workspace(self, gid: str) -> Workspace | None:
        return next((w for w in self.workspaces if w.gid == gid), None)

    def members(self, workspace_gid: str) -> list[Membership]:
        """The memberships of a workspace, in gid order."""
        return self._by_workspace.get(workspace_gid, [])

    def member_keys(self, workspace_gid: str) -> list[str]:
        """The gids of :meth:`members` (the paging keys)."""
        return self._member_keys.get(workspace_gid, [])

    def membership(self, workspace_gid: str, user_gid: str) -> Membership | None:
        return self._by_pair.get((workspace_gid, user_gid))


def _gid(kind: int, n: int) -> str:
    return str(GID_BASE + kind * 10_000_000_000 + n)


def _token(seed: int, user_gid: str) -> str:
    digest = hashlib.sha256(f"shelfware-asana:{seed}:{user_gid}".encode()).hexdigest()
    return f"2/{user_gid}/{_gid(9, seed % 1000)}:{digest[:32]}"


def _ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _events(
    rng: random.Random, user: AsanaUser, ws: Workspace, now: datetime
) -> list[tuple[datetime, str, AsanaUser, str]]:
    """A user's events: the latest login and content event at their generated dates, plus an
    older history (some beyond retention) and, for idle users, recent failed logins."""
    s = user.synthetic
    out: list[tuple[datetime, str, AsanaUser, str]] = []
    for latest, types in ((s.last_login_date, LOGIN_TYPES), (s.last_active_date, CONTENT_TYPES)):
        if latest is None:
            continue
        out.append((latest, rng.choice(types), user, ws.gid))
        for _ in range(rng.randint(0, 4)):
            back = timedelta(days=rng.uniform(0.5, 150))
            if latest - back > s.creation_date:
                out.append((_ms(latest - back), rng.choice(types), user, ws.gid))
    last = s.last_activity
    if (last is None or now - last > timedelta(days=35)) and rng.random() < 0.3:
        when = now - timedelta(days=rng.uniform(0.1, 25))
        out.append((_ms(when), NOISE_TYPES[0], user, ws.gid))
    return out


def generate_asana_org(users: int, seed: int, now: datetime) -> AsanaOrganisation:
    """An organisation of ``users`` members (plus two plain workspaces sharing some of them)."""
    base = generate_org(users, seed, now)
    now = base.now
    rng = random.Random(seed * 7919 + 1)
    org_ws = Workspace(_gid(1, 1), "Sandbox Org", True, True, ["example.com", "example.org"])
    side = [
        Workspace(_gid(1, 2), "Side Projects", False, False, []),
        Workspace(_gid(1, 3), "Partners", False, False, []),
    ]
    people = [
        AsanaUser(
            gid=_gid(2, i + 1),
            name=s.display_name or f"{s.first_name} {s.last_name}",
            email=s.username if i == 0 else (s.email or s.username),
            synthetic=s,
        )
        for i, s in enumerate(base.users)
    ]
    memberships: list[Membership] = []
    raw_events: list[tuple[datetime, str, AsanaUser, str]] = []
    member_token_user: AsanaUser | None = None
    for i, person in enumerate(people):
        s = person.synthetic
        guest = i > 0 and not s.subscription_admin and rng.random() < GUEST_SHARE
        memberships.append(
            Membership(
                gid=_gid(3, len(memberships) + 1),
                user=person,
                workspace=org_ws,
                is_active=not s.disabled,
                is_admin=s.subscription_admin,
                is_guest=guest,
                created_at=s.creation_date,
            )
        )
        raw_events += _events(rng, person, org_ws, now)
        if member_token_user is None and not (s.disabled or s.subscription_admin or guest):
            member_token_user = person
    for ws in side:
        for i, person in enumerate(people):
            if i == 0 or rng.random() < SIDE_SHARE:
                memberships.append(
                    Membership(
                        gid=_gid(3, len(memberships) + 1),
                        user=person,
                        workspace=ws,
                        is_active=i == 0 or rng.random() > 0.1,
                        is_admin=i == 0,
                        is_guest=False,
                        created_at=person.synthetic.creation_date,
                    )
                )
    memberships.sort(key=lambda m: int(m.gid))
    raw_events.sort(key=lambda e: (e[0], e[2].gid))
    events = [
        AuditEvent(_gid(4, n + 1), at, kind, actor, ws_gid, _gid(5, rng.randint(1, 10**6)))
        for n, (at, kind, actor, ws_gid) in enumerate(raw_events)
    ]
    owner = people[0]
    member = member_token_user or owner
    tokens = {_token(seed, owner.gid): owner.gid, _token(seed, member.gid): member.gid}
    return AsanaOrganisation(
        seed=seed,
        now=now,
        users=people,
        workspaces=[org_ws, *side],
        memberships=memberships,
        events=events,
        tokens=tokens,
        api_key=_token(seed, owner.gid),
        member_key=_token(seed, member.gid),
    )
