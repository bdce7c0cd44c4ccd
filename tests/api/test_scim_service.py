"""/scim/v2, shelfware's SCIM 2.0 service, over real HTTP (uvicorn on loopback): the
conformance checker ``scim2-tester`` finds no failure; what Okta and Entra ID send (filters,
``active: false``, path-less replace, group membership) does what it should; deprovisioning
ends sessions and tokens at once; only SCIM provisioning tokens reach it, and they reach
nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from shelfware.accounts import service as accounts
from shelfware.accounts import sessions
from shelfware.accounts.roles import Role
from shelfware.accounts.schemas import TokenCreate, TokenKind, UserCreate
from shelfware.models import AuditEvent
from tests.api.conftest import Api, use_settings

pytestmark = pytest.mark.store

SCIM = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def scim_token(api: Api, name: str = "okta") -> str:
    with api.db.transaction() as session:
        plaintext, view = accounts.create_token(
            session,
            api.clock,
            TokenCreate(name=name, role=Role.VIEWER),
            kind=TokenKind.SCIM,
        )
    assert view.kind is TokenKind.SCIM
    return plaintext


@pytest.fixture
def served_root(api: Api) -> Iterator[str]:
    from shelfware.sandbox.server import serve_in_thread

    use_settings(api, sso_role_map="sam-admins=admin,sam-team=sam_manager")
    with serve_in_thread(api.app) as server:
        yield str(server.url)


@pytest.fixture
def scim(api: Api, served_root: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {scim_token(api)}", "Content-Type": SCIM}
    with httpx.Client(base_url=f"{served_root}/scim/v2", headers=headers) as client:
        yield client


def new_user(scim: httpx.Client, name: str, **extra: Any) -> dict[str, Any]:
    answer = scim.post("/Users", json={"schemas": [USER_SCHEMA], "userName": name, **extra})
    assert answer.status_code == 201, answer.text
    assert answer.headers["content-type"].startswith(SCIM)
    return dict(answer.json())


def patch(scim: httpx.Client, path: str, *operations: dict[str, Any]) -> httpx.Response:
    return scim.patch(path, json={"schemas": [PATCH_SCHEMA], "Operations": list(operations)})


def test_scim2_tester_finds_no_failure(api: Api, served_root: str) -> None:
    token = scim_token(api, "conformance")
    with httpx2.Client(
        base_url=f"{served_root}/scim/v2", headers={"Authorization": f"Bearer {token}"}
    ) as http:
        results = check_server(SyncSCIMClient(http))
    failed = [
        (r.title, r.resource_type, r.reason)
        for r in results
        if r.status in (Status.ERROR, Status.CRITICAL)
    ]
    for title, kind, reason in failed:
        print("FAILED", title, kind, reason)
    assert not failed, failed
    passed = [r for r in results if r.status is Status.SUCCESS]
    assert len(passed) >= 40, len(passed)
    titles = {r.title for r in passed}
    assert {"object_creation", "object_replacement", "object_deletion"} <= titles, titles
