"""SCIM editions and downgrades against the SCIM sandbox over real HTTP: the edition comes from
`--option edition_attribute`, a downgrade is a PATCH of it, refusals are clear."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shelfware.connectors.base import AccountRef, ConnectorError, ConnectorSettings, ReclaimOutcome
from shelfware.connectors.scim import ScimConnector
from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.scim import MEDIA_TYPE, PATCH_OP
from shelfware.sandbox.server import serve_in_thread

from ..conftest import NOW


@pytest.fixture
def scim() -> Iterator[tuple[Any, Any, str]]:
    app, org = SANDBOXES["scim"](40, 5, NOW, 0, FaultSpec())
    with serve_in_thread(app) as server:
        yield app.state.sandbox, org, f"{server.url}/scim/v2"


def connector(url: str, org: Any, **options: str) -> ScimConnector:
    return ScimConnector(
        ConnectorSettings(url=url, secrets={"api_key": org.api_key}, options=options)
    )


async def test_editions_come_from_the_attribute_and_a_downgrade_patches_it(
    scim: tuple[Any, Any, str],
) -> None:
    sandbox, org, url = scim
    scim_connector = connector(url, org, edition="Pro", edition_attribute="usertype")
    assert ScimConnector.profile_capabilities({"edition_attribute": "userType"}).downgrade
    assert not ScimConnector.profile_capabilities({}).downgrade
    try:
        records = [r async for page in scim_connector.accounts() for r in page]
        by_id = {r.external_id: r for r in records}
        assert {r.edition for r in records} == {"Pro", "Basic"}
        assert all(by_id[i].edition == u["userType"] for i, u in sandbox.users.items())
        pro = next(r for r in records if r.edition == "Pro" and r.active)
        ref = AccountRef(pro.external_id, pro.username)
        result = await scim_connector.downgrade(ref, "Basic")
        assert result.outcome is ReclaimOutcome.RECLAIMED, result
        assert sandbox.users[pro.external_id]["userType"] == "Basic"
        assert sandbox.users[pro.external_id]["active"] is True
        current = await scim_connector.current(ref)
        assert current is not None and current.edition == "Basic"
        gone = await scim_connector.downgrade(AccountRef("no-such-user"), "Basic")
        assert gone.outcome is ReclaimOutcome.ALREADY_GONE
    finally:
        await scim_connector.aclose()
    plain = connector(url, org, edition="Pro")
    try:
        refused = await plain.downgrade(ref, "Basic")
        assert refused.outcome is ReclaimOutcome.FAILED and "edition_attribute" in refused.message
    finally:
        await plain.aclose()


def test_an_edition_attribute_that_cannot_carry_an_edition_is_refused() -> None:
    with pytest.raises(ConnectorError, match="edition_attribute must be one of"):
        connector(
            "http://127.0.0.1:9/scim/v2",
            type("O", (), {"api_key": "k"})(),
            edition_attribute="roles",
        )


def test_the_sandbox_checks_what_a_patch_sets(scim: tuple[Any, Any, str]) -> None:
    sandbox, org, url = scim
    user_id = next(iter(sandbox.users))
    headers = {"Authorization": f"Bearer {org.api_key}", "Content-Type": MEDIA_TYPE}

    def patch(operations: list[dict[str, Any]]) -> httpx.Response:
        body = {"schemas": [PATCH_OP], "Operations": operations}
        return httpx.patch(f"{url}/Users/{user_id}", json=body, headers=headers)

    refused = patch([{"op": "replace", "path": "userType", "value": 3}])
    assert refused.status_code == 400 and refused.json()["scimType"] == "invalidValue"
    assert patch([{"op": "replace", "path": "roles", "value": "admin"}]).status_code == 400
    both = patch([{"op": "Replace", "value": {"userType": "Basic", "active": False}}])
    assert both.status_code == 200
    assert (both.json()["userType"], both.json()["active"]) == ("Basic", False)
    roles = patch([{"op": "replace", "path": "roles", "value": [{"value": "member"}]}])
    assert roles.json()["roles"] == [{"value": "member"}]
