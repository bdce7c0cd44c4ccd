"""SAML sign-in in a real browser (Debian's chromium, Playwright) through a real pysaml2
identity provider on a loopback port (tests/web/saml_idp.py): the sign-in page's "Sign in
with <name>", the provider's page posting the signed answer to the ACS, the overview with the
mapped role; a removed group takes the access away at the next sign-in."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from shelfware.sandbox.server import serve_in_thread
from shelfware.serve import create_app
from shelfware.settings import Settings
from tests.web.conftest import Web
from tests.web.saml_idp import (
    IdpPage,
    require_xmlsec,  # noqa: F401  (the fixture)
    running_idp_page,
)

pytestmark = pytest.mark.usefixtures("require_xmlsec")  # xmlsec1 present (CI: required)


def _sign_in(page: Any, base: str, idp: IdpPage) -> None:
    page.goto(base + "/")
    assert "/sign-in" in page.url
    page.click("text=Sign in with Test SAML IdP")
    page.wait_for_url(idp.url + "/saml/sso*")
    page.click("button:has-text('Continue to shelfware')")


def test_a_viewer_signs_in_through_the_saml_provider(
    web: Web, browser: Any, tmp_path: Path
) -> None:
    with running_idp_page(tmp_path) as idp:
        assert idp.idp is not None
        settings = Settings(
            saml_idp_metadata_file=idp.idp.metadata_file,
            saml_name="Test SAML IdP",
            sso_role_map="sam-admins=admin,sam-viewers=viewer",
        )
        web.clock.set(datetime.now(UTC).replace(microsecond=0))
        app = create_app(settings, store=web.store, clock=web.clock)
        with serve_in_thread(app) as server:  # type: ignore[arg-type]
            base = server.url
            # the provider trusts what shelfware publishes (its ACS on this port)
            context = browser.new_context()
            page = context.new_page()
            idp.idp.sp_metadata.append(httpx.get(base + "/sso/saml/metadata").text)
            idp.person = ("viv", ["sam-viewers"])
            _sign_in(page, base, idp)
            page.wait_for_url(base + "/")
            assert page.inner_text("h1") == "SaaS overview"
            assert "viv" in page.inner_text("header")
            actions = page.locator(
                "form[method=post]:not([action='/sign-out']) button, button[formaction]"
            )
            assert actions.count() == 0  # a viewer
            assert page.goto(base + "/audit").status == 403  # type: ignore[union-attr]

            idp.person = ("viv", ["former-staff"])
            fresh = browser.new_context()
            other = fresh.new_page()
            _sign_in(other, base, idp)
            other.wait_for_selector("text=Ask an administrator")
            page.goto(base + "/")
            assert "/sign-in" in page.url  # the first browser's session ended with it
            fresh.close()
            context.close()
