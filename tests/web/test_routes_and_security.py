"""The role matrix over every route of the workspace (from its route table), CSRF on every
unsafe request, sessions that end, the sign-in rate limit, and the security headers."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Permission, Role, allows
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.licensing.service import add_entitlement
from shelfware.models import Entitlement, Person
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.web.answers import ANSWER_PATH
from shelfware.web.routes import ROUTES
from shelfware.web.security import SESSION_SECONDS
from tests.web.conftest import PASSWORD, Web, csrf_of, signed_in

SECRET = "s3cret-token-never-shown"
PROFILE = "p1"


def ensure_profile(web: Web, url: str = "http://127.0.0.1:9/slm/webservice") -> None:
    with web.store.db.transaction() as session:
        try:
            profiles.get_profile(session, PROFILE)
        except profiles.ProfileNotFound:
            profiles.create_profile(
                session,
                web.store.keys,
                web.clock,
                ProfileCreate(
                    kind="rally",
                    name=PROFILE,
                    url=url,
                    secrets={"api_key": SECRET},
                ),
            )
            # a software model with its rule, and a person: the pages of one
            model = profiles.ensure_software_model(session, web.clock, "Broadcom", "Rally", "U")
            profiles.ensure_default_rule(session, web.clock, model)
            if session.get(Person, 1) is None:
                session.add(Person(email="ada@example.com", created_at=web.clock.now()))
            if session.get(Entitlement, 1) is None:
                add_entitlement(
                    session, web.clock, EntitlementCreate(model=str(model.id), seats=1, unit_cost=1)
                )


def concrete(path: str) -> str:
    path = path.replace("/reports/{name}", "/reports/compliance")  # a report's name
    return (
        path.replace("{name}", PROFILE)
        .replace("{candidate_id}", "1")
        .replace("{campaign}", "1")
        .replace("{person_id}", "1")
        .replace("{entitlement_id}", "1")
        .replace("{model}", "1")  # the rule of the software model with id 1
    )


def page_routes(routes: list[Any]) -> set[tuple[str, str]]:
    """Every (method, path) the app serves outside its mounts (the API, /static)."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, APIRoute):
            found |= {(method, route.path) for method in route.methods}
        elif isinstance(route, Route) and route.path != ANSWER_PATH:
            # the answer page's signed single-use link is its credential: no session, no role
            raise AssertionError(f"{route.path} is served outside the route table")
        elif not isinstance(route, Mount) and hasattr(route, "original_router"):
            found |= page_routes(route.original_router.routes)  # an included router
    return found


def test_the_route_table_covers_every_page_route(web: Web) -> None:
    table = {(r.method, r.path) for r in ROUTES}
    served = page_routes(web.app.routes)  # type: ignore[attr-defined]
    assert served == table
    assert len(table) >= 18
    # the audit trail's page (and its CSV export) is the admin's, as the API's /audit
    assert ("GET", "/audit", Permission.AUDIT_READ) in {
        (r.method, r.path, r.permission) for r in ROUTES
    }


@pytest.mark.store
def test_every_route_allows_exactly_the_roles_of_the_matrix(web: Web, rally_factory: Any) -> None:
    url = rally_factory(users=20).url  # allowed validations and syncs reach a real app
    clients = {role.value: signed_in(web, role.value) for role in Role}
    checked = 0
    for route in ROUTES:
        if route.permission is None:
            continue
        # refused roles first: what they try must leave everything as it was
        roles = sorted(Role, key=lambda r: allows(r, route.permission))  # type: ignore[arg-type]
        for role in roles:
            ensure_profile(web, url)
            client, token = clients[role.value]
            path = concrete(route.path)
            if route.method == "GET":
                response = client.get(path)
            else:
                response = client.post(path, data={"csrf_token": token})
            allowed = allows(role, route.permission)
            where = f"{route.method} {path} as {role.value}"
            if allowed:
                assert response.status_code not in (401, 403), where
                assert "/sign-in" not in response.headers.get("location", ""), where
                assert response.status_code < 500, where
            else:
                assert response.status_code == 403, where
                assert "does not allow" in response.text, where
                with web.store.db.sessions() as session:  # a refused delete deleted nothing
                    profiles.get_profile(session, PROFILE)
            checked += 1
    assert checked >= 4 * 16


def test_visitors_are_sent_to_sign_in_and_cannot_post(web: Web) -> None:
    ensure_profile(web)
    client = web.client()
    token = csrf_of(client.get("/sign-in").text)  # a visitor's session has a CSRF token too
    for route in ROUTES:
        if route.permission is None:
            continue
        path = concrete(route.path)
        if route.method == "GET":
            response = client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/sign-in?next="), path
        else:
            response = client.post(path, data={"csrf_token": token})
            assert response.status_code == 401, path


def test_csrf_missing_forged_or_from_another_session_is_refused(web: Web) -> None:
    ensure_profile(web)
    client, token = signed_in(web, "admin")
    _, other_token = signed_in(web, "sam_integrator")
    path = f"/profiles/{PROFILE}/delete"
    assert client.post(path).status_code == 403
    assert client.post(path, data={"csrf_token": ""}).status_code == 403
    assert client.post(path, data={"csrf_token": token[:-2] + "xx"}).status_code == 403
    assert client.post(path, data={"csrf_token": other_token}).status_code == 403
    assert client.post(path, headers={"X-CSRF-Token": "forged"}).status_code == 403
    with web.store.db.sessions() as session:
        profiles.get_profile(session, PROFILE)  # still there
    # htmx sends the token in a header: accepted
    response = client.post(path, headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert response.status_code == 303
    with web.store.db.sessions() as session, pytest.raises(profiles.ProfileNotFound):
        profiles.get_profile(session, PROFILE)
    # sign-in and sign-out are forms too
    fresh = web.client()
    fresh.get("/sign-in")
    refused = fresh.post("/sign-in", data={"username": "admin", "password": PASSWORD})
    assert refused.status_code == 403
    assert client.post("/sign-out").status_code == 403


def test_sessions_expire_and_end_with_a_password_change(web: Web) -> None:
    client, _ = signed_in(web, "viewer")
    assert client.get("/").status_code == 200
    web.clock.advance(timedelta(seconds=SESSION_SECONDS + 1))
    assert client.get("/").headers["location"].startswith("/sign-in")

    client, _ = signed_in(web, "viewer")
    web.clock.advance(timedelta(minutes=5))
    with web.store.db.transaction() as session:
        accounts.set_password(session, web.clock, "viewer", "a brand new passphrase")
    assert client.get("/").headers["location"].startswith("/sign-in")


def test_sign_out_ends_the_session_even_for_a_copy_of_the_cookie(web: Web) -> None:
    client, token = signed_in(web, "viewer")
    copy = client.cookies["shelfware_session"]
    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 303
    assert 'shelfware_session=""' in response.headers["set-cookie"]
    assert client.get("/").headers["location"].startswith("/sign-in")
    thief = web.client()
    thief.cookies.set("shelfware_session", copy)
    assert thief.get("/").headers["location"].startswith("/sign-in")


def test_sign_in_is_rate_limited_per_user_name_and_address(web: Web) -> None:
    client = web.client()
    token = csrf_of(client.get("/sign-in").text)
    for _ in range(5):
        wrong = client.post(
            "/sign-in", data={"username": "admin", "password": "guess", "csrf_token": token}
        )
        assert wrong.status_code == 401
        assert "Wrong user name or password" in wrong.text
    right = {"username": "admin", "password": PASSWORD, "csrf_token": token}
    limited = client.post("/sign-in", data=right)
    assert limited.status_code == 429 and "Too many failed sign-ins" in limited.text
    other = client.post(
        "/sign-in", data={"username": "viewer", "password": PASSWORD, "csrf_token": token}
    )
    assert other.status_code == 303  # another user from the same place is not locked out


def test_sign_in_redirects_only_to_this_site(web: Web) -> None:
    client = web.client()
    token = csrf_of(client.get("/sign-in").text)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = client.post(
            "/sign-in",
            data={"username": "admin", "password": PASSWORD, "csrf_token": token, "next": target},
        )
        assert response.headers["location"] == "/", target
        client.cookies.clear()
        token = csrf_of(client.get("/sign-in").text)


INLINE = re.compile(r"<script(?![^>]*\bsrc=)|\sstyle=|\son[a-z]+=|javascript:", re.I)


def ensure_campaign(web: Web) -> None:
    """Review campaign 1 (of the profile's seats), for the pages of ``/reviews/{campaign}``."""
    from datetime import timedelta

    from shelfware.reviews import service as reviews
    from shelfware.reviews.schemas import CampaignCreate

    with web.store.db.transaction() as session:
        reviews.create_campaign(
            session,
            web.clock,
            CampaignCreate(
                name="Q4",
                scope=f"profile={PROFILE}",
                due=web.clock.now() + timedelta(days=7),
                owner="owner@example.com",
            ),
        )


def test_headers_no_inline_code_and_no_secret_on_any_page(web: Web) -> None:
    ensure_profile(web)
    ensure_campaign(web)
    client, _ = signed_in(web, "admin")
    pages = [
        concrete(r.path)
        for r in ROUTES
        if r.method == "GET" and r.permission is not None and "callback" not in r.path
    ]
    for path in [*pages, "/profiles/new?kind=rally", "/sign-in"]:
        response = (web.client() if path == "/sign-in" else client).get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["cache-control"] == "no-store"
        assert not INLINE.search(response.text), (path, INLINE.search(response.text))
        assert SECRET not in response.text, path
    api = client.get("/api/v1/openapi.json")
    assert api.headers["x-content-type-options"] == "nosniff"
    static = client.get("/static/htmx.min.js")
    assert static.status_code == 200 and "Zero-Clause BSD" in static.text[:400]
    cookie = signed_in(web, "viewer")[0].cookies
    assert cookie.get("shelfware_session")
