"""Connection URLs: public addresses only (unless SHELFWARE_ALLOW_PRIVATE_URLS), no credential
in the query, masked wherever a profile is shown; OAuth redirect URIs; "analyze activity from"."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from shelfware.accounts.roles import Role
from shelfware.connectors.base import OAuthEndpoints
from shelfware.kit.netguard import ALLOW_PRIVATE_ENV
from shelfware.models import IntegrationProfile
from shelfware.profiles import service as profiles
from shelfware.profiles.oauth import AuthorizationError, begin, check_redirect_uri
from shelfware.profiles.schemas import ProfileCreate
from tests.api.conftest import Api, api
from tests.cli.conftest import PROFILE, database, home, invoke
from tests.web.conftest import Web, signed_in, web

__all__ = ["api", "home", "web"]  # fixtures of the API, CLI and web tests

pytestmark = pytest.mark.store

PUBLIC = "https://rally1.rallydev.com/slm/webservice"


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)


def create(db, keys, clock, url: str, **kw: Any) -> None:  # type: ignore[no-untyped-def]
    data = {"kind": "rally", "name": "r", "url": url, "secrets": {"api_key": "_k"}} | kw
    with db.transaction() as s:
        profiles.create_profile(s, keys, clock, ProfileCreate(**data))


PRIVATE_URLS = [
    ("http://127.0.0.1:8080/slm/webservice", "loopback"),
    ("https://127.0.0.1/slm", "loopback"),
    ("http://localhost/x", "loopback"),
    ("https://api.localhost/x", "loopback"),
    ("https://[::1]:9443/x", "loopback"),
    ("https://2130706433/x", "loopback"),
    ("https://10.0.0.5/slm", "private"),
    ("https://172.20.1.1/slm", "private"),
    ("https://192.168.0.10/slm", "private"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://[fe80::1]/x", "link-local"),
    ("https://[fd00::5]/x", "unique-local"),
    ("https://[::ffff:127.0.0.1]/x", "loopback"),
    ("https://[::ffff:169.254.169.254]/x", "link-local"),
    ("https://0.0.0.0/x", "unspecified"),
    ("https://[::]/x", "unspecified"),
    ("https://224.0.0.251/x", "multicast"),
    ("https://240.1.2.3/x", "reserved"),
]


@pytest.mark.parametrize(("url", "words"), PRIVATE_URLS)
def test_non_public_addresses_are_refused(db, keys, clock, strict, url, words):  # type: ignore[no-untyped-def]
    with pytest.raises(profiles.ProfileError, match=words) as refused:
        create(db, keys, clock, url)
    assert ALLOW_PRIVATE_ENV in str(refused.value)


@pytest.mark.parametrize(("url", "words"), PRIVATE_URLS)
def test_the_setting_allows_them(db, keys, clock, url, words):  # type: ignore[no-untyped-def]
    # the session allows private addresses (conftest); plain http stays loopback-only
    create(db, keys, clock, url)


@pytest.mark.parametrize("url", ["http://10.0.0.5/slm", "http://rally.example.com/slm"])
def test_plain_http_is_for_loopback_only_even_when_private_is_allowed(db, keys, clock, url):  # type: ignore[no-untyped-def]
    with pytest.raises(profiles.ProfileError, match="only https:// is allowed"):
        create(db, keys, clock, url)


def test_public_https_is_accepted_without_the_setting(db, keys, clock, strict):  # type: ignore[no-untyped-def]
    create(db, keys, clock, PUBLIC + "?workspace=42")


@pytest.mark.parametrize(
    "param",
    [
        "token",
        "access_token",
        "api_key",
        "apikey",
        "key",
        "secret",
        "client_secret",
        "password",
        "sig",
        "signature",
        "auth",
        "X-Api-Key",
        "private_token",
    ],
)
def test_a_credential_in_the_query_is_refused(db, keys, clock, param):  # type: ignore[no-untyped-def]
    with pytest.raises(profiles.ProfileError, match="put the credential in --secret-env"):
        create(db, keys, clock, f"{PUBLIC}?workspace=1&{param}=abc123")


def test_a_credential_in_the_cli_url_is_refused_with_the_message(home: Path) -> None:
    ran = invoke(
        home,
        *("profile", "create", "rally", "--name", "leaky", "--secret-env", "K"),
        *("--url", f"{PUBLIC}?apikey=s3cret"),
    )
    assert ran.code == 1 and "--secret-env" in ran.stderr and "s3cret" not in ran.stderr


# ----------------------------------------------------------------- masking in every view

STORED = "https://admin:hunter22@rally1.rallydev.com/slm/webservice?workspace=42&token=zzz9"
MASKED = "https://***@rally1.rallydev.com/slm/webservice?workspace=***&token=***"


def store_legacy_url(db) -> None:  # type: ignore[no-untyped-def]
    """A URL stored before these rules (userinfo and a token in the query)."""
    with db.transaction() as s:
        s.execute(update(IntegrationProfile).values(url=STORED))


def assert_masked(text: str) -> None:
    assert "hunter22" not in text and "zzz9" not in text and "workspace=42" not in text
    assert "admin" not in text.replace("administrator", "")  # no user name either


def test_views_mask_the_url(db, keys, clock):  # type: ignore[no-untyped-def]
    create(db, keys, clock, PUBLIC)
    store_legacy_url(db)
    with db.sessions() as s:
        assert profiles.view(s, profiles.get_profile(s, "r")).url == MASKED


def test_cli_show_and_list_mask_the_url(home: Path) -> None:
    db = database(home)
    store_legacy_url(db)
    db.dispose()
    for args in (
        ("profile", "show", PROFILE),
        ("profile", "show", PROFILE, "--json"),
        ("profile", "list"),
        ("profile", "list", "--json"),
    ):
        ran = invoke(home, *args)
        assert ran.code == 0, ran
        assert_masked(ran.stdout)
        assert "rally1.rallydev.com" in ran.stdout


async def test_api_views_mask_the_url(api: Api) -> None:
    create(api.db, api.keys, api.clock, PUBLIC)
    store_legacy_url(api.db)
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as client:
        one = await client.get("/profiles/r", headers=api.auth(Role.VIEWER))
        every = await client.get("/profiles", headers=api.auth(Role.VIEWER))
    assert one.status_code == 200 and one.json()["url"] == MASKED
    assert every.status_code == 200 and [p["url"] for p in every.json()] == [MASKED]
    assert_masked(one.text + every.text)


def test_web_pages_mask_the_url(web: Web) -> None:
    create(web.store.db, web.store.keys, web.clock, PUBLIC)
    store_legacy_url(web.store.db)
    client, _ = signed_in(web, "viewer")
    for path in ("/profiles", "/profiles/r"):
        page = client.get(path)
        assert page.status_code == 200, page.text
        assert_masked(page.text)
        assert "rally1.rallydev.com" in page.text


# ----------------------------------------------------------------- a profile's connections


async def test_validate_connects_to_public_addresses_only(  # type: ignore[no-untyped-def]
    db, keys, clock, rally_factory, monkeypatch
):
    """A profile made while private addresses were allowed (a sandbox), validated after the
    setting was turned off: the connector's calls are refused, the sandbox sees none."""
    sandbox = rally_factory(users=5)
    create(db, keys, clock, sandbox.url, secrets={"api_key": sandbox.org.api_key})
    before = sandbox.state.requests
    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    report = await profiles.validate_profile(db, keys, clock, "r")
    assert not report.ok
    assert any("loopback" in c.detail for c in report.checks), report
    assert sandbox.state.requests == before
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "true")
    assert (await profiles.validate_profile(db, keys, clock, "r")).ok


# ----------------------------------------------------------------- OAuth redirect URIs

ENDPOINTS = OAuthEndpoints("/authorize", "/token", None)


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:8765/oauth/callback",
        "http://localhost:8765/oauth/callback",
        "http://[::1]:8765/oauth/callback",
        "https://shelfware.example.com/oauth/callback",
    ],
)
def test_redirect_uri_loopback_http_or_https(uri: str) -> None:
    assert begin(PUBLIC, ENDPOINTS, "client", uri).redirect_uri == uri


@pytest.mark.parametrize(
    "uri",
    [
        "http://shelfware.example.com/oauth/callback",
        "http://10.0.0.5:8000/oauth/callback",
        "javascript:alert(1)",
        "ftp://127.0.0.1/x",
        "/oauth/callback",
        "https://u:p@shelfware.example.com/cb",
        "https://shelfware.example.com/cb#frag",
        "https://shelfware.example.com/cb\n",
    ],
)
def test_other_redirect_uris_are_refused(uri: str) -> None:
    with pytest.raises(AuthorizationError, match="redirect_uri"):
        begin(PUBLIC, ENDPOINTS, "client", uri)
    with pytest.raises(AuthorizationError):
        check_redirect_uri(uri)


async def test_api_refuses_a_plain_http_redirect_uri(api: Api) -> None:
    create(api.db, api.keys, api.clock, PUBLIC, auth="oauth", secrets={"client_id": "cid"})
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as client:
        refused = await client.post(
            "/profiles/r/authorize",
            json={"redirect_uri": "http://evil.example/steal"},
            headers=api.auth(Role.ADMIN),
        )
    assert refused.status_code == 422, refused.text
    assert "redirect_uri" in refused.json()["error"]["message"]


# ----------------------------------------------------------------- analyze activity from


def test_analyze_from_is_never_in_the_future(db, keys, clock):  # type: ignore[no-untyped-def]
    with pytest.raises(profiles.ProfileError, match="in the future"):
        create(db, keys, clock, PUBLIC, analyze_activity_from=clock.now() + timedelta(hours=1))
    create(db, keys, clock, PUBLIC)
    with db.transaction() as s, pytest.raises(profiles.ProfileError, match="in the future"):
        profiles.set_processes(
            s, clock, profiles.get_profile(s, "r"), analyze_from=clock.now() + timedelta(days=1)
        )


def test_analyze_from_is_at_most_60_days_before_creation(db, keys, clock):  # type: ignore[no-untyped-def]
    created = clock.now()
    with pytest.raises(profiles.ProfileError, match="60 days"):
        create(db, keys, clock, PUBLIC, analyze_activity_from=created - timedelta(days=61))
    create(db, keys, clock, PUBLIC, analyze_activity_from=created - timedelta(days=60))
    clock.advance(timedelta(days=100))  # later on, the limit is still from the creation
    with db.transaction() as s:
        profile = profiles.get_profile(s, "r")
        with pytest.raises(profiles.ProfileError, match="60 days"):
            profiles.set_processes(s, clock, profile, analyze_from=created - timedelta(days=61))
        changed = profiles.set_processes(
            s, clock, profile, analyze_from=created - timedelta(days=59)
        )
        assert changed and profile.analyze_activity_from == created - timedelta(days=59)


async def test_api_and_cli_refuse_an_analyze_date_out_of_range(api: Api, home: Path) -> None:
    create(api.db, api.keys, api.clock, PUBLIC)
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as client:
        for when, words in (("2027-01-01T00:00:00Z", "in the future"), ("2026-01-01", "60 days")):
            refused = await client.patch(
                "/profiles/r", headers=api.auth(Role.ADMIN), json={"analyze_from": when}
            )
            assert refused.status_code in (409, 422), refused.text
            assert words in refused.json()["error"]["message"]
    # the CLI's clock is the tests' NOW (2026-11-20): the same rule, the same words
    ran = invoke(home, "profile", "set", PROFILE, "--analyze-from", "2027-01-01")
    assert ran.code == 1 and "in the future" in ran.stderr, ran
    ran = invoke(home, "profile", "set", PROFILE, "--analyze-from", "2026-11-01")
    assert ran.code == 0, ran
