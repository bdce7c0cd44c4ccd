"""The whole OAuth dance against the Asana sandbox's authorization server (issue 6): authorize
through a loopback callback, tokens stored encrypted, expiry, refresh, the rotated refresh
token persisted, and a revoked authorization surfacing as "re-authorize" without touching
other profiles."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import AuditEvent
from shelfware.profiles import authorization
from shelfware.profiles import service as profiles
from shelfware.profiles.oauth import AuthorizationError
from shelfware.profiles.schemas import ProfileCreate
from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.asana_oauth import CLIENT_ID, CLIENT_SECRET
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.server import serve_in_thread
from shelfware.sync.service import SyncError, sync_profile

from ..conftest import NOW


def browser(url: str) -> None:
    """A person's browser, in its own thread: open the consent page, follow the redirect."""

    def visit() -> None:
        httpx.get(url, follow_redirects=True, timeout=10)

    threading.Thread(target=visit, daemon=True).start()


def stored(db: Database, keys: KeyRing, name: str) -> tuple[str, dict[str, str]]:
    with db.sessions() as session:
        profile = profiles.get_profile(session, name)
        assert profile.credential is not None
        ciphertext = profile.credential.ciphertext
        return ciphertext, json.loads(keys.decrypt(ciphertext))


def create(db: Database, keys: KeyRing, clock: FrozenClock, name: str, url: str, **extra: object):  # type: ignore[no-untyped-def]
    with db.transaction() as session:
        profiles.create_profile(
            session, keys, clock, ProfileCreate(kind="asana", name=name, url=url, **extra)
        )


async def test_authorize_refresh_rotate_and_revoke(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    app, org = SANDBOXES["asana"](120, 5, NOW, 0, FaultSpec())
    sandbox = app.state.sandbox
    options = {"workspace": org.organisation.gid, "rate_limit": "paid"}
    with serve_in_thread(app) as server:
        create(
            db,
            keys,
            clock,
            "asana-oauth",
            server.url,
            auth="oauth",
            secrets={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
            options=options,
        )
        create(
            db,
            keys,
            clock,
            "asana-pat",
            server.url,
            secrets={"api_key": org.api_key},
            options=options,
        )
        tokens = await authorization.authorize_profile(
            db, keys, clock, "asana-oauth", show_url=browser, port=0, timeout=10
        )
        ciphertext, secrets = stored(db, keys, "asana-oauth")
        assert secrets["access_token"] == tokens.access_token and secrets["refresh_token"]
        assert tokens.access_token not in ciphertext and tokens.refresh_token not in ciphertext
        for name in ("asana-oauth", "asana-pat"):
            assert (await profiles.validate_profile(db, keys, clock, name)).ok
            with db.transaction() as session:
                profiles.publish_profile(session, clock, profiles.get_profile(session, name))
        first = await sync_profile(db, keys, clock, "asana-oauth")
        assert first.accounts == len(org.members(org.organisation.gid))

        # an hour later the access token has expired: the sync refreshes it, and the rotated
        # refresh token is saved before it could be needed again
        sandbox.clock.advance(3601)
        await sync_profile(db, keys, clock, "asana-oauth")
        _, rotated = stored(db, keys, "asana-oauth")
        assert rotated["refresh_token"] != secrets["refresh_token"]
        assert rotated["access_token"] != secrets["access_token"]
        with db.sessions() as session:
            actions = [e.action for e in session.query(AuditEvent).order_by(AuditEvent.id)]
        assert "profile.authorize" in actions and "profile.token_refresh" in actions

        # the person revokes the app in Asana: the next refresh is refused
        sandbox.oauth.revoke(rotated["refresh_token"])
        sandbox.clock.advance(3601)
        with pytest.raises(SyncError, match="authorize again"):
            await sync_profile(db, keys, clock, "asana-oauth")
        with db.sessions() as session:
            assert authorization.needs_reauthorization(profiles.get_profile(session, "asana-oauth"))
        # ... and the other profile of the same app is not affected
        assert (await sync_profile(db, keys, clock, "asana-pat")).accounts == first.accounts


async def test_denied_consent_and_a_wrong_secret_store_nothing(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    app, _ = SANDBOXES["asana"](30, 6, NOW, 0, FaultSpec())
    with serve_in_thread(app) as server:
        create(
            db,
            keys,
            clock,
            "wrong-secret",
            server.url,
            auth="oauth",
            secrets={"client_id": CLIENT_ID, "client_secret": "not-the-secret"},
        )
        before, _ = stored(db, keys, "wrong-secret")
        with pytest.raises(AuthorizationError, match="check the client id and secret"):
            await authorization.authorize_profile(
                db, keys, clock, "wrong-secret", show_url=browser, port=0, timeout=10
            )
        app.state.sandbox.oauth.consent = "deny"
        with pytest.raises(AuthorizationError, match="consent was denied"):
            await authorization.authorize_profile(
                db, keys, clock, "wrong-secret", show_url=browser, port=0, timeout=10
            )
        after, secrets = stored(db, keys, "wrong-secret")
    assert after == before and "access_token" not in secrets


def test_a_custom_spec_names_its_oauth_endpoints(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    """A custom profile with `oauth2_authorization_code` goes through the same shared flow:
    its endpoints come from the spec (paths on the profile's host)."""
    spec = """
app: {publisher: Acme, product: Acme}
auth:
  type: oauth2_authorization_code
  authorize_path: /oauth/authorize
  token_path: /oauth/token
  scope: admin
streams:
  accounts:
    request: {path: /v1/members}
    records: $.items
    fields: {external_id: {path: $.id}}
"""
    with db.transaction() as session:
        profile = profiles.create_profile(
            session,
            keys,
            clock,
            ProfileCreate(
                kind="custom",
                name="acme-oauth",
                url="https://api.acme.example",
                auth="oauth",
                secrets={"client_id": "c1", "client_secret": "s3cr3t-value"},
                spec=spec,
            ),
        )
        endpoints = authorization.endpoints_of(profile)
    assert (endpoints.authorize_path, endpoints.token_path, endpoints.scope) == (
        "/oauth/authorize",
        "/oauth/token",
        "admin",
    )
