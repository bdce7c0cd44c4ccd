"""SAML 2.0 sign-in against a real identity provider built with pysaml2 (tests/web/saml_idp.py):
shelfware's AuthnRequest read by the provider, the provider's signed answers posted to the
ACS, users created just in time with the role their groups map to.

Expiry is tested with shelfware's own clock (the provider signs real, current assertions;
shelfware's clock is moved past their NotOnOrAfter), as for OpenID Connect.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from saml2.config import IdPConfig
from saml2.mdstore import MetadataStore
from sqlalchemy import func, select

from shelfware.models import AuditEvent, SamlAssertion, User
from shelfware.serve import create_app
from shelfware.settings import Settings
from tests.web.conftest import Web
from tests.web.saml_idp import (
    IDP_ENTITY_ID,
    Idp,
    SignInRequest,
    make_idp,
    make_key_pair,
    require_xmlsec,  # noqa: F401  (the fixture)
)

pytestmark = pytest.mark.usefixtures("require_xmlsec")  # xmlsec1 present (CI: required)
ROLE_MAP = "sam-admins=admin,sam-team=sam_manager,sam-viewers=viewer"
SP_ENTITY_ID = "https://testserver/sso/saml/metadata"
ACS_URL = "https://testserver/sso/saml/acs"


@dataclass
class Saml:
    web: Web
    idp: Idp
    sp_key_file: Path

    def begin(self, client: TestClient, next_path: str = "/") -> SignInRequest:
        response = client.get(f"/sso/saml/login?next={next_path}")
        assert response.status_code == 303, response.text
        return self.idp.read_request(response.headers["location"])

    def post(self, client: TestClient, form: dict[str, str]) -> Any:
        return client.post("/sso/saml/acs", data=form)

    def sign_in(self, client: TestClient, subject: str, **kwargs: Any) -> Any:
        request = self.begin(client)
        return self.post(client, self.idp.answer(request, subject, **kwargs))

    def user(self, subject: str) -> User | None:
        with self.web.store.db.sessions() as session:
            return session.scalar(
                select(User).where(User.sso_subject == f"{IDP_ENTITY_ID} {subject}")
            )

    def refusals(self) -> list[str]:
        with self.web.store.db.sessions() as session:
            events = session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "user.sso_refused")
                .order_by(AuditEvent.id)
            )
            return [str(e.detail.get("reason")) for e in events]


@pytest.fixture(scope="module")
def key_pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """The provider's and shelfware's keys, made once for the module (RSA takes a while)."""
    directory = tmp_path_factory.mktemp("saml-keys")
    return {name: make_key_pair(directory, name) for name in ("idp", "sp")}


@pytest.fixture
def saml(web: Web, tmp_path: Path, key_pairs: dict[str, tuple[Path, Path]]) -> Iterator[Saml]:
    idp = make_idp(tmp_path, key_pairs["idp"])
    sp_key, sp_cert = key_pairs["sp"]
    settings = Settings(
        saml_idp_metadata_file=idp.metadata_file,
        saml_sp_key_file=sp_key,
        saml_sp_cert_file=sp_cert,
        saml_name="Test SAML IdP",
        sso_role_map=ROLE_MAP,
        public_url="https://testserver",
    )
    web.clock.set(datetime.now(UTC).replace(microsecond=0))
    app = create_app(settings, store=web.store, clock=web.clock)
    running = Saml(Web(app=app, store=web.store, clock=web.clock), idp, sp_key)
    metadata = running.web.client().get("/sso/saml/metadata")
    assert metadata.status_code == 200, metadata.text
    idp.sp_metadata.append(metadata.text)  # the provider trusts what shelfware publishes
    yield running


def test_sp_metadata_is_valid_saml_metadata(saml: Saml) -> None:
    response = saml.web.client().get("/sso/saml/metadata")
    assert response.headers["content-type"].startswith("application/samlmetadata+xml")
    # parsed (and schema-checked) by pysaml2's own metadata store, as an IdP would
    store = MetadataStore(None, IdPConfig().load({"entityid": IDP_ENTITY_ID}))
    store.load("inline", response.text)
    assert list(store.service_providers()) == [SP_ENTITY_ID]
    acs = store.assertion_consumer_service(SP_ENTITY_ID)
    assert [(s["location"], s["binding"]) for s in acs] == [
        (ACS_URL, "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
    ]
    assert "X509Certificate" in response.text  # shelfware's certificate, never its key
    assert "PRIVATE KEY" not in response.text
    assert saml.sp_key_file.read_text().split("\n")[1] not in response.text


@pytest.mark.store
def test_first_sign_in_creates_the_user_with_the_mapped_role(saml: Saml) -> None:
    client = saml.web.client()
    page = client.get("/sign-in").text
    assert "Sign in with Test SAML IdP" in page and 'href="/sso/saml/login' in page

    request = saml.begin(client, "/profiles")
    assert request.acs_url == ACS_URL and request.sp_entity_id == SP_ENTITY_ID
    assert request.relay_state and request.request_id.startswith("id-")
    assert "Signature" in request.query  # shelfware signs its AuthnRequests with its key
    form = saml.idp.answer(
        request, "alice-persistent-id", email="alice@example.com", groups=["sam-team"]
    )
    response = saml.post(client, form)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/profiles"
    overview = client.get("/")
    assert overview.status_code == 200 and "alice" in overview.text

    user = saml.user("alice-persistent-id")
    assert user is not None and user.role == "sam_manager" and user.active
    assert user.username == "alice@example.com" and user.password_hash is None
    assert client.get("/audit").status_code == 403  # the role matrix applies
    with saml.web.store.db.sessions() as session:
        remembered = session.scalar(select(func.count()).select_from(SamlAssertion))
    assert remembered == 1


@pytest.mark.store
def test_role_follows_the_groups_at_each_sign_in(saml: Saml) -> None:
    assert saml.sign_in(saml.web.client(), "bob", groups=["sam-viewers"]).status_code == 303
    assert saml.user("bob").role == "viewer"  # type: ignore[union-attr]
    client = saml.web.client()
    assert saml.sign_in(client, "bob", groups=["sam-viewers", "sam-admins"]).status_code == 303
    assert saml.user("bob").role == "admin"  # type: ignore[union-attr]
    assert client.get("/audit").status_code == 200


@pytest.mark.store
def test_unknown_group_gets_the_no_access_page(saml: Saml) -> None:
    assert saml.sign_in(saml.web.client(), "carol", groups=["sam-team"]).status_code == 303
    client = saml.web.client()
    refused = saml.sign_in(client, "carol", groups=["marketing"])
    assert refused.status_code == 403
    assert "Ask an administrator to add you" in refused.text
    user = saml.user("carol")
    assert user is not None and not user.active
    assert client.get("/").headers["location"].startswith("/sign-in")


@pytest.mark.store
def test_unsigned_assertion_is_refused(saml: Saml) -> None:
    client = saml.web.client()
    refused = saml.sign_in(client, "dave", groups=["sam-admins"], sign_assertion=False)
    assert refused.status_code == 403
    assert "not signed" in refused.text
    assert saml.user("dave") is None
    assert "not signed" in saml.refusals()[-1]


@pytest.mark.store
def test_a_signed_response_carries_an_unsigned_assertion(saml: Saml) -> None:
    client = saml.web.client()
    ok = saml.sign_in(
        client, "erin", groups=["sam-viewers"], sign_assertion=False, sign_response=True
    )
    assert ok.status_code == 303, ok.text


@pytest.mark.store
def test_a_tampered_assertion_is_refused(saml: Saml) -> None:
    import base64

    client = saml.web.client()
    request = saml.begin(client)
    form = saml.idp.answer(request, "frank", groups=["sam-viewers"])
    xml = base64.b64decode(form["SAMLResponse"]).decode()
    assert "sam-viewers" in xml
    form["SAMLResponse"] = base64.b64encode(
        xml.replace("sam-viewers", "sam-admins").encode()
    ).decode()
    refused = saml.post(client, form)
    assert refused.status_code == 403
    assert saml.refusals()[-1] == "the SAML assertion is not signed by the identity provider"
    assert saml.user("frank") is None


@pytest.mark.store
def test_wrong_audience_is_refused(saml: Saml) -> None:
    client = saml.web.client()
    refused = saml.sign_in(
        client, "gina", groups=["sam-admins"], audience="https://other.example/sp"
    )
    assert refused.status_code == 403
    assert saml.user("gina") is None
    assert saml.refusals()[-1] == "the SAML assertion is meant for another service (audience)"


@pytest.mark.store
def test_expired_assertion_is_refused(saml: Saml) -> None:
    client = saml.web.client()
    request = saml.begin(client)
    form = saml.idp.answer(request, "hugo", groups=["sam-admins"], lifetime_minutes=5)
    saml.web.clock.advance(timedelta(minutes=7))  # past NotOnOrAfter and the clock skew
    refused = saml.post(client, form)
    assert refused.status_code == 403
    assert "expired" in refused.text
    assert saml.refusals()[-1] == "the SAML assertion has expired"
    assert saml.user("hugo") is None


@pytest.mark.store
def test_assertion_not_yet_valid_is_refused_past_the_clock_skew(saml: Saml) -> None:
    # shelfware's clock behind the provider's: NotBefore is ahead of it
    saml.web.clock.advance(timedelta(seconds=-50))  # within the 60 s skew: accepted
    client = saml.web.client()
    form = saml.idp.answer(saml.begin(client), "nina", groups=["sam-team"])
    assert saml.post(client, form).status_code == 303

    saml.web.clock.advance(timedelta(seconds=-130))  # 3 minutes behind: refused
    client = saml.web.client()
    form = saml.idp.answer(saml.begin(client), "otto", groups=["sam-team"])
    refused = saml.post(client, form)
    assert refused.status_code == 403
    assert saml.refusals()[-1] == "the SAML assertion is not valid yet"
    assert saml.user("otto") is None


@pytest.mark.store
def test_replayed_response_is_refused(saml: Saml) -> None:
    client = saml.web.client()
    request = saml.begin(client)
    form = saml.idp.answer(request, "iris", groups=["sam-team"])
    # an attacker who captured the browser's attempt cookie and the posted answer
    captured = [c for c in client.cookies.jar if c.name == "shelfware_saml"]
    assert len(captured) == 1 and captured[0].secure and captured[0].path == "/sso/"
    assert saml.post(client, form).status_code == 303
    assert not [c for c in client.cookies.jar if c.name == "shelfware_saml"]  # ended
    attacker = saml.web.client()
    attacker.cookies.jar.set_cookie(captured[0])
    replayed = saml.post(attacker, form)
    assert replayed.status_code == 400
    assert "already used" in replayed.text
    assert saml.refusals()[-1] == "the SAML assertion was already used (replay)"
    with saml.web.store.db.sessions() as session:
        users = session.scalar(
            select(func.count()).select_from(User).where(User.sso_subject.is_not(None))
        )
    assert users == 1


@pytest.mark.store
def test_answer_to_another_request_is_refused(saml: Saml) -> None:
    client = saml.web.client()
    request = saml.begin(client)
    form = saml.idp.answer(request, "jack", groups=["sam-team"], in_response_to="id-forged")
    refused = saml.post(client, form)
    assert refused.status_code == 403
    assert saml.refusals()[-1] == "the SAML response answers no sign-in begun here"
    assert saml.user("jack") is None


@pytest.mark.store
def test_answer_posted_in_another_browser_is_refused(saml: Saml) -> None:
    request = saml.begin(saml.web.client())
    form = saml.idp.answer(request, "kate", groups=["sam-team"])
    refused = saml.post(saml.web.client(), form)  # login CSRF: not the browser that began
    assert refused.status_code == 400
    assert saml.user("kate") is None


@pytest.mark.store
def test_idp_metadata_from_a_url_is_fetched_once(
    web: Web, tmp_path: Path, key_pairs: dict[str, tuple[Path, Path]]
) -> None:
    """The provider's metadata over real HTTP (a server on a loopback port), then cached."""
    idp = make_idp(tmp_path, key_pairs["idp"])
    document = idp.metadata_file.read_bytes()
    fetched: list[str] = []

    class Metadata(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetched.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "application/samlmetadata+xml")
            self.send_header("content-length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Metadata)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = Settings(
            saml_idp_metadata_url=f"http://127.0.0.1:{server.server_port}/idp/metadata",
            sso_role_map=ROLE_MAP,
            public_url="https://testserver",
        )
        web.clock.set(datetime.now(UTC).replace(microsecond=0))
        app = create_app(settings, store=web.store, clock=web.clock)
        saml = Saml(Web(app=app, store=web.store, clock=web.clock), idp, key_pairs["sp"][0])
        metadata = saml.web.client().get("/sso/saml/metadata").text
        assert "X509Certificate" not in metadata  # no SP key configured: none published
        idp.sp_metadata.append(metadata)
        for name in ("lena", "mia"):
            assert saml.sign_in(saml.web.client(), name, groups=["sam-team"]).status_code == 303
        assert fetched == ["/idp/metadata"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_acs_is_the_only_post_without_a_csrf_token() -> None:
    from shelfware.web.routes import ROUTES

    assert [(r.method, r.path) for r in ROUTES if not r.csrf] == [("POST", "/sso/saml/acs")]


def test_pysaml2_refusals_read_as_one_line() -> None:
    """What pysaml2 raises becomes the one line the person and the audit trail see."""
    from saml2.validate import ResponseLifetimeExceed, ToEarly

    from shelfware.kit.saml import _reason

    assert _reason(ResponseLifetimeExceed("Can't use response, too old")) == (
        "the SAML assertion has expired"
    )
    assert _reason(ToEarly("Can't use response yet: (now=...)")) == (
        "the SAML assertion is not valid yet"
    )
    assert _reason(Exception("AudienceRestrictions conditions not satisfied!")) == (
        "the SAML assertion is meant for another service (audience)"
    )
