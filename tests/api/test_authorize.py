"""OAuth started through the API (authorization code with PKCE against the Asana sandbox):
the answer is the consent URL; the redirect's code, handed to the profile service as the
web's /oauth/callback will, stores the tokens encrypted; the state is taken once."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy import select

from shelfware.accounts.roles import Role
from shelfware.appstate import Workspace
from shelfware.audit.service import acting_as
from shelfware.models import AuditEvent
from shelfware.profiles import authorization
from shelfware.profiles import service as profiles
from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.asana_oauth import CLIENT_ID, CLIENT_SECRET
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.server import serve_in_thread
from tests.api.conftest import Api, error_of
from tests.conftest import NOW

pytestmark = pytest.mark.store


async def test_authorize_through_the_api(api: Api, client: httpx.AsyncClient) -> None:
    app, org = SANDBOXES["asana"](20, 5, NOW, 0, FaultSpec())
    integrator = api.auth(Role.SAM_INTEGRATOR)
    with serve_in_thread(app) as server:
        created = await client.post(
            "/profiles",
            headers=integrator,
            json={
                "kind": "asana",
                "name": "asana",
                "url": server.url,
                "auth": "oauth",
                "secrets": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
                "options": {"workspace": org.organisation.gid},
            },
        )
        assert created.status_code == 201, created.text
        assert (
            await client.post("/profiles/asana/authorize", headers=api.auth(Role.SAM_MANAGER))
        ).status_code == 403
        default = await client.post("/profiles/asana/authorize", headers=integrator)
        # this server's own callback, reached over plain http on a host that is not loopback:
        # the code would cross the network in clear
        assert default.status_code == 409, default.text
        assert "redirect_uri" in default.json()["error"]["message"]
        callback = "http://127.0.0.1:8000/oauth/callback"
        started = await client.post(
            "/profiles/asana/authorize", headers=integrator, json={"redirect_uri": callback}
        )
        assert started.status_code == 200, started.text
        body = started.json()
        assert body["redirect_uri"] == callback
        query = dict(parse_qsl(urlsplit(body["authorization_url"]).query))
        assert query["state"] == body["state"] and query["code_challenge_method"] == "S256"
        assert CLIENT_SECRET not in started.text

        # the person consents; the app sends the browser back with a code
        consent = httpx.get(body["authorization_url"], follow_redirects=False, timeout=10)
        back = dict(parse_qsl(urlsplit(consent.headers["location"]).query))
        assert back["state"] == body["state"]

        workspace: Workspace = api.app.state.workspace
        taken = workspace.authorizations.take(back["state"])
        assert taken is not None and taken[0] == "asana"
        assert workspace.authorizations.take(back["state"]) is None  # once only
        with acting_as("user:ana"):
            await authorization.finish_authorization(
                api.db, api.keys, api.clock, taken[0], taken[1], back
            )
    with api.db.sessions() as session:
        secrets = profiles.secrets_of(profiles.get_profile(session, "asana"), api.keys)
    assert secrets["access_token"] and secrets["client_id"] == CLIENT_ID
    shown = await client.get("/profiles/asana", headers=integrator)
    assert secrets["access_token"] not in shown.text and CLIENT_SECRET not in shown.text
    assert json.loads(shown.text)["auth"] == "oauth"
    with api.db.sessions() as session:
        actors = dict(session.execute(select(AuditEvent.action, AuditEvent.actor)).tuples().all())
    assert actors["profile.authorize"] == "user:ana"
    assert actors["profile.create"] == "token:sam_integrator-token"


async def test_authorize_needs_an_oauth_profile(api: Api, client: httpx.AsyncClient) -> None:
    integrator = api.auth(Role.SAM_INTEGRATOR)
    await client.post(
        "/profiles",
        headers=integrator,
        json={
            "kind": "rally",
            "name": "r",
            "url": "https://rally1.rallydev.com/slm/webservice",
            "secrets": {"api_key": "k"},
        },
    )
    refused = await client.post("/profiles/r/authorize", headers=integrator)
    assert refused.status_code == 409 and "client id" in error_of(refused)["message"]
    missing = await client.post("/profiles/none/authorize", headers=integrator)
    assert missing.status_code == 404
