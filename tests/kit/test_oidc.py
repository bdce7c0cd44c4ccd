"""kit/oidc against a real OpenID provider (oidc-provider-mock, tests/web/sso_provider.py):
discovery and its issuer check, the address guard, and the ID token checks that the web
tests do not reach (a symmetric algorithm, a token from a provider that is not configured)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from shelfware.kit.netguard import ALLOW_PRIVATE_ENV
from shelfware.kit.oidc import OidcClient, OidcError, check_issuer
from tests.web.sso_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        yield running


def client_for(provider: Provider, issuer: str | None = None) -> OidcClient:
    return OidcClient(issuer or provider.url, CLIENT_ID, CLIENT_SECRET, "openid email")


async def real_id_token(provider: Provider, client: OidcClient, nonce: str) -> str:
    """A real code flow: authorization URL, the provider's consent, the code exchanged."""
    provider.set_user("kit-sub", email="kit@example.com")
    url = await client.authorization_url(
        redirect_uri="http://127.0.0.1:9/cb", state="s" * 20, nonce=nonce, verifier="v" * 50
    )
    location = provider.authorize(url, "kit-sub")
    code = parse_qs(urlsplit(location).query)["code"][0]
    return await client.exchange(code=code, redirect_uri="http://127.0.0.1:9/cb", verifier="v" * 50)


def test_issuers_must_use_https_unless_on_this_machine() -> None:
    assert check_issuer("https://login.example.com/tenant/v2.0")
    assert check_issuer("http://127.0.0.1:8080")
    assert check_issuer("http://localhost:8080")
    for bad in (
        "http://idp.example.com",
        "ftp://idp.example.com",
        "idp.example.com",
        "https://x/?a=1",
    ):
        with pytest.raises(ValueError):
            check_issuer(bad)


async def test_a_verified_token_and_its_claims(provider: Provider) -> None:
    client = client_for(provider)
    token = await real_id_token(provider, client, "n" * 30)
    claims = await client.verify_id_token(token, nonce="n" * 30)
    assert claims["sub"] == "kit-sub" and claims["iss"] == provider.url
    with pytest.raises(OidcError, match="nonce"):
        await client.verify_id_token(token, nonce="another")
    metadata = await client.metadata()
    assert metadata.end_session_endpoint and metadata.end_session_endpoint.startswith(provider.url)
    assert CLIENT_SECRET not in repr(client)


async def test_discovery_must_name_the_configured_issuer(provider: Provider) -> None:
    # the provider calls itself http://127.0.0.1:PORT; configured with a trailing slash it is
    # another issuer string (OIDC Discovery 4.3: exactly the same)
    client = client_for(provider, provider.url + "/")
    with pytest.raises(OidcError, match="names the issuer"):
        await client.metadata()


async def test_a_token_from_another_configured_issuer_is_refused(provider: Provider) -> None:
    """Two clients of the same provider, one configured under the name localhost: a token the
    provider issued as 127.0.0.1 is not the localhost issuer's."""
    port = urlsplit(provider.url).port
    local = client_for(provider, f"http://localhost:{port}")
    token = await real_id_token(provider, client_for(provider), "n" * 30)
    with pytest.raises(OidcError, match="iss claim"):
        await local.verify_id_token(token, nonce="n" * 30)


async def test_a_symmetric_token_is_refused(provider: Provider) -> None:
    """Crafted: an HS256 token keyed with the client secret (what a confused verifier might
    accept) is refused before any key is looked at."""
    client = client_for(provider)
    await client.metadata()
    now = int(time.time())
    claims = {
        "iss": provider.url,
        "aud": CLIENT_ID,
        "sub": "x",
        "iat": now,
        "exp": now + 60,
        "nonce": "n",
    }
    token = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(CLIENT_SECRET.encode() * 2))
    with pytest.raises(OidcError, match="algorithm"):
        await client.verify_id_token(token, nonce="n")
    with pytest.raises(OidcError, match="malformed"):
        await client.verify_id_token("not.a-token", nonce="n")


async def test_private_provider_addresses_need_the_setting(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    client = client_for(provider)
    with pytest.raises(OidcError, match=r"could not be fetched.*public addresses"):
        await client.metadata()
    assert httpx.get(provider.url + "/.well-known/openid-configuration").status_code == 200
