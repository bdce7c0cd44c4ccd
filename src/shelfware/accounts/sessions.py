"""Signing in: the sign-in limits, the audit trail of sign-ins, and web sessions kept in the
database.

A session is a row of ``web_session``: a random 256-bit token (only its SHA-256 digest is
stored), its user, its CSRF secret, when it began, expires (``SESSION_LIFETIME`` after sign-in),
was last seen and ended. The web face keeps the token in a sealed cookie and asks
:func:`resume` on every request, so a sign-out, a password change or a deactivation ends the
session in every process at once and after a restart. :func:`prune` deletes ended and expired
rows (on every sign-in, and from the jobs tick).

Sign-in limits are counted from the audit trail (``user.sign_in_failed`` events in the last
``window``), so they hold across processes and restarts. Three counters, each separate:

- per user name and address (``per_user_address``, 5): someone guessing one account from one
  place; a successful sign-in from that place clears it;
- per address (``per_address``, 20): one place guessing many names;
- per user name across all addresses (``per_user``, 50): a distributed guess at one account.

One address can therefore lock a name only for itself: the victim signing in from another
address is let in until the name collects ``per_user`` failures from many addresses within the
window (a residual risk, bounded to ``window``, documented). Attempts refused by a limit check
no password and are not counted, so a lock ends ``window`` after its failures.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from shelfware.accounts import service as accounts
from shelfware.accounts.schemas import UserView
from shelfware.audit import service as audit
from shelfware.kit.clock import Clock
from shelfware.models import AuditEvent, SignInSession, User

_log = logging.getLogger(__name__)

SESSION_LIFETIME = timedelta(hours=8)
# last_seen_at is written at most this often per session, so reads do not all become writes.
LAST_SEEN_GRANULARITY = timedelta(minutes=1)

SIGNED_IN = "user.sign_in"
SIGN_IN_FAILED = "user.sign_in_failed"
LOCKOUT = "user.lockout"
SIGNED_OUT = "user.sign_out"
BREAK_GLASS = "user.break_glass_sign_in"
SIGN_IN_ACTIONS = (SIGNED_IN, SIGN_IN_FAILED, LOCKOUT, SIGNED_OUT, BREAK_GLASS)
# Who the audit trail names: the web face's convention (``web:NAME``); before a password
# matched, nobody is known.
ANONYMOUS = "web:anonymous"
MAX_NAME = 100
MAX_ADDRESS = 100
MAX_AGENT = 200


@dataclass(frozen=True)
class SignInLimits:
    per_user_address: int = 5
    per_address: int = 20
    per_user: int = 50
    window: timedelta = timedelta(minutes=15)


DEFAULT_LIMITS = SignInLimits()


@dataclass(frozen=True)
class ActiveSession:
    """A session that is open now: who it belongs to and its CSRF secret."""

    token: str
    csrf: str
    user: UserView
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class SignInOutcome:
    """A started session, or why not: ``retry_after`` seconds (a limit) or a wrong password."""

    session: ActiveSession | None = None
    retry_after: int = 0
    local_off: bool = False  # local passwords are off and this name is not break-glass


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- limits ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Counts:
    pair: int
    pair_oldest: datetime | None
    address: int
    address_oldest: datetime | None
    user: int
    user_oldest: datetime | None


def _fields() -> tuple[ColumnElement[str], ColumnElement[str]]:
    name = func.lower(AuditEvent.detail["username"].as_string())
    address = AuditEvent.detail["address"].as_string()
    return name, address


def _counts(session: Session, since: datetime, name: str, address: str) -> _Counts:
    """Failures in the window: per (name, address) after the last success from there, per
    address, per name. Two indexed queries over ``(action, at)``."""
    name_col, address_col = _fields()
    key = name.lower()
    last_success = session.scalar(
        select(func.max(AuditEvent.id)).where(
            AuditEvent.action == SIGNED_IN,
            AuditEvent.at >= since,
            name_col == key,
            address_col == address,
        )
    )
    pair = and_(name_col == key, address_col == address, AuditEvent.id > (last_success or 0))
    same_address = address_col == address
    same_name = name_col == key
    row = session.execute(
        select(
            func.count().filter(pair),
            func.min(AuditEvent.at).filter(pair),
            func.count().filter(same_address),
            func.min(AuditEvent.at).filter(same_address),
            func.count().filter(same_name),
            func.min(AuditEvent.at).filter(same_name),
        ).where(
            AuditEvent.action == SIGN_IN_FAILED,
            AuditEvent.at >= since,
            or_(same_address, same_name),
        )
    ).one()
    return _Counts(*row)


def _limited(counts: _Counts, limits: SignInLimits) -> list[tuple[str, int, datetime | None]]:
    """(scope, count, oldest failure) of every counter at or past its limit."""
    checks = [
        ("user_address", counts.pair, limits.per_user_address, counts.pair_oldest),
        ("address", counts.address, limits.per_address, counts.address_oldest),
        ("user", counts.user, limits.per_user, counts.user_oldest),
    ]
    return [(scope, count, oldest) for scope, count, limit, oldest in checks if count >= limit]


def _wait(counts: _Counts, limits: SignInLimits, now: datetime) -> int:
    waits = [
        int((oldest + limits.window - now).total_seconds()) + 1
        for _, _, oldest in _limited(counts, limits)
        if oldest is not None
    ]
    return max(waits, default=0)


def retry_after(
    session: Session,
    clock: Clock,
    username: str,
    address: str,
    limits: SignInLimits = DEFAULT_LIMITS,
) -> int:
    """Seconds until ``username`` may try again from ``address`` (0: now)."""
    now = clock.now()
    counts = _counts(session, now - limits.window, username[:MAX_NAME], address[:MAX_ADDRESS])
    return _wait(counts, limits, now)


# --- signing in and out ------------------------------------------------------------------


def sign_in(
    session: Session,
    clock: Clock,
    username: str,
    password: str,
    *,
    address: str,
    user_agent: str | None = None,
    limits: SignInLimits = DEFAULT_LIMITS,
    local_login: bool = True,
    break_glass: frozenset[str] = frozenset(),
) -> SignInOutcome:
    """Check the limits, then the password; a new session on success. Every outcome is in
    the audit trail (a sign-in, a failure, a lockout when a failure reaches a limit). The
    caller commits whatever the outcome, so failures count.

    With ``local_login`` off (single sign-on only) only the names in ``break_glass`` may
    still sign in with a password; each such sign-in is audited with a warning, any other
    name is refused before its password is looked at."""
    now = clock.now()
    name = username[:MAX_NAME]
    address = address[:MAX_ADDRESS]
    counts = _counts(session, now - limits.window, name, address)
    wait = _wait(counts, limits, now)
    if wait:
        return SignInOutcome(retry_after=wait)
    if not local_login and name not in break_glass:
        # as long as a password check (the break-glass names do not show by timing), and
        # counted as a failure (the sign-in limits hold for these too)
        accounts.waste_password_check(password)
        audit.record(
            session,
            clock,
            action=SIGN_IN_FAILED,
            object_type="user",
            object_id="unknown",
            actor=ANONYMOUS,
            username=name,
            address=address,
            reason="local sign-in is off (not a break-glass name)",
        )
        return SignInOutcome(local_off=True)
    user = accounts.authenticate(session, clock, name, password) if name and password else None
    if user is None:
        known = session.scalar(select(User.id).where(User.username == name))
        audit.record(
            session,
            clock,
            action=SIGN_IN_FAILED,
            object_type="user",
            object_id=known if known is not None else "unknown",
            actor=ANONYMOUS,
            username=name,
            address=address,
        )
        after = _Counts(
            counts.pair + 1,
            counts.pair_oldest or now,
            counts.address + 1,
            counts.address_oldest or now,
            counts.user + 1,
            counts.user_oldest or now,
        )
        for scope, count, oldest in _limited(after, limits):
            limit = {
                "user_address": limits.per_user_address,
                "address": limits.per_address,
                "user": limits.per_user,
            }[scope]
            if count == limit:  # this failure starts the lockout
                audit.record(
                    session,
                    clock,
                    action=LOCKOUT,
                    object_type="user",
                    object_id=known if known is not None else "unknown",
                    actor=ANONYMOUS,
                    username=name,
                    address=address,
                    scope=scope,
                    failures=count,
                    until=((oldest or now) + limits.window).isoformat(),
                )
        return SignInOutcome()
    prune(session, clock)
    started = start_session(session, clock, user, address=address, user_agent=user_agent)
    audit.record(
        session,
        clock,
        action=SIGNED_IN,
        object_type="user",
        object_id=user.id,
        actor=f"web:{user.username}",
        username=user.username,
        address=address,
    )
    if not local_login:
        _log.warning(
            "break-glass sign-in with a local password: %s from %s", user.username, address
        )
        audit.record(
            session,
            clock,
            action=BREAK_GLASS,
            object_type="user",
            object_id=user.id,
            actor=f"web:{user.username}",
            level="warning",
            username=user.username,
            address=address,
            message="local password used while single sign-on is enforced (break-glass)",
        )
    return SignInOutcome(session=started)


def start_session(
    session: Session,
    clock: Clock,
    user: UserView,
    *,
    address: str | None = None,
    user_agent: str | None = None,
    id_token: str | None = None,
) -> ActiveSession:
    """A new session (``id_token``: a single sign-on's, the hint of the provider's
    sign-out)."""
    now = clock.now()
    token = secrets.token_urlsafe(32)  # 256 bits
    row = SignInSession(
        token_hash=_digest(token),
        user_id=user.id,
        csrf=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
        last_seen_at=now,
        ended_at=None,
        address=None if address is None else address[:MAX_ADDRESS],
        user_agent=None if user_agent is None else user_agent[:MAX_AGENT],
        id_token=id_token,
    )
    session.add(row)
    session.flush()
    return ActiveSession(token, row.csrf, user, row.created_at, row.expires_at)


def resume(session: Session, clock: Clock, token: str) -> ActiveSession | None:
    """The open session of ``token`` (None: unknown, ended, expired, or its user is
    inactive); notes when it was last seen."""
    if not token or len(token) > 200:
        return None
    wanted = _digest(token)
    found = session.execute(
        select(SignInSession, User)
        .join(User, User.id == SignInSession.user_id)
        .where(SignInSession.token_hash == wanted)
    ).first()
    if found is None:
        return None
    row, user = found
    now = clock.now()
    if (
        not hmac.compare_digest(row.token_hash, wanted)
        or row.ended_at is not None
        or row.expires_at <= now
        or not user.active
    ):
        return None
    if now - row.last_seen_at >= LAST_SEEN_GRANULARITY:
        row.last_seen_at = now
    return ActiveSession(token, row.csrf, accounts.user_view(user), row.created_at, row.expires_at)


def id_token_of(session: Session, token: str) -> str | None:
    """The single sign-on ID token a session began with (None: a local sign-in)."""
    if not token or len(token) > 200:
        return None
    return session.scalar(
        select(SignInSession.id_token).where(SignInSession.token_hash == _digest(token))
    )


def sign_out(session: Session, clock: Clock, token: str, *, address: str | None = None) -> bool:
    """End the session of ``token`` (in every process); False when it was not open."""
    active = resume(session, clock, token)
    if active is None:
        return False
    row = session.scalar(select(SignInSession).where(SignInSession.token_hash == _digest(token)))
    assert row is not None
    row.ended_at = clock.now()
    audit.record(
        session,
        clock,
        action=SIGNED_OUT,
        object_type="user",
        object_id=active.user.id,
        actor=f"web:{active.user.username}",
        username=active.user.username,
        address=address,
    )
    return True


def prune(session: Session, clock: Clock) -> int:
    """Delete ended and expired sessions; the number deleted."""
    result = session.execute(
        delete(SignInSession)
        .where(or_(SignInSession.ended_at.is_not(None), SignInSession.expires_at <= clock.now()))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def open_sessions(session: Session, clock: Clock, username: str) -> int:
    """How many sessions of ``username`` are open now."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(SignInSession)
            .join(User, User.id == SignInSession.user_id)
            .where(User.username == username, _open(clock))
        )
        or 0
    )


class SessionView(BaseModel):
    """An open session as the faces show it (never its token)."""

    id: int
    username: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    address: str | None
    user_agent: str | None


def _open(clock: Clock) -> ColumnElement[bool]:
    return and_(SignInSession.ended_at.is_(None), SignInSession.expires_at > clock.now())


def list_sessions(session: Session, clock: Clock, username: str | None = None) -> list[SessionView]:
    """Open sessions (of ``username``), newest first."""
    stmt = (
        select(SignInSession, User.username)
        .join(User, User.id == SignInSession.user_id)
        .where(_open(clock))
        .order_by(SignInSession.id.desc())
    )
    if username is not None:
        accounts.get_user(session, username)  # an unknown name is an error, not "none"
        stmt = stmt.where(User.username == username)
    return [
        SessionView(
            id=row.id,
            username=name,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            address=row.address,
            user_agent=row.user_agent,
        )
        for row, name in session.execute(stmt)
    ]


def end_sessions(session: Session, clock: Clock, username: str, *, actor: str | None = None) -> int:
    """Sign ``username`` out everywhere (audited); the number of sessions ended."""
    user = accounts.get_user(session, username)
    ended = accounts.end_user_sessions(session, clock, user.id)
    audit.record(
        session,
        clock,
        action="user.end_sessions",
        object_type="user",
        object_id=user.id,
        actor=actor,
        username=user.username,
        sessions_ended=ended,
    )
    return ended
