"""The one role-permission matrix: the REST API and the web workspace both ask ``allows``.

Roles (ARCHITECTURE.md): ``admin`` does everything; ``sam_integrator`` looks after integration
profiles and their credentials; ``sam_manager`` looks after rules, candidates and
entitlements; ``viewer`` reads. Every role reads everything a workspace shows (never a
secret: no face returns one). Only ``admin`` manages accounts and tokens and reads the audit
trail. Access reviews: ``admin`` and ``sam_manager`` run campaigns and read their evidence;
every role may decide the items it is the reviewer of, and only those (``reviews.decide``:
the domain checks the item is the principal's, and never their own seat).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    SAM_INTEGRATOR = "sam_integrator"
    SAM_MANAGER = "sam_manager"
    VIEWER = "viewer"


class Permission(StrEnum):
    PROFILES_READ = "profiles.read"
    PROFILES_WRITE = "profiles.write"  # create, set, delete, validate, publish, authorize
    PROFILES_SYNC = "profiles.sync"  # sync now
    SUBSCRIPTIONS_READ = "subscriptions.read"
    PEOPLE_READ = "people.read"
    RUNS_READ = "runs.read"
    RULES_READ = "rules.read"
    RULES_WRITE = "rules.write"
    CANDIDATES_READ = "candidates.read"
    CANDIDATES_ACT = "candidates.act"  # approve, reject, keep, release, reclaim
    ENTITLEMENTS_READ = "entitlements.read"
    ENTITLEMENTS_WRITE = "entitlements.write"
    RECONCILIATION_READ = "reconciliation.read"
    REPORTS_READ = "reports.read"
    AUDIT_READ = "audit.read"
    ACCOUNTS_MANAGE = "accounts.manage"  # users and API tokens
    # access reviews: start, close and reassign campaigns; read every item and the evidence
    REVIEWS_MANAGE = "reviews.manage"
    # a reviewer's own items only (any role: who reviews what is the campaign's, not the role's)
    REVIEWS_DECIDE = "reviews.decide"


# What every role may read (the audit trail is the admin's).
READ: frozenset[Permission] = frozenset(
    p for p in Permission if p.value.endswith(".read") and p is not Permission.AUDIT_READ
)

MATRIX: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.SAM_INTEGRATOR: READ
    | {Permission.PROFILES_WRITE, Permission.PROFILES_SYNC, Permission.REVIEWS_DECIDE},
    Role.SAM_MANAGER: READ
    | {
        Permission.RULES_WRITE,
        Permission.CANDIDATES_ACT,
        Permission.ENTITLEMENTS_WRITE,
        Permission.REVIEWS_MANAGE,
        Permission.REVIEWS_DECIDE,
    },
    Role.VIEWER: READ | {Permission.REVIEWS_DECIDE},
}


def parse_role(text: str) -> Role:
    """The role named ``text``; a one-line error naming the roles otherwise."""
    try:
        return Role(text)
    except ValueError:
        raise ValueError(
            f"unknown role {text!r}: use one of {', '.join(r.value for r in Role)}"
        ) from None


def allows(role: Role | str, permission: Permission) -> bool:
    """Whether ``role`` may do what ``permission`` names (an unknown role may do nothing)."""
    try:
        return permission in MATRIX[Role(role)]
    except ValueError:
        return False


def permissions_of(role: Role | str) -> frozenset[Permission]:
    try:
        return MATRIX[Role(role)]
    except ValueError:
        return frozenset()


# From the most to the least privileged: of several roles a person's groups map to, the
# first of this order wins.
RANK: tuple[Role, ...] = (Role.ADMIN, Role.SAM_MANAGER, Role.SAM_INTEGRATOR, Role.VIEWER)


def parse_role_map(text: str) -> dict[str, Role]:
    """``group=role,group=role`` (single sign-on: the identity provider's groups to roles).
    A one-line error for a malformed pair, an unknown role or a group named twice."""
    mapping: dict[str, Role] = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        group, sep, role = pair.rpartition("=")
        group = group.strip()
        if not sep or not group:
            raise ValueError(f"SSO role map: {pair.strip()!r} is not group=role")
        if group in mapping:
            raise ValueError(f"SSO role map: the group {group!r} is mapped twice")
        mapping[group] = parse_role(role.strip())
    return mapping


def role_for_groups(groups: object, mapping: dict[str, Role]) -> Role | None:
    """The highest role any of ``groups`` maps to; None when none is mapped (no access)."""
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list | tuple):
        return None
    found = {mapping[g] for g in groups if isinstance(g, str) and g in mapping}
    return next((role for role in RANK if role in found), None)
