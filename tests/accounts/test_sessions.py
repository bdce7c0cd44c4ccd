"""The session service: tokens kept hashed, last seen at most once a minute, expiry, and the
sign-in limits counted from the audit trail."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from shelfware.accounts import service as accounts
from shelfware.accounts import sessions
from shelfware.accounts.roles import Role
from shelfware.accounts.schemas import UserCreate
from shelfware.kit.clock import FrozenClock
from shelfware.kit.db import Database
from shelfware.models import SignInSession

PASSWORD = "correct horse battery staple"


def test_a_session_is_seen_at_most_once_a_minute_and_ends_at_its_expiry(
    db: Database, clock: FrozenClock
) -> None:
    with db.transaction() as session:
        accounts.create_user(
            session, clock, UserCreate(username="ana", password=PASSWORD, role=Role.VIEWER)
        )
        outcome = sessions.sign_in(
            session, clock, "ana", PASSWORD, address="192.0.2.1", user_agent="x" * 500
        )
    assert outcome.session is not None
    token = outcome.session.token
    assert len(token) >= 43  # 256 bits, url-safe base64

    def last_seen() -> object:
        with db.sessions() as session:
            return session.scalars(select(SignInSession.last_seen_at)).one()

    started = clock.now()
    clock.advance(timedelta(seconds=59))
    with db.transaction() as session:
        assert sessions.resume(session, clock, token) is not None
    assert last_seen() == started
    clock.advance(timedelta(seconds=1))
    with db.transaction() as session:
        assert sessions.resume(session, clock, token) is not None
    assert last_seen() == clock.now()
    with db.sessions() as session:
        row = session.scalars(select(SignInSession)).one()
        assert len(row.user_agent or "") == 200 and row.address == "192.0.2.1"
        assert sessions.resume(session, clock, token + "x") is None
        assert sessions.resume(session, clock, "") is None
    clock.set(started + sessions.SESSION_LIFETIME)
    with db.transaction() as session:
        assert sessions.resume(session, clock, token) is None
        assert sessions.sign_out(session, clock, token) is False


def test_limits_are_counted_per_name_and_place_per_place_and_per_name(
    db: Database, clock: FrozenClock
) -> None:
    limits = sessions.SignInLimits(per_user_address=2, per_address=3, per_user=4)
    with db.transaction() as session:
        for name in ("ana", "bob"):
            accounts.create_user(
                session, clock, UserCreate(username=name, password=PASSWORD, role=Role.VIEWER)
            )

    def attempt(name: str, address: str, password: str = "wrong") -> sessions.SignInOutcome:
        with db.transaction() as session:
            return sessions.sign_in(session, clock, name, password, address=address, limits=limits)

    assert attempt("ana", "a").retry_after == 0
    assert attempt("ANA", "a").retry_after == 0  # names count without regard to case
    assert attempt("ana", "a").retry_after == 15 * 60 + 1  # (ana, a) is locked
    assert attempt("bob", "a").retry_after == 0  # a third failure from a
    assert attempt("bob", "a", PASSWORD).retry_after > 0  # a is locked for every name
    assert attempt("ana", "b", PASSWORD).session is not None  # ana elsewhere is fine
    clock.advance(timedelta(minutes=1))
    for place in ("c", "d"):
        assert attempt("ana", place).retry_after == 0  # 4 failures of ana now
    assert attempt("ana", "e", PASSWORD).retry_after == 14 * 60 + 1  # ana is locked everywhere
    clock.advance(timedelta(minutes=14, seconds=1))  # the first failures leave the window
    assert attempt("ana", "e", PASSWORD).session is not None
