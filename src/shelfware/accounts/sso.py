"""Single sign-on: the attempts between /sso/login and /sso/callback, and the users the
identity provider signs in (created just in time, their role following its groups claim).

- An attempt (:func:`begin_attempt`) is a row holding the SHA-256 digest of its ``state``,
  its ``nonce`` and PKCE verifier. :func:`consume_attempt` deletes the row it finds: a state
  is good once (a replayed callback finds nothing) and for ``ATTEMPT_LIFETIME``. A SAML
  sign-in uses the same rows: its AuthnRequest's ID is ``saml_request_id(state)``.
- :func:`remember_assertion` keeps the digest of each accepted SAML assertion (its issuer and
  ID) until the assertion expires: the same assertion posted twice is refused (replay).
- :func:`sign_in` takes the verified ID token's claims (or a SAML assertion's subject and
  attributes, as claims: ``sub`` the NameID, the groups attribute under ``groups_claim``).
  The user is the one whose ``sso_subject`` is the issuer and ``sub`` (never matched by
  name or e-mail: a provider's e-mail is not an identity shelfware can trust to be unique
  over time). Their role is the highest one their groups map to
  (``SHELFWARE_SSO_ROLE_MAP``); none: refused, and a user who had access is deactivated
  (sessions ended, tokens revoked) until a mapped group comes back.

Audit: ``user.create`` (sso), ``user.set`` (role changes, deactivation), ``user.sso_sign_in``,
``user.sso_refused``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shelfware.accounts import service as accounts
from shelfware.accounts import sessions
from shelfware.accounts.roles import Role, role_for_groups
from shelfware.accounts.schemas import USERNAME_PATTERN
from shelfware.audit import service as audit
from shelfware.kit.clock import Clock
from shelfware.models import SamlAssertion, SsoAttempt, User

ATTEMPT_LIFETIME = timedelta(minutes=10)
# Attempts begun in the last ATTEMPT_LIFETIME, at most: /sso/login is open to anyone, so its
# rows are bounded (past it, new attempts wait until old ones expire).
MAX_OPEN_ATTEMPTS = 10_000
SSO_SIGNED_IN = "user.sso_sign_in"
SSO_REFUSED = "user.sso_refused"
MAX_SUBJECT = 600
MAX_GROUPS_AUDITED = 50
_USERNAME = re.compile(USERNAME_PATTERN)
_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]+")


@dataclass(frozen=True)
class Attempt:
    state: str
    nonce: str
    verifier: str
    next_path: str


@dataclass(frozen=True)
class SsoOutcome:
    """A started session, or the refusal's one line (the 403 page says it)."""

    session: sessions.ActiveSession | None = None
    refused: str | None = None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TooManyAttempts(Exception):
    """More than MAX_OPEN_ATTEMPTS single sign-on attempts are open: try again later."""


def begin_attempt(
    session: Session, clock: Clock, next_path: str, *, limit: int = MAX_OPEN_ATTEMPTS
) -> Attempt:
    """A new attempt: random state, nonce and PKCE verifier (RFC 7636: 43-128 characters)."""
    now = clock.now()
    session.execute(delete(SsoAttempt).where(SsoAttempt.created_at < now - ATTEMPT_LIFETIME))
    if (session.scalar(select(func.count()).select_from(SsoAttempt)) or 0) >= limit:
        raise TooManyAttempts("too many single sign-on attempts at once: try again in a minute")
    attempt = Attempt(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(64),
        next_path=next_path[:2000],
    )
    session.add(
        SsoAttempt(
            state_hash=_digest(attempt.state),
            nonce=attempt.nonce,
            verifier=attempt.verifier,
            next_path=attempt.next_path,
            created_at=now,
        )
    )
    session.flush()
    return attempt


def consume_attempt(session: Session, clock: Clock, state: str) -> Attempt | None:
    """The attempt of ``state``, deleted so it serves once; None: unknown, used or too old."""
    if not state or len(state) > 200:
        return None
    row = session.scalar(select(SsoAttempt).where(SsoAttempt.state_hash == _digest(state)))
    if row is None:
        return None
    # the delete decides: of two callbacks racing with one state, one deletes the row
    deleted = session.execute(
        delete(SsoAttempt)
        .where(SsoAttempt.id == row.id)
        .execution_options(synchronize_session=False)
    )
    if not getattr(deleted, "rowcount", 0):
        return None
    if row.created_at < clock.now() - ATTEMPT_LIFETIME:
        return None
    return Attempt(state, row.nonce, row.verifier, row.next_path)


SAML_REQUEST_PREFIX = "id-"  # an xsd:ID starts with a letter


def saml_request_id(state: str) -> str:
    """The ID of the AuthnRequest of an attempt (its InResponseTo comes back in the answer)."""
    return SAML_REQUEST_PREFIX + state


def remember_assertion(
    session: Session, clock: Clock, *, issuer: str, assertion_id: str, expires_at: datetime
) -> bool:
    """Remember an accepted assertion until ``expires_at``; False: it was seen before (a
    replay). Expired ones are forgotten first (their time conditions refuse them anyway)."""
    now = clock.now()
    session.execute(delete(SamlAssertion).where(SamlAssertion.expires_at < now))
    digest = _digest(f"{issuer}\n{assertion_id}")
    if session.scalar(select(SamlAssertion.id).where(SamlAssertion.digest == digest)):
        return False
    try:
        with session.begin_nested():  # two posts racing with one assertion: one insert wins
            session.add(SamlAssertion(digest=digest, expires_at=max(expires_at, now)))
            session.flush()
    except IntegrityError:
        return False
    return True


def subject_of(issuer: str, sub: str) -> str:
    return f"{issuer} {sub}"[:MAX_SUBJECT]


def _wanted_name(claims: dict[str, Any]) -> str:
    for claim in ("preferred_username", "email", "upn"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            name = _UNSAFE.sub("-", value.strip()).strip("-.")[:90]
            if name and _USERNAME.match(name):
                return name
    return "sso-" + _digest(str(claims.get("sub")))[:12]


def _free_name(session: Session, wanted: str, subject: str) -> str:
    """``wanted``, or with a suffix from the subject when a local user already has it."""
    if session.scalar(select(User.id).where(User.username == wanted)) is None:
        return wanted
    return f"{wanted[:80]}~{_digest(subject)[:8]}"


def _groups(claims: dict[str, Any], claim: str) -> list[str]:
    value = claims.get(claim)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [str(g)[:200] for g in value[:MAX_GROUPS_AUDITED]]


def _link_provisioned(
    session: Session, clock: Clock, claims: dict[str, Any], subject: str
) -> User | None:
    """The user the identity provider provisioned over SCIM under the name this sign-in
    wants, not yet linked to a subject: linked now (audited). None when there is none."""
    user = session.scalar(
        select(User).where(
            User.username == _wanted_name(claims),
            User.provisioned.is_(True),
            User.sso_subject.is_(None),
        )
    )
    if user is not None:
        user.sso_subject = subject
        audit.record(
            session,
            clock,
            action="user.sso_link",
            object_type="user",
            object_id=user.id,
            actor="sso",
            username=user.username,
            sso_subject=subject,
        )
    return user


def sign_in(
    session: Session,
    clock: Clock,
    *,
    issuer: str,
    claims: dict[str, Any],
    role_map: dict[str, Role],
    groups_claim: str,
    address: str | None = None,
    user_agent: str | None = None,
    id_token: str | None = None,
) -> SsoOutcome:
    """Sign in the person of verified ``claims`` (see the module's description). The caller
    commits whatever the outcome: a refusal and a deactivation are kept."""
    subject = subject_of(issuer, str(claims["sub"]))
    role = role_for_groups(claims.get(groups_claim), role_map)
    groups = _groups(claims, groups_claim)
    user = session.scalar(select(User).where(User.sso_subject == subject))
    actor = "sso"
    if user is None:
        user = _link_provisioned(session, clock, claims, subject)
    if user is not None and user.provisioned and not user.active:
        # deprovisioned over SCIM: only the provider (SCIM) turns the account on again
        audit.record(
            session,
            clock,
            action=SSO_REFUSED,
            object_type="user",
            object_id=user.id,
            actor=actor,
            subject=subject,
            username=user.username,
            groups=groups,
            reason="deprovisioned (SCIM)",
            address=address,
        )
        return SsoOutcome(
            refused="Your shelfware account was deprovisioned by your identity provider. "
            "Ask an administrator to assign shelfware to you again."
        )
    if role is None:
        ended: dict[str, object] = {}
        if user is not None and user.active:
            view = accounts.set_user(session, clock, user.username, active=False, actor=actor)
            ended = {"deactivated": not view.active}
        audit.record(
            session,
            clock,
            action=SSO_REFUSED,
            object_type="user",
            object_id=user.id if user is not None else "unknown",
            actor=actor,
            subject=subject,
            username=user.username if user is not None else _wanted_name(claims),
            groups=groups,
            reason="no mapped group",
            address=address,
            **ended,
        )
        return SsoOutcome(
            refused="Your account at the identity provider is in no group that gives access "
            "to shelfware. Ask an administrator to add you to one of the mapped groups."
        )
    if user is None:
        now = clock.now()
        user = User(
            username=_free_name(session, _wanted_name(claims), subject),
            password_hash=None,
            sso_subject=subject,
            role=role.value,
            active=True,
            created_at=now,
            password_changed_at=now,
        )
        session.add(user)
        session.flush()
        audit.record(
            session,
            clock,
            action="user.create",
            object_type="user",
            object_id=user.id,
            actor=actor,
            username=user.username,
            role=user.role,
            sso_subject=subject,
        )
    elif user.role != role.value or not user.active:
        accounts.set_user(session, clock, user.username, role=role, active=True, actor=actor)
    user.last_login_at = clock.now()
    sessions.prune(session, clock)
    started = sessions.start_session(
        session,
        clock,
        accounts.user_view(user),
        address=address,
        user_agent=user_agent,
        id_token=id_token,
    )
    audit.record(
        session,
        clock,
        action=SSO_SIGNED_IN,
        object_type="user",
        object_id=user.id,
        actor=f"web:{user.username}",
        username=user.username,
        role=user.role,
        groups=groups,
        address=address,
    )
    return SsoOutcome(session=started)
