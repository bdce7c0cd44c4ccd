"""Local users (argon2 password hashes) and API tokens (shown once, kept as SHA-256 digests).

Services never commit: the caller owns the transaction. Every change leaves an audit event.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shelfware.accounts.roles import Role, permissions_of
from shelfware.accounts.schemas import (
    Principal,
    TokenCreate,
    TokenKind,
    TokenView,
    UserCreate,
    UserView,
)
from shelfware.audit import service as audit
from shelfware.kit.clock import Clock
from shelfware.models import ApiToken, SignInSession, User

TOKEN_PREFIX = "shw_"
# last_used_at is written at most this often per token, so reads do not all become writes.
LAST_USED_GRANULARITY = timedelta(minutes=1)
# A SCIM provisioning token lives a year unless told otherwise (an identity provider keeps it).
SCIM_TOKEN_DAYS = 365


class AccountError(ValueError):
    """A refused account operation (name taken, unknown user...), one line for the user."""


class AccountNotFound(AccountError, LookupError):
    pass


class TokenRejected(AccountError):
    """A bearer token that does not authenticate, with why ("token expired"...)."""


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id, the library's current recommended parameters


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so that an unknown name takes
    as long as a wrong password."""
    return _hasher().hash(secrets.token_urlsafe(16))


def waste_password_check(password: str) -> None:
    """Take as long as checking a password, for a sign-in refused without one."""
    _password_matches(_dummy_hash(), password)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def _password_matches(stored: str, password: str) -> bool:
    try:
        return _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def user_view(user: User) -> UserView:
    return UserView.model_validate(user, from_attributes=True)


def token_view(token: ApiToken, owner: str | None) -> TokenView:
    return TokenView(
        id=token.id,
        name=token.name,
        role=Role(token.role),
        owner=owner,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        revoked=token.revoked,
        kind=TokenKind(token.kind),
    )


def _owner_name(session: Session, token: ApiToken) -> str | None:
    if token.owner_id is None:
        return None
    owner = session.get(User, token.owner_id)
    return None if owner is None else owner.username


def end_user_sessions(session: Session, clock: Clock, user_id: int) -> int:
    """End every open web session of a user (in every process: each request checks its
    row). The number ended."""
    result = session.execute(
        update(SignInSession)
        .where(SignInSession.user_id == user_id, SignInSession.ended_at.is_(None))
        .values(ended_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _insert(
    session: Session,
    clock: Clock,
    row: User | ApiToken,
    taken: str,
    actor: str | None,
    *,
    action: str,
    object_type: str,
    **detail: object,
) -> None:
    """Add ``row`` (a unique name taken meanwhile is ``taken``) and its audit event."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise AccountError(taken) from None
    audit.record(
        session,
        clock,
        action=action,
        object_type=object_type,
        object_id=row.id,
        actor=actor,
        **detail,
    )


# --- users -------------------------------------------------------------------------------


def _find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def _existing_user(session: Session, username: str) -> User:
    user = _find_user(session, username)
    if user is None:
        raise AccountNotFound(f"no user named {username!r}")
    return user


def get_user(session: Session, username: str) -> UserView:
    return user_view(_existing_user(session, username))


def user_by_id(session: Session, user_id: int) -> UserView | None:
    user = session.get(User, user_id)
    return None if user is None else user_view(user)


def list_users(session: Session) -> list[UserView]:
    return [user_view(u) for u in session.scalars(select(User).order_by(User.username))]


def create_user(
    session: Session, clock: Clock, data: UserCreate, *, actor: str | None = None
) -> UserView:
    if _find_user(session, data.username) is not None:
        raise AccountError(f"a user named {data.username!r} already exists")
    now = clock.now()
    user = User(
        username=data.username,
        password_hash=hash_password(data.password),
        role=data.role.value,
        active=True,
        created_at=now,
        password_changed_at=now,
    )
    _insert(
        session,
        clock,
        user,
        f"a user named {data.username!r} already exists",
        actor,
        action="user.create",
        object_type="user",
        username=user.username,
        role=user.role,
    )
    return user_view(user)


def authenticate(session: Session, clock: Clock, username: str, password: str) -> UserView | None:
    """The active user with this name and password, or None. An unknown name, an inactive
    account and a wrong password take the same time (one argon2 verification each)."""
    user = _find_user(session, username)
    if user is None or user.password_hash is None:  # unknown, or single sign-on only
        _password_matches(_dummy_hash(), password)
        return None
    if not _password_matches(user.password_hash, password) or not user.active:
        return None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = clock.now()
    return user_view(user)


def set_password(
    session: Session, clock: Clock, username: str, password: str, *, actor: str | None = None
) -> UserView:
    UserCreate(username=username, password=password, role=Role.VIEWER)  # same length rules
    user = _existing_user(session, username)
    user.password_hash = hash_password(password)
    user.password_changed_at = clock.now()
    ended = end_user_sessions(session, clock, user.id)
    audit.record(
        session,
        clock,
        action="user.set_password",
        object_type="user",
        object_id=user.id,
        actor=actor,
        username=user.username,
        sessions_ended=ended,
    )
    return user_view(user)


def set_user(
    session: Session,
    clock: Clock,
    username: str,
    *,
    role: Role | None = None,
    active: bool | None = None,
    actor: str | None = None,
) -> UserView:
    user = _existing_user(session, username)
    changes: dict[str, object] = {}
    if role is not None and role.value != user.role:
        changes["role"] = [user.role, role.value]
        user.role = role.value
    if active is not None and active != user.active:
        changes["active"] = [user.active, active]
        user.active = active
        if not active:  # a deactivated user's sessions and tokens end with the account
            changes["sessions_ended"] = end_user_sessions(session, clock, user.id)
            changes["tokens_revoked"] = _revoke_owned_tokens(session, clock, user, actor)
    if changes:
        audit.record(
            session,
            clock,
            action="user.set",
            object_type="user",
            object_id=user.id,
            actor=actor,
            username=user.username,
            **changes,
        )
    return user_view(user)


# --- API tokens --------------------------------------------------------------------------


def _token_owner(session: Session, data: TokenCreate, creator_token_id: int | None) -> User | None:
    """The token's owner: the named user, else the owner of the token creating it (API)."""
    owner: User | None = None
    if data.owner is not None:
        owner = _existing_user(session, data.owner)
    elif creator_token_id is not None:
        creator = session.get(ApiToken, creator_token_id)
        if creator is not None and creator.owner_id is not None:
            owner = session.get(User, creator.owner_id)
    if owner is None:
        return None
    if not owner.active:
        raise AccountError(f"the user {owner.username!r} is inactive: a token cannot act for them")
    if not permissions_of(data.role) <= permissions_of(owner.role):
        raise AccountError(
            f"a token of {owner.username!r} ({owner.role}) cannot have the role {data.role.value}"
        )
    return owner


def create_token(
    session: Session,
    clock: Clock,
    data: TokenCreate,
    *,
    actor: str | None = None,
    creator_token_id: int | None = None,
    kind: TokenKind = TokenKind.API,
) -> tuple[str, TokenView]:
    """A new token: (the plaintext, shown this once and never again; its record).

    Its owner is ``data.owner``, else (over the API) the owner of the creating token
    ``creator_token_id``, else nobody: the local operator's. It expires after
    ``data.expires_in_days`` days. ``kind``: an API token (reaches /api/v1 with its role) or
    a SCIM provisioning token (reaches /scim/v2 only)."""
    if session.scalar(select(ApiToken.id).where(ApiToken.name == data.name)) is not None:
        raise AccountError(f"a token named {data.name!r} already exists")
    owner = _token_owner(session, data, creator_token_id)
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    token = ApiToken(
        name=data.name,
        token_hash=digest(plaintext),
        role=data.role.value,
        created_at=now,
        expires_at=now + timedelta(days=data.expires_in_days),
        owner_id=None if owner is None else owner.id,
        revoked=False,
        kind=kind.value,
    )
    _insert(
        session,
        clock,
        token,
        f"a token named {data.name!r} already exists",
        actor,
        action="token.create",
        object_type="api_token",
        name=token.name,
        kind=token.kind,
        role=token.role,
        owner=None if owner is None else owner.username,
        expires_at=token.expires_at.isoformat(),
    )
    return plaintext, token_view(token, None if owner is None else owner.username)


UNKNOWN_TOKEN = "the API token is not valid (unknown or revoked)"
WRONG_KIND = {
    TokenKind.API: "a SCIM provisioning token reaches /scim/v2 only: use an API token "
    "(`shelfware tokens create`)",
    TokenKind.SCIM: "only a SCIM provisioning token reaches /scim/v2 "
    "(`shelfware scim tokens create`)",
}


def authenticate_token(
    session: Session, clock: Clock, plaintext: str, *, kind: TokenKind = TokenKind.API
) -> Principal:
    """The principal of a valid token of ``kind`` (a token of another kind is refused: a SCIM
    provisioning token reaches /scim/v2 only, an API token never reaches it); notes when it
    was last used (at most once a :data:`LAST_USED_GRANULARITY`, so reads do not all become
    writes). Raises
    :class:`TokenRejected` saying why otherwise (unknown or revoked, expired, owner
    deactivated)."""
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 200:
        raise TokenRejected(UNKNOWN_TOKEN)
    wanted = digest(plaintext)
    found = session.execute(
        select(ApiToken, User)
        .outerjoin(User, User.id == ApiToken.owner_id)
        .where(ApiToken.token_hash == wanted)
    ).first()
    if found is None:
        raise TokenRejected(UNKNOWN_TOKEN)
    token, owner = found
    if token.revoked or not hmac.compare_digest(token.token_hash, wanted):
        raise TokenRejected(UNKNOWN_TOKEN)
    if token.kind != kind.value:
        raise TokenRejected(WRONG_KIND[kind])
    now = clock.now()
    if token.expires_at <= now:
        raise TokenRejected(
            f"token expired: the API token {token.name!r} expired at "
            f"{token.expires_at:%Y-%m-%d %H:%M} UTC (create a new one)"
        )
    if owner is not None and not owner.active:
        raise TokenRejected(f"the API token's owner {owner.username!r} is deactivated")
    if owner is not None and not permissions_of(token.role) <= permissions_of(owner.role):
        raise TokenRejected(
            f"the API token's owner {owner.username!r} no longer holds its role ({token.role})"
        )
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_GRANULARITY:
        token.last_used_at = now
    return Principal(
        kind="token" if kind is TokenKind.API else kind.value,
        id=token.id,
        name=token.name,
        role=Role(token.role),
    )


def verify_token(session: Session, clock: Clock, plaintext: str) -> Principal | None:
    """The principal of a valid token, or None (see :func:`authenticate_token`)."""
    try:
        return authenticate_token(session, clock, plaintext)
    except TokenRejected:
        return None


def create_scim_token(
    session: Session,
    clock: Clock,
    name: str,
    *,
    expires_in_days: int = SCIM_TOKEN_DAYS,
    actor: str | None = None,
) -> tuple[str, TokenView]:
    """A SCIM provisioning token for an identity provider: it reaches /scim/v2 only (no
    owner; its role is unused). (The plaintext, shown this once; its record.)"""
    data = TokenCreate(name=name, role=Role.VIEWER, expires_in_days=expires_in_days)
    return create_token(session, clock, data, actor=actor, kind=TokenKind.SCIM)


def list_tokens(session: Session, kind: TokenKind | None = None) -> list[TokenView]:
    """Every token (of ``kind``) with its owner, expiry and last use (never the token)."""
    stmt = (
        select(ApiToken, User.username)
        .outerjoin(User, User.id == ApiToken.owner_id)
        .order_by(ApiToken.name)
    )
    rows = session.execute(stmt if kind is None else stmt.where(ApiToken.kind == kind.value))
    return [token_view(token, owner) for token, owner in rows]


def _revoke(session: Session, clock: Clock, token: ApiToken, actor: str | None, **why: str) -> None:
    token.revoked = True
    token.revoked_at = clock.now()
    audit.record(
        session,
        clock,
        action="token.revoke",
        object_type="api_token",
        object_id=token.id,
        actor=actor,
        name=token.name,
        **why,
    )


def _revoke_owned_tokens(session: Session, clock: Clock, owner: User, actor: str | None) -> int:
    owned = list(
        session.scalars(
            select(ApiToken).where(ApiToken.owner_id == owner.id, ApiToken.revoked.is_(False))
        )
    )
    for token in owned:
        _revoke(session, clock, token, actor, reason=f"owner {owner.username} deactivated")
    return len(owned)


def revoke_token(
    session: Session,
    clock: Clock,
    name: str,
    *,
    actor: str | None = None,
    kind: TokenKind | None = None,
) -> TokenView:
    """Revoke the token ``name`` (of ``kind``, when given) at once."""
    token = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if token is None or (kind is not None and token.kind != kind.value):
        what = "SCIM provisioning token" if kind is TokenKind.SCIM else "token"
        raise AccountNotFound(f"no {what} named {name!r}")
    if not token.revoked:
        _revoke(session, clock, token, actor)
    return token_view(token, _owner_name(session, token))


def user_principal(user: UserView) -> Principal:
    return Principal(kind="user", id=user.id, name=user.username, role=user.role)
