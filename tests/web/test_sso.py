"""Single sign-on through a real OpenID provider (oidc-provider-mock, tests/web/sso_provider.py):
the whole authorization code + PKCE flow over HTTP, the ID token verified by shelfware, users
created just in time with the role their groups map to.

Where a case needs an ID token the mock never issues (another audience, a wrong signature, a
rotated key), the provider variant of sso_provider.Tamper re-signs the mock's token after the
real exchange; each such test says so. Expiry and clock skew are tested with shelfware's own
clock: the provider issues real tokens, shelfware's clock is moved.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Role, parse_role_map, role_for_groups
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.kit.redact import default_redactor
from shelfware.models import AuditEvent, SignInSession, User
from shelfware.serve import create_app
from shelfware.settings import Settings
from shelfware.store import Store
from tests.web.conftest import PASSWORD, Web, csrf_of
from tests.web.sso_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    Provider,
    callback_path,
    new_key,
    query_of,
    running_provider,
    unverified_claims,
)

ROLE_MAP = "sam-admins=admin,sam-team=sam_manager,sam-viewers=viewer"


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        yield running


def sso_settings(provider: Provider, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "oidc_issuer": provider.url,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": CLIENT_SECRET,
        "oidc_name": "Test IdP",
        "sso_role_map": ROLE_MAP,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Sso:
    web: Web
    provider: Provider

    def begin(self, client: TestClient, next_path: str = "/") -> str:
        response = client.get(f"/sso/login?next={next_path}")
        assert response.status_code == 303, response.text
        return response.headers["location"]

    def sign_in(self, client: TestClient, sub: str, next_path: str = "/") -> Any:
        """The whole flow: shelfware's redirect, the provider's consent, the callback."""
        location = self.provider.authorize(self.begin(client, next_path), sub)
        return client.get(callback_path(location))

    def user(self, sub: str) -> User | None:
        with self.web.store.db.sessions() as session:
            return session.scalar(
                select(User).where(User.sso_subject == f"{self.provider.url} {sub}")
            )

    def actions(self, action: str) -> list[AuditEvent]:
        with self.web.store.db.sessions() as session:
            return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def make_sso(web: Web, provider: Provider, **overrides: Any) -> Sso:
    # the provider stamps real time: shelfware's clock starts there too
    web.clock.set(datetime.now(UTC).replace(microsecond=0))
    app = create_app(sso_settings(provider, **overrides), store=web.store, clock=web.clock)
    return Sso(Web(app=app, store=web.store, clock=web.clock), provider)


@pytest.fixture
def sso(web: Web, provider: Provider) -> Sso:
    return make_sso(web, provider)


def role_on_overview(client: TestClient) -> str:
    page = client.get("/")
    assert page.status_code == 200, page.text
    return page.text


@pytest.mark.store
def test_first_sign_in_creates_the_user_with_the_mapped_role(sso: Sso) -> None:
    sso.provider.set_user(
        "alice-sub", email="alice@example.com", preferred_username="alice", groups=["sam-team"]
    )
    client = sso.web.client()
    sign_in_page = client.get("/sign-in").text
    assert "Sign in with Test IdP" in sign_in_page
    assert 'name="password"' in sign_in_page  # local passwords stay on by default

    location = sso.begin(client, "/profiles")
    asked = query_of(location)
    assert asked["client_id"] == CLIENT_ID and asked["response_type"] == "code"
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["state"] and asked["nonce"] and asked["state"] != asked["nonce"]
    assert "openid" in asked["scope"].split()
    response = client.get(callback_path(sso.provider.authorize(location, "alice-sub")))
    assert response.status_code == 303, response.text
    # PKCE: the verifier sent with the code is the one the S256 challenge was made of
    sent = sso.provider.tamper.token_requests[-1]
    digest = hashlib.sha256(sent["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == asked["code_challenge"]
    assert 43 <= len(sent["code_verifier"]) <= 128
    assert sent["grant_type"] == "authorization_code" and "client_secret" not in sent
    assert response.headers["location"] == "/profiles"
    assert "alice" in role_on_overview(client)

    user = sso.user("alice-sub")
    assert user is not None and user.role == "sam_manager" and user.active
    assert user.username == "alice" and user.password_hash is None
    assert [e.detail["role"] for e in sso.actions("user.sso_sign_in")] == ["sam_manager"]
    assert sso.actions("user.create")[-1].detail["sso_subject"].endswith(" alice-sub")
    # the role matrix applies to the SSO user: a manager may not manage accounts
    assert client.get("/audit").status_code == 403
    # a user created by single sign-on has no password to guess
    other = sso.web.client()
    token = csrf_of(other.get("/sign-in").text)
    refused = other.post(
        "/sign-in", data={"username": "alice", "password": "anything at all", "csrf_token": token}
    )
    assert refused.status_code == 401
    # the client secret went to the token endpoint only: never on a page, never logged
    assert CLIENT_SECRET not in sign_in_page and CLIENT_SECRET not in location
    assert default_redactor().redact(f"secret={CLIENT_SECRET}") == "secret=***"


@pytest.mark.store
def test_role_follows_the_groups_claim_at_each_sign_in(sso: Sso) -> None:
    sso.provider.set_user("bob-sub", email="bob@example.com", groups=["sam-viewers"])
    assert sso.sign_in(sso.web.client(), "bob-sub").status_code == 303
    assert sso.user("bob-sub").role == "viewer"  # type: ignore[union-attr]

    # several groups: the highest role wins
    sso.provider.set_user("bob-sub", email="bob@example.com", groups=["sam-viewers", "sam-admins"])
    client = sso.web.client()
    assert sso.sign_in(client, "bob-sub").status_code == 303
    assert sso.user("bob-sub").role == "admin"  # type: ignore[union-attr]
    assert client.get("/audit").status_code == 200
    changes = [e.detail for e in sso.actions("user.set")]
    assert changes[-1]["role"] == ["viewer", "admin"]
    created = [e for e in sso.actions("user.create") if "sso_subject" in e.detail]
    assert len(created) == 1  # same person, same account


@pytest.mark.store
def test_a_removed_group_takes_the_access_away_at_next_sign_in(sso: Sso) -> None:
    sso.provider.set_user("carol-sub", email="carol@example.com", groups=["sam-team"])
    first = sso.web.client()
    assert sso.sign_in(first, "carol-sub").status_code == 303
    assert first.get("/").status_code == 200

    sso.provider.set_user("carol-sub", email="carol@example.com", groups=["other-team"])
    second = sso.web.client()
    refused = sso.sign_in(second, "carol-sub")
    assert refused.status_code == 403
    assert "Ask an administrator to add you" in refused.text
    user = sso.user("carol-sub")
    assert user is not None and not user.active
    # the session opened before is over too
    assert first.get("/").headers["location"].startswith("/sign-in")
    with sso.web.store.db.sessions() as session:
        open_rows = session.scalars(
            select(SignInSession).where(
                SignInSession.user_id == user.id, SignInSession.ended_at.is_(None)
            )
        ).all()
    assert open_rows == []
    refusal = sso.actions("user.sso_refused")[-1].detail
    assert refusal["groups"] == ["other-team"] and refusal["deactivated"] is True

    # a mapped group again: access again
    sso.provider.set_user("carol-sub", email="carol@example.com", groups=["sam-viewers"])
    assert sso.sign_in(sso.web.client(), "carol-sub").status_code == 303
    user = sso.user("carol-sub")
    assert user is not None and user.active and user.role == "viewer"


@pytest.mark.store
def test_no_mapped_group_gets_a_clear_403_and_no_account(sso: Sso) -> None:
    sso.provider.set_user("dave-sub", email="dave@example.com", groups=["marketing"])
    response = sso.sign_in(sso.web.client(), "dave-sub")
    assert response.status_code == 403
    assert "in no group that gives access" in response.text
    assert "Ask an administrator" in response.text
    assert sso.user("dave-sub") is None
    assert sso.actions("user.sso_refused")[-1].detail["reason"] == "no mapped group"
    # no groups claim at all: the same
    sso.provider.set_user("erin-sub", email="erin@example.com")
    assert sso.sign_in(sso.web.client(), "erin-sub").status_code == 403


@pytest.mark.store
def test_a_replayed_state_is_refused(sso: Sso) -> None:
    sso.provider.set_user("frank-sub", email="frank@example.com", groups=["sam-team"])
    client = sso.web.client()
    location = sso.begin(client)
    attempt_cookie = client.cookies.get("shelfware_sso")
    callback = callback_path(sso.provider.authorize(location, "frank-sub"))
    assert client.get(callback).status_code == 303

    # the same callback again, with the attempt's cookie put back (an attacker who captured
    # both): the state was used once and its row is gone
    assert attempt_cookie
    replay = sso.web.client()
    again = replay.get(callback, headers={"cookie": f"shelfware_sso={attempt_cookie}"})
    assert again.status_code == 400
    assert "already used" in again.text
    assert replay.get("/").headers["location"].startswith("/sign-in")  # nobody signed in
    assert "replay" in sso.actions("user.sso_refused")[-1].detail["reason"]


@pytest.mark.store
def test_a_callback_from_another_browser_is_refused(sso: Sso) -> None:
    """Login CSRF: a state begun in one browser, completed in another."""
    sso.provider.set_user("gina-sub", email="gina@example.com", groups=["sam-team"])
    location = sso.begin(sso.web.client())
    callback = callback_path(sso.provider.authorize(location, "gina-sub"))
    response = sso.web.client().get(callback)
    assert response.status_code == 400
    assert "did not start in this browser" in response.text


@pytest.mark.store
def test_a_nonce_mismatch_is_refused(sso: Sso) -> None:
    """The authorization request's nonce is swapped on its way to the (real) provider, so the
    ID token it issues names a nonce this attempt never made."""
    sso.provider.set_user("hank-sub", email="hank@example.com", groups=["sam-team"])
    client = sso.web.client()
    location = sso.begin(client)
    nonce = query_of(location)["nonce"]
    swapped = location.replace(f"nonce={nonce}", "nonce=another-attempts-nonce")
    response = client.get(callback_path(sso.provider.authorize(swapped, "hank-sub")))
    assert response.status_code == 403
    assert "nonce" in response.text
    assert sso.user("hank-sub") is None
    assert unverified_claims(sso.provider.tamper.token_answers[-1]["id_token"])["nonce"] == (
        "another-attempts-nonce"
    )


@pytest.mark.store
def test_an_expired_id_token_is_refused_and_the_skew_is_small(sso: Sso) -> None:
    """The provider issues a real token valid one hour; shelfware's clock says when."""
    sso.provider.set_user("ivy-sub", email="ivy@example.com", groups=["sam-team"])
    start = sso.web.clock.now()
    sso.web.clock.set(start + timedelta(hours=1, seconds=90))  # past exp + 60 s of skew
    response = sso.sign_in(sso.web.client(), "ivy-sub")
    assert response.status_code == 403
    assert "expired" in response.text
    assert sso.user("ivy-sub") is None

    sso.web.clock.set(start + timedelta(hours=1, seconds=30))  # within the allowed skew
    assert sso.sign_in(sso.web.client(), "ivy-sub").status_code == 303

    sso.web.clock.set(start - timedelta(minutes=5))  # issued "in the future"
    response = sso.sign_in(sso.web.client(), "ivy-sub")
    assert response.status_code == 403
    assert "not valid yet" in response.text


@pytest.mark.store
def test_an_id_token_for_another_audience_is_refused(sso: Sso) -> None:
    """Crafted (the mock always names the client that redeemed the code): the provider
    variant re-signs its token for another client with a key it publishes."""
    key = new_key()
    sso.provider.tamper.publish.append(key)
    sso.provider.tamper.key = key
    sso.provider.tamper.rewrite = lambda claims: {**claims, "aud": "some-other-app"}
    sso.provider.set_user("jack-sub", email="jack@example.com", groups=["sam-admins"])
    response = sso.sign_in(sso.web.client(), "jack-sub")
    assert response.status_code == 403
    assert "aud claim" in response.text
    assert sso.user("jack-sub") is None

    # the same variant with the right audience is accepted: the refusal was the audience
    sso.provider.tamper.rewrite = lambda claims: dict(claims)
    assert sso.sign_in(sso.web.client(), "jack-sub").status_code == 303


@pytest.mark.store
def test_a_bad_signature_is_refused(sso: Sso) -> None:
    """Crafted: the mock's token re-signed with a key the provider does not hold, under the
    key id of the provider's own key (a forged token), then under an unpublished key id."""
    sso.provider.set_user("kim-sub", email="kim@example.com", groups=["sam-admins"])
    provider_kid = sso.provider.jwks_kids()[0]
    sso.provider.tamper.key = new_key()
    sso.provider.tamper.kid = provider_kid
    sso.provider.tamper.rewrite = lambda claims: {**claims, "sub": "kim-sub"}
    response = sso.sign_in(sso.web.client(), "kim-sub")
    assert response.status_code == 403
    assert "signature is wrong" in response.text

    sso.provider.tamper.kid = None  # the forger's own key id: not in the JWKS, even refetched
    response = sso.sign_in(sso.web.client(), "kim-sub")
    assert response.status_code == 403
    assert "does not publish" in response.text
    assert sso.user("kim-sub") is None


@pytest.mark.store
def test_a_rotated_key_is_fetched_once(sso: Sso, monkeypatch: pytest.MonkeyPatch) -> None:
    """Crafted rotation: after a first sign-in (JWKS cached), the provider variant publishes a
    new key and signs with it; shelfware refetches the JWKS on the unknown key id."""
    from shelfware.kit import oidc

    monkeypatch.setattr(oidc, "JWKS_REFETCH_SECONDS", 0.0)
    sso.provider.set_user("lee-sub", email="lee@example.com", groups=["sam-team"])
    assert sso.sign_in(sso.web.client(), "lee-sub").status_code == 303
    rotated = new_key()
    sso.provider.tamper.publish.append(rotated)
    sso.provider.tamper.key = rotated
    sso.provider.tamper.rewrite = lambda claims: dict(claims)
    assert sso.sign_in(sso.web.client(), "lee-sub").status_code == 303


@pytest.mark.store
def test_local_login_off_leaves_only_break_glass(
    web: Web, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    sso = make_sso(web, provider, local_login=False, break_glass="admin, nobody")
    client = sso.web.client()
    page = client.get("/sign-in").text
    assert "Sign in with Test IdP" in page
    assert "Break-glass sign-in" in page
    assert page.count('name="password"') == 1  # only the break-glass form's
    token = csrf_of(page)

    refused = client.post(
        "/sign-in", data={"username": "viewer", "password": PASSWORD, "csrf_token": token}
    )
    assert refused.status_code == 403
    assert "Local passwords are off" in refused.text
    assert "shelfware_session" not in refused.headers.get("set-cookie", "") or (
        client.get("/").status_code == 303
    )
    assert client.get("/").headers["location"].startswith("/sign-in")

    with caplog.at_level(logging.WARNING, logger="shelfware.accounts.sessions"):
        allowed = client.post(
            "/sign-in", data={"username": "admin", "password": PASSWORD, "csrf_token": token}
        )
    assert allowed.status_code == 303
    assert client.get("/").status_code == 200
    warning = sso.actions("user.break_glass_sign_in")[-1].detail
    assert warning["level"] == "warning" and warning["username"] == "admin"
    assert any("break-glass" in r.getMessage() for r in caplog.records)
    failed = [e.detail for e in sso.actions("user.sign_in_failed")]
    assert [(f["username"], "local sign-in is off" in f["reason"]) for f in failed] == [
        ("viewer", True)
    ]


@pytest.mark.store
def test_sign_out_ends_the_provider_session_too(sso: Sso) -> None:
    sso.provider.set_user("mia-sub", email="mia@example.com", groups=["sam-team"])
    client = sso.web.client()
    assert sso.sign_in(client, "mia-sub").status_code == 303
    token = csrf_of(client.get("/").text)
    out = client.post("/sign-out", data={"csrf_token": token})
    assert out.status_code == 303
    location = out.headers["location"]
    assert location.startswith(sso.provider.url + "/oauth2/end_session?")
    asked = query_of(location)
    assert asked["post_logout_redirect_uri"] == "https://testserver/sign-in"
    assert unverified_claims(asked["id_token_hint"])["sub"] == "mia-sub"
    assert client.get("/").headers["location"].startswith("/sign-in")

    # a local user's sign-out stays on shelfware
    local = sso.web.client()
    csrf = csrf_of(local.get("/sign-in").text)
    local.post("/sign-in", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf})
    out = local.post("/sign-out", data={"csrf_token": csrf_of(local.get("/").text)})
    assert out.headers["location"] == "/sign-in"


def test_without_an_issuer_there_is_no_sso(web: Web) -> None:
    client = web.client()
    assert "Sign in with" not in client.get("/sign-in").text
    assert client.get("/sso/login").status_code == 404
    assert client.get("/sso/callback?state=x&code=y").status_code == 404


def test_role_map_parsing_and_the_highest_role() -> None:
    mapping = parse_role_map(ROLE_MAP)
    assert role_for_groups(["sam-viewers", "sam-team"], mapping) is Role.SAM_MANAGER
    assert role_for_groups("sam-admins", mapping) is Role.ADMIN
    assert role_for_groups(["x"], mapping) is None
    assert role_for_groups(None, mapping) is None
    for bad in ("sam-admins", "a=root", "a=admin,a=viewer", "=admin"):
        with pytest.raises(ValueError):
            parse_role_map(bad)
    with pytest.raises(ValueError):
        Settings(sso_role_map="a=superuser")


def test_the_client_secret_never_shows(provider: Provider) -> None:
    from shelfware.web.pages.sso import sign_in_policy

    policy = sign_in_policy(sso_settings(provider))
    assert policy.oidc is not None
    assert CLIENT_SECRET not in repr(policy) and CLIENT_SECRET not in repr(policy.oidc)
    settings = sso_settings(provider)
    assert CLIENT_SECRET not in repr(settings) and CLIENT_SECRET not in str(settings.model_dump())


def test_local_users_and_sso_users_coexist(db: Database, keys: KeyRing, provider: Provider) -> None:
    """A local user named like the SSO person keeps their account; the SSO user gets a
    suffixed name (never matched by name: only issuer + sub)."""
    from shelfware.accounts.schemas import UserCreate
    from shelfware.kit.clock import FrozenClock

    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    with db.transaction() as session:
        accounts.create_user(
            session, clock, UserCreate(username="nora", password=PASSWORD, role=Role.ADMIN)
        )
    store = Store(db=db, keys=keys)
    app = create_app(sso_settings(provider), store=store, clock=clock)
    sso = Sso(Web(app=app, store=store, clock=clock), provider)
    provider.set_user("nora-sub", preferred_username="nora", groups=["sam-viewers"])
    assert sso.sign_in(sso.web.client(), "nora-sub").status_code == 303
    user = sso.user("nora-sub")
    assert user is not None and user.username.startswith("nora~") and user.role == "viewer"
    with db.sessions() as session:
        assert accounts.get_user(session, "nora").role == Role.ADMIN


@pytest.mark.store
def test_the_role_matrix_holds_for_sso_users(sso: Sso) -> None:
    """Every page of the route table, read by a user of each role created by single sign-on:
    the same matrix as for local users (the POSTs share the same guard: the local matrix test
    covers them)."""
    from shelfware.accounts.roles import allows
    from shelfware.web.routes import ROUTES

    groups = {
        Role.ADMIN: ["sam-admins"],
        Role.SAM_MANAGER: ["sam-team"],
        Role.VIEWER: ["sam-viewers"],
    }
    checked = 0
    for role, member_of in groups.items():
        sub = f"matrix-{role.value}"
        sso.provider.set_user(sub, email=f"{role.value}@example.com", groups=member_of)
        client = sso.web.client()
        assert sso.sign_in(client, sub).status_code == 303
        for route in ROUTES:
            if route.method != "GET" or route.permission is None or "{" in route.path:
                continue
            response = client.get(route.path)
            where = f"GET {route.path} as SSO {role.value}"
            if allows(role, route.permission):
                assert response.status_code not in (401, 403), where
                assert response.status_code < 500, where
            else:
                assert response.status_code == 403, where
            checked += 1
    assert checked >= 3 * 8
    # the two SSO routes are open to visitors, like /sign-in
    table = {(r.method, r.path): r.permission for r in ROUTES}
    assert table[("GET", "/sso/login")] is None and table[("GET", "/sso/callback")] is None


@pytest.mark.store
def test_open_attempts_are_bounded(sso: Sso, monkeypatch: pytest.MonkeyPatch) -> None:
    """/sso/login is open to anyone: its rows are bounded, and expire."""
    from shelfware.accounts import sso as domain

    monkeypatch.setattr(domain.begin_attempt, "__kwdefaults__", {"limit": 3})
    client = sso.web.client()
    for _ in range(3):
        assert client.get("/sso/login").status_code == 303
    busy = client.get("/sso/login")
    assert busy.status_code == 429 and "try again" in busy.text
    sso.web.clock.advance(domain.ATTEMPT_LIFETIME + timedelta(seconds=1))
    assert client.get("/sso/login").status_code == 303


@pytest.mark.store
def test_next_stays_on_this_site(sso: Sso) -> None:
    sso.provider.set_user("olga-sub", email="olga@example.com", groups=["sam-team"])
    response = sso.sign_in(sso.web.client(), "olga-sub", next_path="//evil.example/x")
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_a_provider_that_cannot_be_reached_is_a_clear_page(web: Web) -> None:
    import socket

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    web.clock.set(datetime.now(UTC))
    settings = Settings(
        oidc_issuer=f"http://127.0.0.1:{port}",
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        sso_role_map=ROLE_MAP,
    )
    app = create_app(settings, store=web.store, clock=web.clock)
    response = Web(app=app, store=web.store, clock=web.clock).client().get("/sso/login")
    assert response.status_code == 502
    assert "discovery document could not be fetched" in response.text
    assert CLIENT_SECRET not in response.text


def test_the_redirect_uri_follows_the_public_url(web: Web, provider: Provider) -> None:
    sso = make_sso(web, provider, public_url="https://sam.example.com/")
    asked = query_of(sso.begin(sso.web.client()))
    assert asked["redirect_uri"] == "https://sam.example.com/sso/callback"
    plain = make_sso(web, provider)  # not set: the request's own address
    assert query_of(plain.begin(plain.web.client()))["redirect_uri"] == (
        "https://testserver/sso/callback"
    )
