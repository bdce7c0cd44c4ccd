"""The SCIM storage's rules without HTTP: provisioned users meet single sign-on (linked by
name at their first sign-in; a deprovisioned one is refused), deprovisioning ends sessions and
revokes tokens, roles follow groups, local users are out of the provider's reach."""

from __future__ import annotations

import pytest
from scim2_models import (
    Group,
    NotFoundException,
    ResourceType,
    UniquenessException,
    User,
)

from shelfware.accounts import scim, sessions, sso
from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Role
from shelfware.accounts.schemas import TokenCreate, UserCreate
from shelfware.kit.clock import FrozenClock
from shelfware.kit.db import Database

pytestmark = pytest.mark.store

USERS = ResourceType.from_resource(User)
GROUPS = ResourceType.from_resource(Group)
ROLE_MAP = {"sam-admins": Role.ADMIN}


def storage(session, clock: FrozenClock) -> scim.ShelfwareStorage:  # type: ignore[no-untyped-def]
    return scim.ShelfwareStorage(session, clock, role_map=ROLE_MAP, actor="scim:test")


def claims(name: str, *groups: str) -> dict[str, object]:
    return {"sub": f"sub-{name}", "preferred_username": name, "groups": list(groups)}


def test_a_provisioned_user_is_linked_at_first_sign_in_and_refused_once_deprovisioned(
    db: Database, clock: FrozenClock
) -> None:
    with db.transaction() as session:
        created = storage(session, clock).create(
            USERS, scim.user_model().model_validate({"userName": "ada@example.com"})
        )
    with db.transaction() as session:
        outcome = sso.sign_in(
            session,
            clock,
            issuer="https://idp.example",
            claims=claims("ada@example.com", "sam-admins"),
            role_map=ROLE_MAP,
            groups_claim="groups",
        )
        assert outcome.session is not None, outcome.refused
        assert outcome.session.user.id == int(str(created.id))  # the same user, linked
        assert outcome.session.user.role is Role.ADMIN
        token, _ = accounts.create_token(
            session,
            clock,
            TokenCreate(name="ada-ci", role=Role.ADMIN, owner="ada@example.com"),
        )
    with db.transaction() as session:
        st = storage(session, clock)
        current = st.get(USERS, str(created.id))
        current.active = False
        assert st.update(USERS, current).active is False
        assert sessions.open_sessions(session, clock, "ada@example.com") == 0
        assert accounts.verify_token(session, clock, token) is None
    with db.transaction() as session:
        refused = sso.sign_in(
            session,
            clock,
            issuer="https://idp.example",
            claims=claims("ada@example.com", "sam-admins"),
            role_map=ROLE_MAP,
            groups_claim="groups",
        )
    assert refused.session is None and "deprovisioned" in (refused.refused or "")
    with db.sessions() as session:
        assert not accounts.get_user(session, "ada@example.com").active


def test_local_users_are_never_touched_and_sso_users_are_adopted(
    db: Database, clock: FrozenClock
) -> None:
    with db.transaction() as session:
        accounts.create_user(
            session, clock, UserCreate(username="root", password="x" * 12, role=Role.ADMIN)
        )
        root = accounts.get_user(session, "root")
        jit = sso.sign_in(
            session,
            clock,
            issuer="https://idp.example",
            claims=claims("bob", "sam-admins"),
            role_map=ROLE_MAP,
            groups_claim="groups",
        )
        assert jit.session is not None
    with db.transaction() as session:
        st = storage(session, clock)
        with pytest.raises(UniquenessException):
            st.create(USERS, scim.user_model().model_validate({"userName": "root"}))
        with pytest.raises(NotFoundException):
            st.get(USERS, str(root.id))
        with pytest.raises(NotFoundException):
            st.delete(USERS, str(root.id))
        adopted = st.create(USERS, scim.user_model().model_validate({"userName": "bob"}))
        assert adopted.id == str(jit.session.user.id)
    with db.sessions() as session:
        assert accounts.get_user(session, "root").active


def test_group_roles_take_the_highest(db: Database, clock: FrozenClock) -> None:
    with db.transaction() as session:
        st = storage(session, clock)
        ada = st.create(USERS, scim.user_model().model_validate({"userName": "ada"}))
        member = [{"value": ada.id}]
        group = scim.group_model()
        st.create(GROUPS, group.model_validate({"displayName": "viewer", "members": member}))
        admins = st.create(
            GROUPS, group.model_validate({"displayName": "sam-admins", "members": member})
        )
        assert accounts.get_user(session, "ada").role is Role.ADMIN
        admins.display_name = "former-admins"  # renamed: no longer mapped
        st.update(GROUPS, admins)
        assert accounts.get_user(session, "ada").role is Role.VIEWER
