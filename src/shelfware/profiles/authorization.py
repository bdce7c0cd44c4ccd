"""A profile's OAuth 2.0 authorization: `shelfware profile authorize NAME`, token storage, and
keeping rotated tokens.

Tokens live in the profile's encrypted credential (`access_token`, `refresh_token`,
`expires_at`, next to the OAuth app's `client_id` and `client_secret`). A refresh that rotates
the refresh token is saved at once, in its own short transaction, before the old one could be
needed again. When the app refuses the refresh token (revoked, expired), the profile is marked
"re-authorize" and nothing else changes; other profiles are not affected.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shelfware.audit import service as audit
from shelfware.connectors.base import Connector, OAuthEndpoints
from shelfware.connectors.registry import connector_class
from shelfware.connectors.toolkit import TokenSet
from shelfware.kit.clock import Clock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import IntegrationProfile, OAuthAttempt
from shelfware.profiles.oauth import (
    CALLBACK_TIMEOUT,
    DEFAULT_CALLBACK_PORT,
    AuthorizationError,
    LoopbackCallback,
    PendingAuthorization,
    begin,
    check_callback,
    exchange,
)
from shelfware.profiles.service import (
    ProfileError,
    connection_changed,
    get_profile,
    secrets_of,
    write_secrets,
)

REAUTHORIZE = "reauthorize"


def endpoints_of(profile: IntegrationProfile) -> OAuthEndpoints:
    """The OAuth endpoints of the profile's app (its connector's, or its custom spec's)."""
    cls = connector_class(profile.kind)
    if profile.kind == "custom":
        from shelfware.connectors.custom.connector import spec_of
        from shelfware.connectors.custom.spec import AuthorizationCodeSpec

        auth = spec_of({k: str(v) for k, v in (profile.options or {}).items()}).auth
        if isinstance(auth, AuthorizationCodeSpec):
            return OAuthEndpoints(auth.authorize_path, auth.token_path, auth.scope)
    endpoints: OAuthEndpoints | None = getattr(cls, "oauth", None)
    if endpoints is None:
        raise ProfileError(f"{profile.kind} profiles do not use OAuth: use an API token")
    return endpoints


async def authorize_profile(
    db: Database,
    keys: KeyRing,
    clock: Clock,
    name: str,
    *,
    show_url: Callable[[str], None],
    port: int = DEFAULT_CALLBACK_PORT,
    timeout: float = CALLBACK_TIMEOUT,
) -> TokenSet:
    """Run the authorization code flow for a profile and store its tokens (encrypted).

    `show_url` is given the authorization URL for a person to open (the CLI prints it and
    offers to open a browser). The redirect comes back to a loopback callback on `port`.
    """
    with db.sessions() as session:
        profile = get_profile(session, name)
        endpoints = endpoints_of(profile)
        secrets = secrets_of(profile, keys)
        url = profile.url
    client_id = secrets.get("client_id")
    if not client_id:
        raise ProfileError(
            f"profile {name!r} has no OAuth client id: create it with --auth oauth "
            "--client-id ID --client-secret-env VAR"
        )
    callback = LoopbackCallback("", port=port)
    async with callback.running():
        pending = begin(url, endpoints, client_id, callback.redirect_uri)
        callback.expect(pending.state)
        show_url(pending.url)
        params = await callback.wait(timeout)
    code = check_callback(pending, params)
    tokens = await exchange(pending, code, client_id, secrets.get("client_secret"))
    with db.transaction() as session:
        store_authorization(session, keys, clock, get_profile(session, name), tokens)
    return tokens


def start_authorization(
    session: Session, keys: KeyRing, name: str, redirect_uri: str
) -> PendingAuthorization:
    """The authorization URL for a person to open, when the redirect lands on a callback of
    ours (``/oauth/callback`` of ``shelfware serve``); keep the result until it comes back."""
    profile = get_profile(session, name)
    endpoints = endpoints_of(profile)
    client_id = secrets_of(profile, keys).get("client_id")
    if not client_id:
        raise ProfileError(
            f"profile {name!r} has no OAuth client id: create it with OAuth and a client id"
        )
    return begin(profile.url, endpoints, client_id, redirect_uri)


async def finish_authorization(
    db: Database,
    keys: KeyRing,
    clock: Clock,
    name: str,
    pending: PendingAuthorization,
    params: dict[str, str],
) -> None:
    """Check the redirect's query, trade the code for tokens and store them (encrypted)."""
    code = check_callback(pending, params)
    with db.sessions() as session:
        secrets = secrets_of(get_profile(session, name), keys)
    tokens = await exchange(
        pending, code, secrets.get("client_id", ""), secrets.get("client_secret")
    )
    with db.transaction() as session:
        store_authorization(session, keys, clock, get_profile(session, name), tokens)


def token_secrets(tokens: TokenSet) -> dict[str, str]:
    return {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token or "",
        "expires_at": str(tokens.expires_at or ""),
    }


def store_authorization(
    session: Session, keys: KeyRing, clock: Clock, profile: IntegrationProfile, tokens: TokenSet
) -> None:
    """Keep a new authorization's tokens: a new credential, so validate before publishing."""
    secrets = {**secrets_of(profile, keys), **token_secrets(tokens)}
    secrets.pop("api_key", None)  # the authorization replaces an API token
    write_secrets(profile, keys, clock, secrets)
    profile.auth = "oauth"
    connection_changed(profile, clock.now())
    clear_reauthorization(profile)
    audit.record(
        session, clock, action="profile.authorize", object_type="profile", object_id=profile.id
    )


def save_rotated_secrets(
    db: Database, keys: KeyRing, clock: Clock, profile_id: int, secrets: Mapping[str, str]
) -> None:
    """Keep tokens a refresh rotated (the same authorization: no new validation needed)."""
    with db.transaction() as session:
        profile = session.get_one(IntegrationProfile, profile_id)
        write_secrets(profile, keys, clock, dict(secrets))
        audit.record(
            session,
            clock,
            action="profile.token_refresh",
            object_type="profile",
            object_id=profile.id,
            actor="system:oauth-refresh",
        )


def listen_for_rotations(
    connector: Connector, db: Database, keys: KeyRing, clock: Clock, profile_id: int
) -> None:
    """Have the connector's OAuth token source save rotated tokens for this profile."""

    async def save(secrets: Mapping[str, str]) -> None:
        await asyncio.to_thread(save_rotated_secrets, db, keys, clock, profile_id, secrets)

    if hasattr(connector, "secrets_listener"):
        connector.secrets_listener = save


def mark_reauthorization_required(
    session: Session, clock: Clock, profile: IntegrationProfile, reason: str
) -> None:
    """The app refused the refresh token: say "re-authorize" on the profile."""
    validation: dict[str, Any] = dict(profile.last_validation or {})
    validation.update(
        {
            "ok": False,
            REAUTHORIZE: True,
            "checks": [
                {
                    "name": "credential",
                    "ok": False,
                    "detail": f"{reason}: run `shelfware profile authorize {profile.name}`",
                }
            ],
        }
    )
    profile.last_validation = validation
    profile.last_validation_ok = False
    profile.updated_at = clock.now()
    audit.record(
        session,
        clock,
        action="profile.reauthorize_required",
        object_type="profile",
        object_id=profile.id,
        reason=reason,
        actor="system",
    )


def clear_reauthorization(profile: IntegrationProfile) -> None:
    if profile.last_validation and profile.last_validation.get(REAUTHORIZE):
        profile.last_validation = {
            k: v for k, v in profile.last_validation.items() if k != REAUTHORIZE
        }


def needs_reauthorization(profile: IntegrationProfile) -> bool:
    return bool((profile.last_validation or {}).get(REAUTHORIZE))


__all__ = [
    "AuthorizationError",
    "authorize_profile",
    "endpoints_of",
    "finish_authorization",
    "listen_for_rotations",
    "mark_reauthorization_required",
    "needs_reauthorization",
    "save_rotated_secrets",
    "start_authorization",
    "store_authorization",
]


# --------------------------------------------------------------------------- waiting
# An authorization waits for its callback in the database (``OAuthAttempt``): whichever
# process of ``shelfware serve --workers N`` the redirect reaches finishes it.


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def hold_pending(
    db: Database, profile: str, pending: PendingAuthorization, timeout: float = CALLBACK_TIMEOUT
) -> None:
    """Keep ``pending`` (its state only as a digest) until its callback, for ``timeout``
    seconds; the ones that lapsed are pruned."""
    created = datetime.fromtimestamp(pending.created, UTC)
    with db.transaction() as session:
        session.execute(delete(OAuthAttempt).where(OAuthAttempt.created_at < _cutoff(timeout)))
        session.add(
            OAuthAttempt(
                state_hash=_digest(pending.state),
                profile=profile,
                verifier=pending.verifier,
                redirect_uri=pending.redirect_uri,
                token_url=pending.token_url,
                created_at=created,
            )
        )


def take_pending(
    db: Database, state: str, timeout: float = CALLBACK_TIMEOUT
) -> tuple[str, PendingAuthorization] | None:
    """(profile name, pending authorization) for ``state``, once (the row is deleted in the
    same transaction); None when unknown or lapsed."""
    if not state:
        return None
    with db.transaction() as session:
        row = session.scalar(select(OAuthAttempt).where(OAuthAttempt.state_hash == _digest(state)))
        if row is None:
            return None
        taken = session.execute(delete(OAuthAttempt).where(OAuthAttempt.id == row.id))
        if getattr(taken, "rowcount", 0) != 1 or row.created_at < _cutoff(timeout):
            return None  # another process took it first, or it lapsed
        return row.profile, PendingAuthorization(
            url="",
            state=state,
            verifier=row.verifier,
            redirect_uri=row.redirect_uri,
            token_url=row.token_url,
            created=row.created_at.timestamp(),
        )


def _cutoff(timeout: float) -> datetime:
    return datetime.fromtimestamp(time.time() - timeout, UTC)
