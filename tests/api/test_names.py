"""A profile and a software model named with "/", "?", "#", "%", spaces and non-ASCII are
reachable on every route and link that names them: the API and the workspace, over real HTTP
(uvicorn decodes %2F in the path; shelfware keeps it a part of the name)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from html import unescape
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Role
from shelfware.accounts.schemas import UserCreate
from shelfware.profiles.service import ensure_software_model
from shelfware.sync.service import sync_profile
from tests.api.conftest import Api, error_of
from tests.helpers import published_rally

pytestmark = pytest.mark.store

NAME = "a/b?c#d %e ü☃"
ODD = "x%2Fy"  # a name that looks like an escape itself
MODEL = ("a/b?c#d %e", "Prod/uct?", "Ed#1 100%")  # publisher, product, edition
PASSWORD = "correct horse battery staple"


def seg(name: str) -> str:
    return quote(name, safe="")


@pytest.fixture
async def named(api: Api, rally_factory: Any) -> str:
    sandbox = rally_factory(users=12, seed=5)
    for name in (NAME, ODD, "x"):
        await published_rally(
            api.db, api.keys, api.clock, sandbox.url, sandbox.org.api_key, name=name
        )
    await sync_profile(api.db, api.keys, api.clock, NAME)
    with api.db.transaction() as session:
        ensure_software_model(session, api.clock, *MODEL)
        accounts.create_user(
            session, api.clock, UserCreate(username="ada", password=PASSWORD, role=Role.ADMIN)
        )
    return NAME


@pytest.fixture
def http(api: Api, served: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served, headers=api.auth(Role.ADMIN), timeout=30) as client:
        yield client


def test_api_reaches_odd_profile_names(named: str, http: httpx.Client) -> None:
    for name in (NAME, ODD):
        got = http.get(f"/profiles/{seg(name)}")
        assert got.status_code == 200, got.text
        assert got.json()["name"] == name
        runs = http.get(f"/profiles/{seg(name)}/runs")
        assert runs.status_code == 200, runs.text
        changed = http.patch(f"/profiles/{seg(name)}", json={"activity": True})
        assert changed.status_code == 200, changed.text
        assert changed.json()["profile"]["name"] == name
    assert len(http.get(f"/profiles/{seg(NAME)}/runs").json()) == 1  # the one sync
    # "/" inside a name is never a path separator: "x/runs" is no profile, not x's runs
    missing = http.get(f"/profiles/{seg('x/runs')}")
    assert missing.status_code == 404 and "x/runs" in error_of(missing)["message"]
    subs = http.get("/subscriptions", params={"profile": NAME})
    assert subs.status_code == 200 and subs.json()["items"]
    assert http.post(f"/profiles/{seg(ODD)}/publish").json()["name"] == ODD
    assert http.delete(f"/profiles/{seg(ODD)}").status_code == 204
    assert http.get(f"/profiles/{seg(ODD)}").status_code == 404
    assert http.get("/profiles/x").status_code == 200  # its look-alike is untouched


def test_api_reaches_odd_model_names(named: str, http: httpx.Client) -> None:
    display = " ".join(MODEL)
    dry = http.get(f"/rules/{seg(display)}/dry-run")
    assert dry.status_code == 200, dry.text
    slashed = "/".join(MODEL)  # the 'Publisher/Product/Edition' form, slashes and all
    assert http.get(f"/rules/{seg(slashed)}/dry-run").status_code == 200
    linked = http.put(
        f"/directory/models/{seg(display)}/same-app",
        json={"same_as": "Broadcom Rally Unlimited"},
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["software_model"] == display
    subs = http.get("/subscriptions", params={"model": display})
    assert subs.status_code == 200, subs.text


def sign_in(root: str) -> httpx.Client:
    """A workspace client over plain HTTP: the session cookie is Secure, so it is carried by
    hand (a browser allows it on loopback)."""
    client = httpx.Client(base_url=root, timeout=30, follow_redirects=False)
    page = client.get("/sign-in")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf
    cookie = page.headers["set-cookie"].split(";", 1)[0]
    answer = client.post(
        "/sign-in",
        data={"username": "ada", "password": PASSWORD, "csrf_token": csrf.group(1)},
        headers={"cookie": cookie},
    )
    assert answer.status_code == 303, answer.text
    client.headers["cookie"] = answer.headers["set-cookie"].split(";", 1)[0]
    return client


def _links(html: str) -> list[str]:
    return [unescape(x) for x in re.findall(r'(?:href|action)="([^"]+)"', html)]


def test_workspace_links_and_routes_encode_names(named: str, served: str) -> None:
    root = served.removesuffix(urlsplit(served).path)
    encoded = f"/profiles/{seg(NAME)}"
    with closing(sign_in(root)) as web:
        listing = web.get("/profiles")
        assert listing.status_code == 200
        assert encoded in _links(listing.text)
        page = web.get(encoded)
        assert page.status_code == 200, page.text
        assert f"<h1>{NAME} " in unescape(page.text)
        links = _links(page.text)
        for action in ("validate", "sync", "delete"):  # published: no publish button
            assert f"{encoded}/{action}" in links, (action, links)
        assert f"/runs?profile={seg(NAME)}" in links
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert csrf
        published = web.post(f"{encoded}/publish", data={"csrf_token": csrf.group(1)})
        assert published.status_code == 303
        assert published.headers["location"] == encoded
        assert web.get(published.headers["location"]).status_code == 200
        queued = web.post(f"{encoded}/sync", data={"csrf_token": csrf.group(1)})
        assert queued.status_code == 303
        assert queued.headers["location"] == f"/runs?profile={seg(NAME)}"
        runs = web.get(queued.headers["location"])
        assert runs.status_code == 200
        assert encoded in _links(runs.text)
        assert f"/runs?profile={seg(NAME)}" in _links(runs.text)
        # the sign-in round trip keeps the name: ?next= carries the escaped path
    with httpx.Client(base_url=root, timeout=30, follow_redirects=False) as visitor:
        bounced = visitor.get(encoded)
        assert bounced.status_code == 303
        assert bounced.headers["location"] == "/sign-in?next=" + quote(encoded, safe="")
    with closing(sign_in(root)) as web:
        page = web.get(encoded)
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert csrf
        gone = web.post(f"{encoded}/delete", data={"csrf_token": csrf.group(1)})
        assert gone.status_code == 303 and gone.headers["location"] == "/profiles"
        assert web.get(encoded).status_code == 404
        assert web.get("/profiles/x").status_code == 200


@pytest.mark.parametrize("name", [".", "..", "new", "NEW"])
def test_names_no_link_can_reach_are_refused(api: Api, served: str, name: str) -> None:
    with httpx.Client(base_url=served, headers=api.auth(Role.ADMIN), timeout=30) as http:
        made = http.post(
            "/profiles",
            json={
                "kind": "rally",
                "name": name,
                "url": "https://rally1.rallydev.com",
                "secrets": {"api_key": "k"},
            },
        )
    assert made.status_code == 422, made.text
    assert error_of(made)["field"] == "name"
