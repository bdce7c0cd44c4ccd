"""Local users and API tokens through the real services, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from shelfware.accounts import service
from shelfware.accounts.roles import MATRIX, Permission, Role, allows, parse_role
from shelfware.accounts.schemas import TokenCreate, UserCreate
from shelfware.kit.clock import FrozenClock
from shelfware.kit.db import Database
from shelfware.models import ApiToken, AuditEvent, User

pytestmark = pytest.mark.store

PASSWORD = "correct horse battery"


def add_user(db: Database, clock: FrozenClock, name: str = "ana", role: Role = Role.VIEWER) -> None:
    with db.transaction() as session:
        service.create_user(session, clock, UserCreate(username=name, password=PASSWORD, role=role))


def test_a_user_signs_in_with_the_right_password_only(db: Database, clock: FrozenClock) -> None:
    add_user(db, clock, role=Role.SAM_MANAGER)
    with db.transaction() as session:
        user = service.authenticate(session, clock, "ana", PASSWORD)
        assert user is not None and user.role is Role.SAM_MANAGER
        assert user.last_login_at == clock.now()
        assert service.authenticate(session, clock, "ana", PASSWORD + "x") is None
        assert service.authenticate(session, clock, "bob", PASSWORD) is None
    with db.sessions() as session:
        stored = session.scalars(select(User)).one()
        assert stored.password_hash.startswith("$argon2id$")
        assert PASSWORD not in stored.password_hash


def test_an_inactive_user_cannot_sign_in(db: Database, clock: FrozenClock) -> None:
    add_user(db, clock)
    with db.transaction() as session:
        service.set_user(session, clock, "ana", active=False)
    with db.transaction() as session:
        assert service.authenticate(session, clock, "ana", PASSWORD) is None


def test_unknown_user_takes_as_long_as_a_wrong_password(db: Database, clock: FrozenClock) -> None:
    add_user(db, clock)

    def timed(name: str) -> float:
        with db.transaction() as session:
            start = time.perf_counter()
            assert service.authenticate(session, clock, name, "wrong password!") is None
            return time.perf_counter() - start

    timed("nobody")  # the dummy hash is made once, on first use
    known = min(timed("ana") for _ in range(3))
    unknown = min(timed("nobody") for _ in range(3))
    # both run one argon2 verification (tens of ms); a skipped one would take microseconds
    assert unknown > known / 3, (known, unknown)


def test_set_password_replaces_the_hash_and_is_audited(db: Database, clock: FrozenClock) -> None:
    add_user(db, clock)
    clock.advance(timedelta(hours=1))
    with db.transaction() as session:
        user = service.set_password(session, clock, "ana", "a new long password")
    assert user.password_changed_at == clock.now()
    with db.transaction() as session:
        assert service.authenticate(session, clock, "ana", PASSWORD) is None
        assert service.authenticate(session, clock, "ana", "a new long password") is not None
    with db.sessions() as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        details = session.scalars(select(AuditEvent.detail)).all()
    assert actions == ["user.create", "user.set_password"]
    assert all("password" not in str(v) for d in details for v in d.values())


def test_duplicate_user_and_short_password_are_refused(db: Database, clock: FrozenClock) -> None:
    add_user(db, clock)
    with pytest.raises(service.AccountError, match="already exists"), db.transaction() as s:
        service.create_user(s, clock, UserCreate(username="ana", password=PASSWORD, role="viewer"))  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        UserCreate(username="bob", password="short", role=Role.VIEWER)
    with pytest.raises(ValidationError):
        UserCreate(username="bad name", password=PASSWORD, role=Role.VIEWER)


def test_a_token_is_shown_once_stored_hashed_and_verifies(db: Database, clock: FrozenClock) -> None:
    with db.transaction() as session:
        plaintext, record = service.create_token(
            session, clock, TokenCreate(name="ci", role=Role.SAM_INTEGRATOR)
        )
    assert plaintext.startswith("shw_") and len(plaintext) > 40
    with db.sessions() as session:
        stored = session.scalars(select(ApiToken)).one()
        assert plaintext not in stored.token_hash and stored.token_hash == service.digest(plaintext)
    assert "token" not in record.model_dump() and plaintext not in record.model_dump_json()
    with db.transaction() as session:
        principal = service.verify_token(session, clock, plaintext)
    assert principal is not None and principal.role is Role.SAM_INTEGRATOR
    assert principal.actor == "token:ci"
    with db.transaction() as session:
        assert service.verify_token(session, clock, plaintext + "x") is None
        assert service.verify_token(session, clock, "shw_" + "a" * 43) is None
        assert service.list_tokens(session)[0].last_used_at == clock.now()


def test_a_revoked_token_no_longer_verifies(db: Database, clock: FrozenClock) -> None:
    with db.transaction() as session:
        plaintext, _ = service.create_token(session, clock, TokenCreate(name="ci", role="admin"))  # type: ignore[arg-type]
    with db.transaction() as session:
        assert service.revoke_token(session, clock, "ci").revoked
    with db.transaction() as session:
        assert service.verify_token(session, clock, plaintext) is None
    with pytest.raises(LookupError), db.transaction() as session:
        service.revoke_token(session, clock, "nope")


def test_the_role_matrix() -> None:
    assert all(allows(Role.ADMIN, p) for p in Permission)
    assert allows(Role.VIEWER, Permission.CANDIDATES_READ)
    # a viewer only reads, but decides the access review items assigned to them (only those:
    # the domain checks each item is theirs, tests/reviews)
    assert {p for p in Permission if allows(Role.VIEWER, p) and not p.value.endswith(".read")} == {
        Permission.REVIEWS_DECIDE
    }
    assert all(allows(r, Permission.REVIEWS_DECIDE) for r in Role)
    assert {r for r in Role if allows(r, Permission.REVIEWS_MANAGE)} == {
        Role.ADMIN,
        Role.SAM_MANAGER,
    }
    assert not allows(Role.VIEWER, Permission.AUDIT_READ)
    assert allows(Role.SAM_INTEGRATOR, Permission.PROFILES_WRITE)
    assert not allows(Role.SAM_INTEGRATOR, Permission.CANDIDATES_ACT)
    assert allows(Role.SAM_MANAGER, Permission.CANDIDATES_ACT)
    assert allows(Role.SAM_MANAGER, Permission.RULES_WRITE)
    assert not allows(Role.SAM_MANAGER, Permission.PROFILES_WRITE)
    assert not allows("root", Permission.PROFILES_READ)
    assert not any(allows(r, Permission.ACCOUNTS_MANAGE) for r in Role if r is not Role.ADMIN)
    assert set(MATRIX) == set(Role)
    with pytest.raises(ValueError, match="unknown role 'root'"):
        parse_role("root")
