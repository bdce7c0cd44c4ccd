"""Local accounts of the workspace: people who sign in, and API tokens for scripts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from shelfware.models.base import Base, BigId, id_column


class User(Base):
    """A person who signs in to the workspace with a local password (argon2 hash only)."""

    __tablename__ = "app_user"

    id: Mapped[int] = id_column()
    username: Mapped[str] = mapped_column(String(100), unique=True)
    # None: signs in through single sign-on only (created at their first SSO sign-in)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(30))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    # A password change ends every session of the user (see SignInSession).
    password_changed_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    # Single sign-on: the provider's issuer and the person's `sub` there ("issuer sub"); a
    # user with one signs in through that provider and their role follows its groups claim.
    sso_subject: Mapped[str | None] = mapped_column(String(600), unique=True)
    # SCIM provisioning (/scim/v2): the identity provider created this user and owns it;
    # its id for the user there, and the attributes it sent that shelfware keeps.
    provisioned: Mapped[bool] = mapped_column(default=False, server_default=false())
    external_id: Mapped[str | None] = mapped_column(String(600), index=True)
    # the `active` the provider last sent (None: it said nothing, or removed it: active)
    scim_active: Mapped[bool | None]
    # [{"value", "type", "primary"}] as sent (at most a few): SCIM's multi-valued emails
    emails: Mapped[list[Any] | None]
    display_name: Mapped[str | None] = mapped_column(String(300))
    given_name: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime | None]


class ApiToken(Base):
    """A bearer token for the REST API: only its SHA-256 digest is kept."""

    __tablename__ = "api_token"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None]
    # The user the token acts for (it dies with their deactivation); NULL: created by the
    # local operator (`shelfware tokens create` without --owner, and tokens older than owners).
    owner_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("app_user.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime]
    # "api": reaches the REST API (/api/v1) with its role; "scim": a SCIM provisioning token,
    # reaches /scim/v2 only (its role is unused).
    kind: Mapped[str] = mapped_column(String(10), default="api", server_default="api")


class SignInSession(Base):
    """A signed-in web session. The cookie carries a random 256-bit token; only its SHA-256
    digest is kept here, so a copy of this table signs nobody in. Every request checks the
    row: sign-out, a password change or a deactivation ends it in every process at once."""

    __tablename__ = "web_session"
    __table_args__ = (Index("ix_web_session_expires_at", "expires_at"),)

    id: Mapped[int] = id_column()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("app_user.id", ondelete="CASCADE"), index=True
    )
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    address: Mapped[str | None] = mapped_column(String(100))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    # A single sign-on session's ID token: the hint of the provider's sign-out (RP-initiated)
    id_token: Mapped[str | None] = mapped_column(Text)


class SsoAttempt(Base):
    """One single sign-on attempt between /sso/login and /sso/callback: its `state` (only
    the SHA-256 digest), its `nonce` and PKCE verifier. The callback deletes the row it uses,
    so a state is good once; rows older than a few minutes are refused and pruned."""

    __tablename__ = "sso_attempt"
    __table_args__ = (Index("ix_sso_attempt_created_at", "created_at"),)

    id: Mapped[int] = id_column()
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(100))
    verifier: Mapped[str] = mapped_column(String(200))
    next_path: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime]


class ScimGroup(Base):
    """A group the identity provider pushed over SCIM. Its members' role comes from its
    name: a role's own name (``admin``...) or a group of ``SHELFWARE_SSO_ROLE_MAP``."""

    __tablename__ = "scim_group"

    id: Mapped[int] = id_column()
    display_name: Mapped[str] = mapped_column(String(300), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(600))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ScimGroupMember(Base):
    __tablename__ = "scim_group_member"

    group_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("scim_group.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class SamlAssertion(Base):
    """A SAML assertion shelfware accepted (SHA-256 digest of its issuer and ID), kept until
    it expires: the same assertion posted again is a replay, refused."""

    __tablename__ = "saml_assertion"
    __table_args__ = (Index("ix_saml_assertion_expires_at", "expires_at"),)

    id: Mapped[int] = id_column()
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
