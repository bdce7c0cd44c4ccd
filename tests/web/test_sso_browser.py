"""Single sign-on in a real browser (Debian's chromium, Playwright) through a real OpenID
provider (oidc-provider-mock): the sign-in page's "Sign in with <name>", the provider's
consent, the overview with the mapped role; a viewer sees no actions; a removed group takes
the access away at the next sign-in."""

from __future__ import annotations

from typing import Any

from shelfware.sandbox.server import serve_in_thread
from tests.web.conftest import Web
from tests.web.sso_provider import Provider, running_provider
from tests.web.test_sso import make_sso


def _sign_in_through_the_provider(page: Any, base: str, provider: Provider, sub: str) -> None:
    page.goto(base + "/")
    assert "/sign-in" in page.url
    page.click("text=Sign in with Test IdP")
    page.wait_for_url(provider.url + "/oauth2/authorize*")
    page.fill("input[name=sub]", sub)
    page.click("button:has-text('Authorize')")


def test_a_viewer_signs_in_through_the_provider_and_sees_no_actions(web: Web, browser: Any) -> None:
    with running_provider() as provider:
        sso = make_sso(web, provider)
        provider.set_user(
            "viv-sub", email="viv@example.com", preferred_username="viv", groups=["sam-viewers"]
        )
        with serve_in_thread(sso.web.app) as server:  # type: ignore[arg-type]
            base = server.url
            context = browser.new_context()
            page = context.new_page()
            _sign_in_through_the_provider(page, base, provider, "viv-sub")
            page.wait_for_url(base + "/")
            assert page.inner_text("h1") == "SaaS overview"
            assert "viv" in page.inner_text("header")
            # a viewer: no action anywhere (the only button that posts is the sign-out's)
            for path in ("/", "/profiles", "/entitlements", "/candidates"):
                page.goto(base + path)
                actions = page.locator(
                    "form[method=post]:not([action='/sign-out']) button, button[formaction]"
                )
                assert actions.count() == 0, path
                assert page.locator("a.button[href='/profiles/new']").count() == 0, path
            assert page.goto(base + "/audit").status == 403  # type: ignore[union-attr]

            # the provider takes the group away: the next sign-in is refused, the account off
            provider.set_user("viv-sub", email="viv@example.com", groups=["former-staff"])
            fresh = browser.new_context()
            other = fresh.new_page()
            _sign_in_through_the_provider(other, base, provider, "viv-sub")
            other.wait_for_selector("text=Ask an administrator")
            page.goto(base + "/")
            assert "/sign-in" in page.url  # the first browser's session ended with it
            fresh.close()
            context.close()


def test_an_admin_signs_in_through_the_provider(web: Web, browser: Any) -> None:
    with running_provider() as provider:
        sso = make_sso(web, provider)
        provider.set_user("ada-sub", email="ada@example.com", groups=["sam-admins"])
        with serve_in_thread(sso.web.app) as server:  # type: ignore[arg-type]
            context = browser.new_context()
            page = context.new_page()
            _sign_in_through_the_provider(page, server.url, provider, "ada-sub")
            page.wait_for_url(server.url + "/")
            page.goto(server.url + "/profiles")
            assert page.locator("a.button[href='/profiles/new']").count() == 1
            assert page.goto(server.url + "/audit").status == 200  # type: ignore[union-attr]
            context.close()
