"""Changing a profile in a real browser, over the Rally sandbox: a published profile's
credential replaced (the stored one never shown back) and validated again (a wrong token
fails, the right one passes), its options and processes changed; the new-profile and edit
forms show only the fields a connector kind and its authentication use. Roles that may not
change profiles are refused."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from shelfware.overview.catalogue import catalogue
from shelfware.profiles import service as profiles
from shelfware.sandbox.server import serve_in_thread
from tests.helpers import published_rally
from tests.web.browser_steps import shot, submit
from tests.web.conftest import Web, signed_in
from tests.web.ops_seed import sign_in


def _profile(web: Web) -> Any:
    with web.store.db.sessions() as session:
        profile = profiles.get_profile(session, "rally")
        return profile, profiles.secrets_of(profile, web.store.keys)


def test_fields_follow_the_connector_kind_and_authentication(web: Web) -> None:
    client, _ = signed_in(web, "sam_integrator")
    for kind in catalogue():
        page = client.get("/profiles/new", params={"kind": kind.kind}).text
        assert ('name="region"' in page) == kind.regions, kind.kind
        assert ('name="client_id"' in page) == kind.client_credentials, kind.kind  # api-token
        assert ('<option value="oauth"' in page) == kind.oauth, kind.kind
        fields = client.get(
            "/profiles/new/credential", params={"kind": kind.kind, "auth": "basic"}
        ).text
        assert 'name="username"' in fields and 'name="client_id"' not in fields
        if kind.oauth:
            oauth = client.get(
                "/profiles/new/credential", params={"kind": kind.kind, "auth": "oauth"}
            ).text
            assert 'name="client_id"' in oauth and 'name="secret"' not in oauth
        else:
            refused = client.get(
                "/profiles/new/credential", params={"kind": kind.kind, "auth": "oauth"}
            )
            assert refused.status_code == 400


def test_change_a_published_profile_and_validate_it_again(
    web: Web, browser: Any, rally_factory: Any
) -> None:
    rally = rally_factory(users=20, seed=2)
    db, keys, clock = web.store.db, web.store.keys, web.clock
    done = threading.Thread(
        target=lambda: asyncio.run(
            published_rally(db, keys, clock, rally.url, rally.org.api_key, name="rally")
        )
    )
    done.start()
    done.join(timeout=120)
    with serve_in_thread(web.app) as server:  # type: ignore[arg-type]
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        sign_in(page, server.url, "sam_integrator")
        page.goto(server.url + "/profiles/rally")
        submit(page, "#edit-profile")
        assert page.locator("#region").count() == 1  # Rally has regions
        assert page.locator("#client_id").count() == 0  # an API token, no OAuth fields
        assert page.input_value("#secret") == ""
        assert rally.org.api_key not in page.content()  # the stored secret is never shown
        shot(page, "profile-edit")

        page.fill("#secret", "not-the-token")
        submit(page, "#save-validate")
        page.wait_for_url(server.url + "/profiles/rally")
        notice = page.inner_text(".notice")
        assert "credential replaced" in notice and "Validation failed" in notice, notice
        assert _profile(web)[0].status == "published"  # still published, not validated
        assert _profile(web)[1]["api_key"] == "not-the-token"

        submit(page, "#edit-profile")
        page.fill("#secret", rally.org.api_key)
        page.fill("#options", "page_size=50")
        page.uncheck("#reclaim")
        submit(page, "#save-validate")
        page.wait_for_url(server.url + "/profiles/rally")
        notice = page.inner_text(".notice")
        assert "options page_size" in notice and "reclaim subscriptions off" in notice, notice
        assert "Validation passed" in notice, notice
        profile, secrets = _profile(web)
        assert secrets["api_key"] == rally.org.api_key and profile.last_validation_ok
        assert profile.options == {"page_size": "50"} and not profile.process_reclaim

        submit(page, "#edit-profile")  # a blank secret keeps the stored one
        submit(page, "#save-profile")
        assert "Nothing changed" in page.inner_text(".notice")
        assert _profile(web)[1]["api_key"] == rally.org.api_key

        page.goto(server.url + "/profiles/new?kind=asana")  # OAuth fields when chosen
        assert page.locator("#client_id").count() == 0 and page.locator("#region").count() == 0
        page.select_option("#auth", "oauth")
        page.wait_for_selector("#client_id")
        assert page.locator("#secret").count() == 0
        # the edit form: another sign-in method swaps in its own fields, empty
        page.goto(server.url + "/profiles/rally/edit")
        page.select_option("#auth", "oauth")
        page.wait_for_selector("#client_id")
        assert page.locator("#secret").count() == 0 and page.input_value("#client_id") == ""
        page.select_option("#auth", "api-token")
        page.wait_for_selector("#secret")
        assert "leave empty to keep it" in page.inner_text("#credential-fields")
    for role in ("viewer", "sam_manager"):
        client, csrf = signed_in(web, role)
        assert client.get("/profiles/rally/edit").status_code == 403
        refused = client.post("/profiles/rally/edit", data={"csrf_token": csrf, "secret": "x"})
        assert refused.status_code == 403
    assert _profile(web)[1]["api_key"] == rally.org.api_key


def test_change_the_sign_in_method_then_validate_again(web: Web, rally_factory: Any) -> None:
    """API token -> OAuth -> API token on a published Rally profile (Rally takes both; no
    basic): the picker shows only the connector's methods, the fields follow the method,
    the new method needs its whole credential, secrets are never shown back, and the
    profile is validated again against the sandbox."""
    rally = rally_factory(users=20, seed=2)
    db, keys, clock = web.store.db, web.store.keys, web.clock
    done = threading.Thread(
        target=lambda: asyncio.run(
            published_rally(db, keys, clock, rally.url, rally.org.api_key, name="rally")
        )
    )
    done.start()
    done.join(timeout=120)
    assert _profile(web)[0].status == "published"
    client, csrf = signed_in(web, "sam_integrator")
    page = client.get("/profiles/rally/edit").text
    assert '<option value="oauth"' in page and '<option value="basic"' not in page
    assert 'name="secret"' in page and 'name="client_id"' not in page
    fields = client.get("/profiles/rally/edit/credential", params={"auth": "oauth"}).text
    assert 'name="client_id"' in fields and "leave empty to keep" not in fields
    refused = client.get("/profiles/rally/edit/credential", params={"auth": "basic"})
    assert refused.status_code == 400
    form = {"csrf_token": csrf, "url": rally.url, "action": "validate", "activity": "on"}
    form["reclaim"] = "on"
    # a new method without its credential: refused, named, nothing changed or echoed
    half = client.post(
        "/profiles/rally/edit", data={**form, "auth": "oauth", "client_secret": "s3cret-x"}
    )
    assert half.status_code == 400 and "needs the OAuth client id" in half.text
    assert "s3cret-x" not in half.text
    assert _profile(web)[0].auth == "api-token"
    moved = client.post(
        "/profiles/rally/edit",
        data={**form, "auth": "oauth", "client_id": "app-1", "client_secret": "s3cret-x"},
    )
    assert moved.status_code == 303
    said = client.get("/profiles/rally").text
    assert "sign-in api-token -&gt; oauth" in said and "Press Authorize" in said
    assert "s3cret-x" not in said
    profile, secrets = _profile(web)
    assert profile.auth == "oauth" and secrets == {
        "client_id": "app-1",
        "client_secret": "s3cret-x",
    }
    assert profile.status == "published" and profile.last_validation_ok is None
    edit = client.get("/profiles/rally/edit").text
    assert "s3cret-x" not in edit and "app-1" not in edit  # stored parts never shown back
    back = client.post(
        "/profiles/rally/edit", data={**form, "auth": "api-token", "secret": rally.org.api_key}
    )
    assert back.status_code == 303
    said = client.get("/profiles/rally").text
    assert "sign-in oauth -&gt; api-token" in said and "Validation passed" in said
    profile, secrets = _profile(web)
    assert secrets == {"api_key": rally.org.api_key} and profile.last_validation_ok
