"""`CertificateAssertion`: a client proves who it is with a certificate instead of a secret.

RFC 7523 section 2.2 (a JWT as the client's authentication), the way the Microsoft identity
platform asks for it: the token request carries
`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and
`client_assertion`, a JWT signed RS256 with the certificate's private key, its header naming the
certificate by thumbprint (`x5t`: SHA-1, base64url; `x5t#S256`: SHA-256), its claims `aud` (the
token endpoint), `iss` = `sub` (the client id), `jti`, `nbf`, `exp` (ten minutes). The PEM holds
the private key and the certificate (as exported for an app registration).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shelfware.connectors.base import ConnectorError
from shelfware.connectors.toolkit.auth import RenewedToken, request_token

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LIFETIME = 600  # seconds


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def is_pem_credential(value: str) -> bool:
    """Whether a secret is a PEM (a private key and certificate) rather than a client secret."""
    return value.lstrip().startswith("-----BEGIN")


class CertificateAssertion:
    """Client assertions for one client id, signed with a certificate's RSA key."""

    def __init__(self, pem: str, client_id: str, *, clock: Callable[[], float] = time.time) -> None:
        data = pem.encode()
        try:
            key = serialization.load_pem_private_key(data, password=None)
            certificate = x509.load_pem_x509_certificate(data)
        except (ValueError, TypeError):
            raise ConnectorError(
                "the certificate credential must be a PEM holding an unencrypted RSA private "
                "key and its certificate"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConnectorError("the certificate's private key must be RSA (RS256)")
        self.key = key
        self.client_id = client_id
        self.clock = clock
        self.x5t = b64url(certificate.fingerprint(hashes.SHA1()))
        self.x5t_s256 = b64url(certificate.fingerprint(hashes.SHA256()))

    def __call__(self, audience: str) -> str:
        """A fresh assertion for the token endpoint `audience`."""
        now = int(self.clock())
        header = {"alg": "RS256", "typ": "JWT", "x5t": self.x5t, "x5t#S256": self.x5t_s256}
        claims = {
            "aud": audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": str(uuid.uuid4()),
            "nbf": now,
            "iat": now,
            "exp": now + LIFETIME,
        }
        signing = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{b64url(signature)}"


class JwtBearerGrant(RenewedToken):
    """A `TokenSource`: access tokens from the JWT bearer grant (RFC 7523 section 2.1), as a
    service account gets them (Google): `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`
    and a fresh signed `assertion` (made by `make_assertion`, e.g. with google-auth); no client
    authentication. Renewed a minute before it expires."""

    def __init__(
        self,
        token_url: str,
        make_assertion: Callable[[], str],
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.token_url = token_url
        self.make_assertion = make_assertion
        self._http = http
        self._given = list(secrets)
        super().__init__(clock)

    def secrets(self) -> list[str]:
        return [*self._given, *self._issued]

    async def _fetch(self) -> None:
        assertion = self.make_assertion()
        payload = await request_token(
            self._http,
            self.token_url,
            {"grant_type": JWT_BEARER_GRANT, "assertion": assertion},
            client_id="",
            client_secret=None,
        )
        self._keep(payload)


class BackoffOnQuota(httpx.Auth):
    """Wraps an authenticator: answers the vendor calls "quota" (Google's 403
    `rateLimitExceeded` / `userRateLimitExceeded`, which the HTTP client cannot tell from a
    refusal by status alone) are retried after an exponential backoff with jitter
    (`min(cap, base * 2**n) + random * base`, Google's guidance), at most `retries` times."""

    def __init__(
        self,
        inner: httpx.Auth,
        is_quota: Callable[[httpx.Response], bool],
        *,
        retries: int = 5,
        base: float = 1.0,
        cap: float = 32.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.inner = inner
        self.is_quota = is_quota
        self.retries = retries
        self.base = base
        self.cap = cap
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.waited = 0.0
        self.backoffs = 0

    def secrets(self) -> list[str]:
        found = getattr(self.inner, "secrets", None)
        return list(found()) if callable(found) else []

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, Any, None]:
        raise RuntimeError("shelfware authenticators are for the async client only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        for attempt in range(self.retries + 1):
            flow = self.inner.async_auth_flow(request)
            outgoing = await flow.__anext__()
            while True:
                response = yield outgoing
                await response.aread()  # `is_quota` reads the body
                try:
                    outgoing = await flow.asend(response)
                except StopAsyncIteration:
                    break
            if attempt == self.retries or not self.is_quota(response):
                return
            delay = min(self.cap, self.base * 2**attempt) + self.rng.random() * self.base
            self.waited += delay
            self.backoffs += 1
            await self.sleep(delay)
