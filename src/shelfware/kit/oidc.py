"""An OpenID Connect relying party: authorization code with PKCE, ID tokens verified.

- Discovery: ``{issuer}/.well-known/openid-configuration``, cached (``DISCOVERY_SECONDS``);
  the document must name the same issuer.
- Authorization: Authlib's OAuth 2 parameters (RFC 6749, RFC 7636) build the request
  (``response_type=code``, the S256 code challenge of the caller's verifier, its ``state``
  and ``nonce``) and the token request (the code, the verifier; the client secret by HTTP
  Basic), sent with the guarded httpx client. (Authlib's own httpx integration is not used:
  it now wants the ``httpx2`` package and warns on every import.)
- The ID token (joserfc, the JOSE library Authlib builds on): its signature against the
  provider's JWKS (asymmetric algorithms only; a key id the cached JWKS lacks makes one
  refetch: key rotation), then ``iss``, ``aud`` (and ``azp`` when several audiences),
  ``exp``, ``iat``, ``nbf`` with ``LEEWAY`` seconds of clock skew, ``sub`` and the
  attempt's ``nonce``.
- Every request to the provider goes through kit/netguard (public addresses only, unless
  ``SHELFWARE_ALLOW_PRIVATE_URLS``).

Errors are :class:`OidcError`, one line for the person signing in and the audit trail,
never a token or the client secret.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from shelfware.kit.netguard import GuardedTransport, guarded_async_client, is_loopback_host

DISCOVERY_SECONDS = 3600.0
JWKS_REFETCH_SECONDS = 10.0  # an unknown key id refetches the JWKS at most this often
LEEWAY = 60  # seconds of clock skew allowed on exp, iat and nbf
TIMEOUT = 15.0
MAX_DOCUMENT = 512 * 1024
# Only asymmetric signatures: an HMAC ID token would be keyed with the client secret.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


class OidcError(Exception):
    """The sign-in through the provider failed; the message says why (one line)."""


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    algorithms: tuple[str, ...]


def check_issuer(issuer: str) -> str:
    """The issuer URL: https, or http on a loopback host (a provider on this machine)."""
    parts = urlsplit(issuer)
    if not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"the OIDC issuer {issuer!r} is not a URL")
    if parts.scheme != "https" and not (
        parts.scheme == "http" and is_loopback_host(parts.hostname)
    ):
        raise ValueError(f"the OIDC issuer {issuer!r} must use https")
    return issuer


def _url(document: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise OidcError(f"the provider's discovery document has no usable {name}")
    return value


class OidcClient:
    """One provider and shelfware's client there (see the module's description)."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        scopes: str,
        *,
        now: Callable[[], float] = time.time,
        transport: Callable[[], httpx.AsyncBaseTransport] = GuardedTransport,
    ) -> None:
        self.issuer = check_issuer(issuer)
        self.client_id = client_id
        self._secret = client_secret
        self.scopes = scopes
        self._now = now
        self._transport = transport
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._jwks: tuple[float, KeySet] | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:  # never the secret
        return f"OidcClient(issuer={self.issuer!r}, client_id={self.client_id!r})"

    # --- documents -----------------------------------------------------------------------

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            async with guarded_async_client(timeout=TIMEOUT) as client:
                response = await client.get(url, headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            raise OidcError(f"the provider's {what} could not be fetched: {exc}") from None
        if response.status_code != 200 or len(response.content) > MAX_DOCUMENT:
            raise OidcError(f"the provider's {what} answered HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError:
            raise OidcError(f"the provider's {what} is not JSON") from None
        if not isinstance(document, dict):
            raise OidcError(f"the provider's {what} is not a JSON object")
        return document

    async def metadata(self) -> ProviderMetadata:
        """The provider's discovery document (cached ``DISCOVERY_SECONDS``)."""
        cached = self._metadata
        if cached is not None and time.monotonic() - cached[0] < DISCOVERY_SECONDS:
            return cached[1]
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await self._get_json(url, "discovery document")
        if document.get("issuer") != self.issuer:
            raise OidcError(
                f"the provider's discovery document names the issuer "
                f"{str(document.get('issuer'))[:200]!r}, not {self.issuer!r}"
            )
        offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = tuple(a for a in ALGORITHMS if isinstance(offered, list) and a in offered)
        if not algorithms:
            raise OidcError("the provider signs ID tokens with no algorithm shelfware accepts")
        metadata = ProviderMetadata(
            issuer=self.issuer,
            authorization_endpoint=str(_url(document, "authorization_endpoint")),
            token_endpoint=str(_url(document, "token_endpoint")),
            jwks_uri=str(_url(document, "jwks_uri")),
            end_session_endpoint=_url(document, "end_session_endpoint", required=False),
            algorithms=algorithms,
        )
        self._metadata = (time.monotonic(), metadata)
        return metadata

    async def _keys(self, refetch: bool = False) -> KeySet:
        cached = self._jwks
        if cached is not None and not (
            refetch and time.monotonic() - cached[0] >= JWKS_REFETCH_SECONDS
        ):
            return cached[1]
        metadata = await self.metadata()
        document = await self._get_json(metadata.jwks_uri, "JWKS")
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise OidcError("the provider's JWKS holds no usable key") from None
        self._jwks = (time.monotonic(), keys)
        return keys

    # --- the flow --------------------------------------------------------------------------

    async def authorization_url(
        self, *, redirect_uri: str, state: str, nonce: str, verifier: str
    ) -> str:
        metadata = await self.metadata()
        return str(
            prepare_grant_uri(
                metadata.authorization_endpoint,
                self.client_id,
                "code",
                redirect_uri=redirect_uri,
                scope=self.scopes,
                state=state,
                nonce=nonce,
                code_challenge=create_s256_code_challenge(verifier),
                code_challenge_method="S256",
            )
        )

    async def exchange(self, *, code: str, redirect_uri: str, verifier: str) -> str:
        """Trade the code (and the PKCE verifier) for tokens; the ID token (unverified)."""
        metadata = await self.metadata()
        body = prepare_token_request(
            "authorization_code", redirect_uri=redirect_uri, code=code, code_verifier=verifier
        )
        try:
            async with httpx.AsyncClient(
                transport=self._transport(), timeout=TIMEOUT, trust_env=False
            ) as client:
                response = await client.post(
                    metadata.token_endpoint,
                    content=body,
                    auth=httpx.BasicAuth(self.client_id, self._secret),  # client_secret_basic
                    headers={
                        "content-type": "application/x-www-form-urlencoded",
                        "accept": "application/json",
                    },
                )
        except httpx.HTTPError as exc:
            raise OidcError(f"the provider's token endpoint could not be reached: {exc}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise OidcError(f"the provider's token endpoint answered HTTP {response.status_code}")
        if response.status_code != 200 or "error" in answer:
            error = str(answer.get("error", f"HTTP {response.status_code}"))[:100]
            raise OidcError(f"the provider refused the code: {error}")
        id_token = answer.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise OidcError("the provider's token answer has no ID token (is 'openid' a scope?)")
        return id_token

    async def verify_id_token(
        self, id_token: str, *, nonce: str, now: float | None = None
    ) -> dict[str, Any]:
        """The claims of a verified ID token (see the module's description); ``now``: the
        caller's clock (epoch seconds), else the client's."""
        at = int(self._now() if now is None else now)
        metadata = await self.metadata()
        try:
            header = jws.extract_compact(id_token.encode()).headers()
        except (JoseError, ValueError):
            raise OidcError("the ID token is malformed") from None
        if header.get("alg") not in metadata.algorithms:
            raise OidcError(f"the ID token's algorithm {str(header.get('alg'))[:20]!r} is refused")
        kid = header.get("kid")
        keys = await self._keys()
        if not _has_key(keys, kid):
            keys = await self._keys(refetch=True)  # the provider may have rotated its keys
            if not _has_key(keys, kid):
                raise OidcError("the ID token is signed with a key the provider does not publish")
        try:
            token = jwt.decode(id_token, keys, algorithms=list(metadata.algorithms))
        except BadSignatureError:
            raise OidcError("the ID token's signature is wrong") from None
        except (JoseError, ValueError):
            raise OidcError("the ID token could not be verified") from None
        claims = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(
            now=at,
            leeway=LEEWAY,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise OidcError("the ID token has expired") from None
        except (InvalidClaimError, MissingClaimError) as exc:
            name = str(getattr(exc, "claim", "") or exc.description)[:40]
            if isinstance(exc, InvalidClaimError) and name in ("iat", "nbf"):
                raise OidcError("the ID token is not valid yet (iat/nbf in the future)") from None
            raise OidcError(f"the ID token's {name} claim is wrong or missing") from None
        except JoseError as exc:
            raise OidcError(f"the ID token was refused: {exc.error}") from None
        audiences = claims.get("aud")
        if (
            isinstance(audiences, list)
            and len(audiences) > 1
            and claims.get("azp") != self.client_id
        ):
            raise OidcError("the ID token's azp claim is wrong or missing")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise OidcError("the ID token's sub claim is wrong or missing")
        return claims

    async def end_session_url(
        self, *, id_token_hint: str, post_logout_redirect_uri: str
    ) -> str | None:
        """The provider's sign-out address (RP-initiated logout), when it offers one."""
        try:
            metadata = await self.metadata()
        except OidcError:
            return None
        if metadata.end_session_endpoint is None:
            return None
        return str(
            add_params_to_uri(
                metadata.end_session_endpoint,
                [
                    ("id_token_hint", id_token_hint),
                    ("post_logout_redirect_uri", post_logout_redirect_uri),
                    ("client_id", self.client_id),
                ],
            )
        )


def _has_key(keys: KeySet, kid: object) -> bool:
    if kid is None:
        return len(keys.keys) == 1  # no key id: only an unambiguous JWKS
    return any(key.kid == kid for key in keys.keys)
