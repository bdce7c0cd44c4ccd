"""The Asana sandbox's OAuth 2.0 authorization server (authorization code with PKCE S256).

``GET /-/oauth_authorize`` approves at once (no login page) for the user ``approving_user`` and
redirects to ``redirect_uri`` with ``code`` and ``state``; with ``consent = "deny"``, or for the
registered client :data:`DENIED_CLIENT_ID`, it redirects with ``error=access_denied``.
``POST /-/oauth_token`` exchanges codes and refresh tokens (client credentials in the form or
HTTP Basic); refresh tokens rotate, a used or revoked one answers ``invalid_grant``.
``POST /-/oauth_revoke`` (form ``token``, client credentials) revokes a refresh token and the
access tokens issued from it. Redirect URIs: exact match with a registered one, or any port on
a loopback host (RFC 8252 section 7.3).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

CLIENT_ID = "1200000000000001"
CLIENT_SECRET = "sandbox-client-secret"
DENIED_CLIENT_ID = "1200000000000002"  # a registered client whose consent is always denied
CODE_TTL = timedelta(minutes=10)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclass
class Client:
    client_id: str
    secret: str
    redirect_uris: list[str]


@dataclass
class Grant:
    """An authorization code or a refresh token, bound to a client and a user."""

    client_id: str
    user_gid: str
    scope: str
    expires_at: datetime | None = None
    redirect_uri: str = ""
    code_challenge: str | None = None
    used: bool = False
    access_tokens: list[str] = field(default_factory=list)


@dataclass
class AccessToken:
    user_gid: str
    expires_at: datetime
    revoked: bool = False


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status)


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (parsed here: no python-multipart)."""
    body = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _with_query(uri: str, params: dict[str, str]) -> str:
    return uri + ("&" if urlsplit(uri).query else "?") + urlencode(params)


class AuthorizationServer:
    """Clients, codes, refresh and access tokens; times come from ``clock``."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        user_info: Callable[[str], dict[str, Any]],
        approving_user: str,
        access_token_ttl: float = 3600,
    ) -> None:
        self.clock = clock
        self.user_info = user_info
        self.approving_user = approving_user
        self.access_token_ttl = access_token_ttl
        self.consent = "approve"  # or "deny"
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.register(CLIENT_ID, CLIENT_SECRET, ["http://127.0.0.1/callback"])
        self.register(DENIED_CLIENT_ID, CLIENT_SECRET, ["http://127.0.0.1/callback"])

    def register(self, client_id: str, secret: str, redirect_uris: list[str]) -> Client:
        client = Client(client_id, secret, redirect_uris)
        self.clients[client_id] = client
        return client

    def user_for(self, token: str) -> tuple[str | None, str | None]:
        """(user gid, None) for a live access token, else (None, why)."""
        access = self.access_tokens.get(token)
        if access is None:
            return None, None
        if access.revoked:
            return None, "The OAuth access token has been revoked."
        if self.clock() >= access.expires_at:
            return None, "The OAuth access token has expired: refresh it."
        return access.user_gid, None

    def revoke(self, refresh_token: str) -> bool:
        """Revoke a refresh token and the access tokens issued with it."""
        grant = self.refresh_tokens.pop(refresh_token, None)
        if grant is None:
            return False
        for token in grant.access_tokens:
            if token in self.access_tokens:
                self.access_tokens[token].revoked = True
        return True

    def _redirect_ok(self, client: Client, uri: str) -> bool:
        if uri in client.redirect_uris:
            return True
        parts = urlsplit(uri)
        return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        client = self.clients.get(q.get("client_id", ""))
        if client is None:
            return PlainTextResponse("Unknown client_id: the app is not registered.", 400)
        redirect_uri = q.get("redirect_uri", "")
        if not self._redirect_ok(client, redirect_uri):
            msg = "redirect_uri does not match one registered for this app."
            return PlainTextResponse(msg, 400)
        state = q.get("state")

        def back(**params: str) -> Response:
            if state is not None:
                params["state"] = state
            return RedirectResponse(_with_query(redirect_uri, params), 302)

        if q.get("response_type") != "code":
            return back(error="unsupported_response_type", error_description="use code")
        challenge = q.get("code_challenge")
        method = q.get("code_challenge_method")
        if challenge is not None and method != "S256":
            return back(error="invalid_request", error_description="code_challenge_method: S256")
        if challenge is None and method is not None:
            return back(error="invalid_request", error_description="code_challenge is missing")
        if self.consent == "deny" or client.client_id == DENIED_CLIENT_ID:
            return back(error="access_denied", error_description="The user denied access.")
        code = secrets.token_urlsafe(24)
        self.codes[code] = Grant(
            client_id=client.client_id,
            user_gid=self.approving_user,
            scope=q.get("scope", "default"),
            expires_at=self.clock() + CODE_TTL,
            redirect_uri=redirect_uri,
            code_challenge=challenge,
        )
        return back(code=code)

    def _client(self, request: Request, form: dict[str, str]) -> Client | None:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(auth[6:]).decode()
            except ValueError:
                return None
            client_id, _, secret = decoded.partition(":")
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(client.secret, secret):
            return None
        return client

    def _issue(self, grant: Grant) -> Response:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = self.clock() + timedelta(seconds=self.access_token_ttl)
        self.access_tokens[access] = AccessToken(grant.user_gid, expires)
        self.refresh_tokens[refresh] = Grant(grant.client_id, grant.user_gid, grant.scope)
        self.refresh_tokens[refresh].access_tokens.append(access)
        grant.access_tokens.append(access)
        return JSONResponse(
            {
                "access_token": access,
                "expires_in": int(self.access_token_ttl),
                "token_type": "bearer",
                "refresh_token": refresh,
                "data": self.user_info(grant.user_gid),
            },
            headers={"Cache-Control": "no-store"},
        )

    async def token(self, request: Request) -> Response:
        form = await _form(request)
        client = self._client(request, form)
        if client is None:
            return _oauth_error("invalid_client", "Unknown client or wrong client secret.", 401)
        kind = form.get("grant_type")
        if kind == "authorization_code":
            return self._exchange_code(client, form)
        if kind == "refresh_token":
            grant = self.refresh_tokens.get(form.get("refresh_token", ""))
            if grant is None or grant.client_id != client.client_id:
                return _oauth_error("invalid_grant", "The refresh token is invalid or revoked.")
            del self.refresh_tokens[form["refresh_token"]]  # rotation: each is single-use
            return self._issue(grant)
        return _oauth_error("unsupported_grant_type", f"grant_type {kind!r} is not supported.")

    def _exchange_code(self, client: Client, form: dict[str, str]) -> Response:
        grant = self.codes.get(form.get("code", ""))
        if grant is None or grant.client_id != client.client_id:
            return _oauth_error("invalid_grant", "The authorization code is invalid.")
        if grant.used:
            for token in grant.access_tokens:  # a replayed code revokes what it issued
                self.access_tokens[token].revoked = True
            return _oauth_error("invalid_grant", "The authorization code was already used.")
        grant.used = True
        if grant.expires_at is not None and self.clock() >= grant.expires_at:
            return _oauth_error("invalid_grant", "The authorization code has expired.")
        if form.get("redirect_uri", "") != grant.redirect_uri:
            return _oauth_error("invalid_grant", "redirect_uri differs from the authorization.")
        if grant.code_challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                return _oauth_error("invalid_grant", "code_verifier is missing (PKCE).")
            if not secrets.compare_digest(_s256(verifier), grant.code_challenge):
                return _oauth_error("invalid_grant", "code_verifier does not match (PKCE).")
        return self._issue(grant)

    async def revoke_endpoint(self, request: Request) -> Response:
        form = await _form(request)
        if self._client(request, form) is None:
            return _oauth_error("invalid_client", "Unknown client or wrong client secret.", 401)
        self.revoke(form.get("token", ""))
        return Response(status_code=200)
