"""A real OpenID provider for the single sign-on tests: ``oidc-provider-mock`` (PyPI; Flask +
Authlib's authorization server: discovery, authorize, token, JWKS, end-session), served on a
loopback port in a thread.

One thin layer around it, :class:`Tamper`, exists because the mock always issues correct ID
tokens: it cannot be told to sign with a wrong key or to name another audience. When a test
sets ``tamper.rewrite``, the ID token of the provider's token answer has its claims rewritten
and is signed again with ``tamper.key`` (a key the test made), and ``tamper.publish`` adds
public keys to the provider's JWKS. Everything else (the consent, the code, PKCE, the token
endpoint's client authentication, the mock's own signed tokens) is the real provider's.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import oidc_provider_mock
import werkzeug.serving
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.wrappers import Request, Response

CLIENT_ID = "shelfware-test"
CLIENT_SECRET = "oidc-client-secret-never-shown"


@dataclass
class Tamper:
    """What the provider variant changes (nothing by default: the mock as it is),
    and what it saw of the token requests (the mock does not check PKCE: the tests do)."""

    rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    key: RSAKey | None = None
    kid: str | None = None  # the header's kid (None: the key's own)
    publish: list[RSAKey] = field(default_factory=list)
    token_answers: list[dict[str, Any]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)  # the forms, as sent

    def __call__(self, inner: Any) -> Any:
        def app(environ: dict[str, Any], start_response: Any) -> Any:
            request = Request(environ)
            if request.path == "/oauth2/token":
                sent = request.get_data()
                environ["wsgi.input"] = io.BytesIO(sent)  # for the provider to read again
                form = parse_qs(sent.decode())
                self.token_requests.append({k: v[0] for k, v in form.items()})
            response = Response.from_app(inner, environ)
            if request.path == "/jwks" and self.publish:
                document = json.loads(response.get_data())
                document["keys"] += [k.as_dict(private=False) for k in self.publish]
                response.set_data(json.dumps(document))
            elif request.path == "/oauth2/token" and response.status_code == 200:
                answer = json.loads(response.get_data())
                if self.rewrite is not None and "id_token" in answer:
                    assert self.key is not None
                    claims = self.rewrite(unverified_claims(answer["id_token"]))
                    header = {"alg": "RS256", "kid": self.kid or self.key.kid}
                    answer["id_token"] = jwt.encode(header, claims, self.key)
                    response.set_data(json.dumps(answer))
                self.token_answers.append(answer)
            return response(environ, start_response)

        return app


def unverified_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def new_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)


@dataclass
class Provider:
    url: str  # the issuer
    tamper: Tamper

    def set_user(self, sub: str, **claims: Any) -> None:
        """The claims of ``sub`` from the next authorization on (groups included)."""
        httpx.put(f"{self.url}/users/{sub}", json=claims).raise_for_status()

    def authorize(self, authorization_url: str, sub: str) -> str:
        """Consent as ``sub`` (the mock's form) and return where the provider redirects: the
        relying party's callback with ``code`` and ``state``."""
        assert authorization_url.startswith(self.url + "/oauth2/authorize?"), authorization_url
        response = httpx.post(authorization_url, data={"sub": sub})
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert "code=" in location, location
        return location

    def jwks_kids(self) -> list[str]:
        return [k["kid"] for k in httpx.get(self.url + "/jwks").json()["keys"]]


def callback_path(location: str) -> str:
    """The path and query of the provider's redirect (for the in-process client)."""
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@contextmanager
def running_provider() -> Iterator[Provider]:
    tamper = Tamper()
    app = oidc_provider_mock.app()
    app.wsgi_app = tamper(app.wsgi_app)  # type: ignore[method-assign]
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Provider(url=f"http://127.0.0.1:{server.server_port}", tamper=tamper)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
