"""The Asana sandbox's OAuth 2.0 server over HTTP: code with PKCE, refresh rotation, revocation."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shelfware.sandbox.asana_oauth import CLIENT_ID, CLIENT_SECRET, DENIED_CLIENT_ID

from .test_asana_http import AsanaServer, StartAsana, errors_of, start_asana

__all__ = ["start_asana"]

REDIRECT = "http://127.0.0.1:53682/callback"


@pytest.fixture
def asana(start_asana: StartAsana) -> AsanaServer:
    return start_asana(users=30, seed=8)


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(asana: AsanaServer, client_id: str = CLIENT_ID, **extra: str) -> dict[str, str]:
    """Run the authorize step; the query of the redirect (or the error page's text)."""
    params = {
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "state": "st-42",
        "scope": "default",
        **extra,
    }
    r = httpx.get(asana.url + "/-/oauth_authorize", params=params)
    if r.status_code != 302:
        return {"status": str(r.status_code), "text": r.text}
    location = r.headers["location"]
    assert location.startswith(params["redirect_uri"].split("?")[0] + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def token(asana: AsanaServer, auth: tuple[str, str] | None = None, **form: str) -> httpx.Response:
    if auth is None:
        form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}
    return httpx.post(asana.url + "/-/oauth_token", data=form, auth=auth)


def exchange(asana: AsanaServer, verifier: str) -> httpx.Response:
    code = authorize(asana, code_challenge=challenge(verifier), code_challenge_method="S256")[
        "code"
    ]
    return token(
        asana,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )


def me(asana: AsanaServer, access: str) -> httpx.Response:
    with asana.client(access) as c:
        return c.get("/users/me")


def test_full_flow_with_pkce(asana: AsanaServer) -> None:
    verifier = secrets.token_urlsafe(48)
    grant = authorize(asana, code_challenge=challenge(verifier), code_challenge_method="S256")
    assert grant["state"] == "st-42" and grant["code"]
    r = token(
        asana,
        grant_type="authorization_code",
        code=grant["code"],
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    owner = asana.org.owner
    assert body["expires_in"] == 3600 and body["token_type"] == "bearer"
    assert body["refresh_token"] and body["access_token"] != asana.org.api_key
    assert body["data"] == {
        "id": int(owner.gid),
        "gid": owner.gid,
        "name": owner.name,
        "email": owner.email,
    }
    assert me(asana, body["access_token"]).json()["data"]["gid"] == owner.gid
    # The code is single-use; replaying it also revokes what it issued.
    again = token(
        asana,
        grant_type="authorization_code",
        code=grant["code"],
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert me(asana, body["access_token"]).status_code == 401


def test_pkce_mismatch_and_missing_verifier(asana: AsanaServer) -> None:
    verifier = secrets.token_urlsafe(48)
    for wrong in ({"code_verifier": secrets.token_urlsafe(48)}, {}):
        code = authorize(asana, code_challenge=challenge(verifier), code_challenge_method="S256")[
            "code"
        ]
        r = token(asana, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, **wrong)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        assert "PKCE" in r.json()["error_description"]
    plain = authorize(asana, code_challenge=verifier, code_challenge_method="plain")
    assert plain["error"] == "invalid_request" and plain["state"] == "st-42"


def test_wrong_secret_unknown_client_and_bad_redirect(asana: AsanaServer) -> None:
    verifier = secrets.token_urlsafe(48)
    code = authorize(asana, code_challenge=challenge(verifier), code_challenge_method="S256")[
        "code"
    ]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    wrong = token(asana, client_secret="guess", **form)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    basic_wrong = token(asana, auth=(CLIENT_ID, "guess"), **form)
    assert basic_wrong.status_code == 401
    # The code survived the failed client authentications; HTTP Basic works too.
    ok = token(asana, auth=(CLIENT_ID, CLIENT_SECRET), code_verifier=verifier, **form)
    assert ok.status_code == 200
    assert authorize(asana, client_id="999")["status"] == "400"
    elsewhere = authorize(asana, redirect_uri="https://evil.example/cb")
    assert elsewhere["status"] == "400" and "redirect_uri" in elsewhere["text"]
    loopback = authorize(asana, redirect_uri="http://localhost:40001/cb?x=1")
    assert loopback["x"] == "1" and loopback["code"]  # any loopback port (RFC 8252)


def test_denied_consent(asana: AsanaServer) -> None:
    assert authorize(asana, client_id=DENIED_CLIENT_ID)["error"] == "access_denied"
    asana.sandbox.oauth.consent = "deny"
    denied = authorize(asana)
    assert denied["error"] == "access_denied" and denied["state"] == "st-42"
    assert "code" not in denied


def test_refresh_rotates_and_access_tokens_expire(asana: AsanaServer) -> None:
    first = exchange(asana, secrets.token_urlsafe(48)).json()
    asana.sandbox.clock.advance(3600)
    expired = me(asana, first["access_token"])
    assert expired.status_code == 401 and "expired" in errors_of(expired)[0]["message"]
    second = token(asana, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    new = second.json()
    assert new["refresh_token"] != first["refresh_token"] and new["expires_in"] == 3600
    assert me(asana, new["access_token"]).status_code == 200
    reused = token(asana, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_configurable_lifetime(start_asana: StartAsana) -> None:
    asana = start_asana(users=10, access_token_ttl=60)
    body = exchange(asana, secrets.token_urlsafe(48)).json()
    assert body["expires_in"] == 60
    asana.sandbox.clock.advance(61)
    assert me(asana, body["access_token"]).status_code == 401


def test_revoked_refresh_token(asana: AsanaServer) -> None:
    first = exchange(asana, secrets.token_urlsafe(48)).json()
    other = exchange(asana, secrets.token_urlsafe(48)).json()
    r = httpx.post(
        asana.url + "/-/oauth_revoke",
        data={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token": first["refresh_token"],
        },
    )
    assert r.status_code == 200
    refused = token(asana, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert me(asana, first["access_token"]).status_code == 401
    # Another grant is untouched; revoking in-process works the same way.
    assert me(asana, other["access_token"]).status_code == 200
    assert asana.sandbox.oauth.revoke(other["refresh_token"])
    assert (
        token(asana, grant_type="refresh_token", refresh_token=other["refresh_token"]).status_code
        == 400
    )
