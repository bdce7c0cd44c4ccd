"""A real SAML 2.0 identity provider for the tests: pysaml2's ``Server`` with its own RSA key
and self-signed certificate (made here with ``cryptography``), reading shelfware's SP metadata
from ``/sso/saml/metadata``, taking the AuthnRequest shelfware redirects to (HTTP-Redirect
binding) and signing real assertions (xmlsec1) for the ACS.

``answer`` takes what a test wants to go wrong: no signature, another audience, a shorter
or longer lifetime; every answer is still made and signed by pysaml2 itself.
"""

from __future__ import annotations

import base64
import html
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

IDP_ENTITY_ID = "https://idp.example.test/saml/metadata"
IDP_SSO_URL = "https://idp.example.test/saml/sso"
PASSWORD_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


@pytest.fixture
def require_xmlsec() -> None:
    """pysaml2 signs and checks with the xmlsec1 program: CI installs it (.ci/run); elsewhere
    its absence skips the SAML tests with the command that installs it."""
    if shutil.which("xmlsec1") is None:
        why = "the xmlsec1 program is not installed (apt-get install -y xmlsec1)"
        if os.environ.get("CI"):
            pytest.fail(f"SAML tests must run in CI: {why}")
        pytest.skip(f"SAML tests skipped: {why}")


def make_key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    """A 2048-bit RSA key and a self-signed certificate for it, as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = directory / f"{name}.key", directory / f"{name}.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


def _config(
    key_file: Path,
    cert_file: Path,
    sp_metadata: list[str],
    lifetime_minutes: int,
    sso_url: str = IDP_SSO_URL,
) -> IdPConfig:
    config: dict[str, Any] = {
        "entityid": IDP_ENTITY_ID,
        "xmlsec_binary": shutil.which("xmlsec1"),
        "key_file": str(key_file),
        "cert_file": str(cert_file),
        "service": {
            "idp": {
                "endpoints": {"single_sign_on_service": [(sso_url, BINDING_HTTP_REDIRECT)]},
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "policy": {"default": {"lifetime": {"minutes": lifetime_minutes}}},
            }
        },
    }
    if sp_metadata:
        config["metadata"] = {"inline": sp_metadata}
    return IdPConfig().load(config)


@dataclass
class SignInRequest:
    """What shelfware's redirect carried to the provider."""

    request_id: str
    acs_url: str
    sp_entity_id: str
    relay_state: str
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class Idp:
    key_file: Path
    cert_file: Path
    metadata_file: Path
    sso_url: str = IDP_SSO_URL
    sp_metadata: list[str] = field(default_factory=list)

    def server(self, lifetime_minutes: int = 5) -> Server:
        return Server(
            config=_config(
                self.key_file, self.cert_file, self.sp_metadata, lifetime_minutes, self.sso_url
            )
        )

    def read_request(self, location: str) -> SignInRequest:
        """Parse shelfware's AuthnRequest from its redirect (as the provider's page would)."""
        parts = urlsplit(location)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == self.sso_url, location
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        request = self.server().parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
        message = request.message
        return SignInRequest(
            request_id=message.id,
            acs_url=message.assertion_consumer_service_url,
            sp_entity_id=message.issuer.text,
            relay_state=query.get("RelayState", ""),
            query=query,
        )

    def answer(
        self,
        request: SignInRequest,
        subject: str,
        *,
        email: str | None = None,
        groups: list[str] | None = None,
        sign_assertion: bool = True,
        sign_response: bool = False,
        audience: str | None = None,
        lifetime_minutes: int = 5,
        in_response_to: str | None = None,
    ) -> dict[str, str]:
        """The form the provider's page posts to the ACS: a signed SAMLResponse, RelayState."""
        identity: dict[str, list[str]] = {"groups": list(groups or [])}
        if email:
            identity["email"] = [email]
        xml = self.server(lifetime_minutes).create_authn_response(
            identity,
            in_response_to=in_response_to or request.request_id,
            destination=request.acs_url,
            sp_entity_id=audience or request.sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=subject),
            userid=subject,
            authn={"class_ref": PASSWORD_PROTECTED, "authn_auth": IDP_ENTITY_ID},
            sign_assertion=sign_assertion,
            sign_response=sign_response,
        )
        return {
            "SAMLResponse": base64.b64encode(str(xml).encode()).decode(),
            "RelayState": request.relay_state,
        }


def make_idp(
    directory: Path, keys: tuple[Path, Path] | None = None, sso_url: str = IDP_SSO_URL
) -> Idp:
    """The provider's key, certificate and metadata file (for SHELFWARE_SAML_IDP_METADATA_FILE);
    call ``Idp.sp_metadata.append`` with shelfware's metadata before answering."""
    key_file, cert_file = keys or make_key_pair(directory, "idp")
    metadata = str(entity_descriptor(_config(key_file, cert_file, [], 5, sso_url)))
    metadata_file = directory / "idp-metadata.xml"
    metadata_file.write_text(metadata, encoding="utf-8")
    return Idp(key_file=key_file, cert_file=cert_file, metadata_file=metadata_file, sso_url=sso_url)


@dataclass
class IdpPage:
    """The provider's sign-in page on a loopback port, for a browser: it reads shelfware's
    AuthnRequest and shows a form that posts the signed answer for ``person`` to the ACS."""

    url: str
    idp: Idp | None = None
    person: tuple[str, list[str]] = ("nobody", [])


@contextmanager
def running_idp_page(directory: Path) -> Iterator[IdpPage]:
    page = IdpPage(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            assert page.idp is not None
            request = page.idp.read_request(page.url + self.path)
            subject, groups = page.person
            form = page.idp.answer(request, subject, email=f"{subject}@example.com", groups=groups)
            fields = "".join(
                f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
                for name, value in form.items()
            )
            body = (
                f"<html><body><h1>Test IdP</h1><form method=post "
                f'action="{html.escape(request.acs_url)}">{fields}'
                f"<button type=submit>Continue to shelfware</button></form></body></html>"
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    page.url = f"http://127.0.0.1:{server.server_port}"
    page.idp = make_idp(directory, sso_url=page.url + "/saml/sso")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield page
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
