"""``PATCH /api/v1/profiles/{name}/connection``: the API changes a profile's connection as the
workspace's edit page does (the profile service's ``change_connection``), over real HTTP against
the Rally sandbox: a replaced credential takes effect at the next validation, the last
validation stops counting, the change is audited with the token that made it, and no secret is
ever answered."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from shelfware.accounts.roles import Role
from shelfware.models import AuditEvent
from tests.api.conftest import Api, error_of

pytestmark = pytest.mark.store


def test_a_credential_replaced_through_the_api(api: Api, served: str, rally_factory: Any) -> None:
    sandbox = rally_factory(users=20)
    secret = sandbox.org.api_key
    answers: list[str] = []

    def call(role: Role, method: str, path: str, **kw: Any) -> httpx.Response:
        response = httpx.request(method, served + path, headers=api.auth(role), timeout=60, **kw)
        answers.append(response.text)
        return response

    integrator = Role.SAM_INTEGRATOR
    wrong = "wrong-key-" + "x" * 20
    body = {"kind": "rally", "name": "rally", "url": sandbox.url, "secrets": {"api_key": wrong}}
    assert call(integrator, "POST", "/profiles", json=body).status_code == 201
    failed = call(integrator, "POST", "/profiles/rally/validate")
    assert failed.status_code == 200 and failed.json()["ok"] is False

    change = {"secrets": {"api_key": secret}, "options": {"page_size": "50"}}
    assert call(Role.VIEWER, "PATCH", "/profiles/rally/connection", json=change).status_code == 403
    changed = call(integrator, "PATCH", "/profiles/rally/connection", json=change)
    assert changed.status_code == 200, changed.text
    said = changed.json()
    assert said["changes"] == ["options page_size", "credential replaced (api_key)"]
    assert said["profile"]["last_validation_ok"] is None  # the failed validation no longer counts
    assert said["profile"]["options"] == {"page_size": "50"}
    passed = call(integrator, "POST", "/profiles/rally/validate")
    assert passed.json()["ok"] is True, passed.text  # the new key is the one used

    same = call(
        integrator, "PATCH", "/profiles/rally/connection", json={"options": {"page_size": "50"}}
    )
    assert same.json()["changes"] == [] and same.json()["profile"]["last_validation_ok"] is True

    bad_url = call(integrator, "PATCH", "/profiles/rally/connection", json={"url": "ftp://x"})
    assert bad_url.status_code in (400, 409, 422) and "URL" in error_of(bad_url)["message"], (
        bad_url.text
    )
    unknown = call(integrator, "PATCH", "/profiles/rally/connection", json={"colour": "red"})
    assert unknown.status_code == 422 and "colour" in unknown.text
    method = call(integrator, "PATCH", "/profiles/rally/connection", json={"auth": "basic"})
    assert method.status_code in (400, 409, 422) and "basic" in error_of(method)["message"]
    missing = call(integrator, "PATCH", "/profiles/nobody/connection", json={})
    assert missing.status_code == 404

    assert not [a for a in answers if secret in a or wrong in a]  # no secret is ever answered
    with api.db.sessions() as session:
        actors = session.scalars(
            select(AuditEvent.actor).where(AuditEvent.action == "profile.connection")
        ).all()
    assert actors == ["token:sam_integrator-token"]  # one change, by the token that made it
