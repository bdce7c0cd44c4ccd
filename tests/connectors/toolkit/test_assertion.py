"""Kit pieces for issue 21 against a real local token endpoint and API (loopback HTTP): how a
client authenticates to a token endpoint (`client_auth`), certificate client assertions and the
JWT bearer grant (RFC 7523), and `BackoffOnQuota`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shelfware.connectors.base import ConnectorError
from shelfware.connectors.toolkit import BearerAuth, OAuth2ClientCredentials
from shelfware.connectors.toolkit.assertion import (
    JWT_BEARER,
    JWT_BEARER_GRANT,
    BackoffOnQuota,
    CertificateAssertion,
    JwtBearerGrant,
)
from shelfware.sandbox.server import RunningServer, serve_in_thread


@dataclass
class Echo:
    server: RunningServer
    forms: list[dict[str, str]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)  # 403 reasons /api answers next

    @property
    def token_url(self) -> str:
        return f"{self.server.url}/token"


@pytest.fixture
def echo() -> Iterator[Echo]:
    holder: dict[str, Echo] = {}

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        holder["echo"].forms.append(form)
        holder["echo"].headers.append(dict(request.headers))
        return JSONResponse(
            {"access_token": f"token-{len(holder['echo'].forms)}", "expires_in": 3600}
        )

    async def api(request: Request) -> Response:
        answers = holder["echo"].answers
        if answers:
            body = {"error": {"code": 403, "errors": [{"reason": answers.pop(0)}]}}
            return JSONResponse(body, status_code=403)
        return JSONResponse({"ok": True, "auth": request.headers.get("authorization")})

    app = Starlette(routes=[Route("/token", token, methods=["POST"]), Route("/api", api)])
    with serve_in_thread(app) as server:
        holder["echo"] = Echo(server)
        yield holder["echo"]


@pytest.mark.parametrize(
    ("mode", "in_form", "in_header"),
    [("both", True, True), ("post", True, False), ("basic", False, True)],
)
async def test_client_auth_modes(echo: Echo, mode: str, in_form: bool, in_header: bool) -> None:
    source = OAuth2ClientCredentials(echo.token_url, "app", "s3cret", scope="x", client_auth=mode)
    assert await source.token() == "token-1"
    form, headers = echo.forms[0], echo.headers[0]
    assert ("client_secret" in form) == in_form
    assert ("authorization" in headers) == in_header
    if in_header:
        assert base64.b64decode(headers["authorization"][6:]) == b"app:s3cret"


def certificate() -> tuple[str, Any]:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lab")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + cert.public_bytes(serialization.Encoding.PEM)
    return pem.decode(), cert


async def test_a_certificate_assertion_replaces_the_secret(echo: Echo) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    pem, cert = certificate()
    source = OAuth2ClientCredentials(
        echo.token_url,
        "app",
        pem,
        scope="x",
        client_auth="post",
        assertion=CertificateAssertion(pem, "app"),
    )
    await source.token()
    form, headers = echo.forms[0], echo.headers[0]
    assert "client_secret" not in form and "authorization" not in headers
    assert form["client_assertion_type"] == JWT_BEARER and form["client_id"] == "app"
    head, body, signature = form["client_assertion"].split(".")
    pad = lambda text: base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))  # noqa: E731
    claims = json.loads(pad(body))
    assert claims["aud"] == echo.token_url and claims["iss"] == claims["sub"] == "app"
    assert (
        json.loads(pad(head))["x5t"]
        == base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode()
    )
    cert.public_key().verify(
        pad(signature), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_a_pem_without_a_key_is_refused() -> None:
    with pytest.raises(ConnectorError, match="PEM"):
        CertificateAssertion("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----", "a")


async def test_the_jwt_bearer_grant_sends_only_the_assertion(echo: Echo) -> None:
    made: list[int] = []

    def assertion() -> str:
        made.append(1)
        return f"signed-{len(made)}"

    grant = JwtBearerGrant(echo.token_url, assertion)
    assert await grant.token() == "token-1"
    assert await grant.token() == "token-1"  # cached until it expires
    assert echo.forms == [{"grant_type": JWT_BEARER_GRANT, "assertion": "signed-1"}]
    assert "authorization" not in echo.headers[0]
    assert await grant.refresh() == "token-2" and len(made) == 2
    assert "token-2" in grant.secrets()


def quota(response: httpx.Response) -> bool:
    if response.status_code != 403:
        return False
    errors = response.json()["error"]["errors"]
    return any(e["reason"] == "rateLimitExceeded" for e in errors)


async def test_backoff_on_quota_retries_quota_only(echo: Echo) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    auth = BackoffOnQuota(BearerAuth("t"), quota, retries=3, base=0.5, cap=1.0, sleep=sleep)
    async with httpx.AsyncClient(auth=auth) as client:
        echo.answers = ["rateLimitExceeded", "forbidden"]  # a quota, then a refusal
        refused = await client.get(f"{echo.server.url}/api")
        assert refused.status_code == 403 and auth.backoffs == 1
        echo.answers = ["rateLimitExceeded"] * 8  # quota every time
        gave_up = await client.get(f"{echo.server.url}/api")
    assert gave_up.status_code == 403 and auth.backoffs == 1 + 3
    # exponential, capped, with jitter below the base
    assert 0.5 <= waits[1] < 1.0 and 1.0 <= waits[2] < 1.5 and 1.0 <= waits[3] < 1.5
    assert auth.secrets() == ["t"]
