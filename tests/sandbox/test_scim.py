"""The SCIM sandbox over real HTTP: list paging and its cap, filters, PATCH variants servers
differ on, DELETE, errors in the SCIM shape."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.scim import MAX_RESULTS, PATCH_OP
from shelfware.sandbox.server import serve_in_thread

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def scim() -> Iterator[tuple[httpx.Client, object]]:
    app, org = SANDBOXES["scim"](260, 2, NOW, 0, FaultSpec())
    with serve_in_thread(app) as server:
        headers = {"Authorization": f"Bearer {org.api_key}"}
        with httpx.Client(base_url=f"{server.url}/scim/v2", headers=headers) as http:
            yield http, app.state.sandbox


def test_list_pages_with_a_capped_count(scim: tuple[httpx.Client, object]) -> None:
    http, _ = scim
    first = http.get("/Users", params={"startIndex": 1, "count": 1000})
    assert first.headers["content-type"].startswith("application/scim+json")
    body = first.json()
    assert body["totalResults"] == 260 and body["itemsPerPage"] == MAX_RESULTS
    rest = http.get("/Users", params={"startIndex": 1 + MAX_RESULTS, "count": 1000}).json()
    ids = [r["id"] for r in body["Resources"] + rest["Resources"]]
    assert len(ids) == len(set(ids)) == 260
    empty = http.get("/Users", params={"startIndex": 999}).json()
    assert empty["totalResults"] == 260 and "Resources" not in empty


def test_filters_and_bad_filters(scim: tuple[httpx.Client, object]) -> None:
    http, sandbox = scim
    some = next(iter(sandbox.users.values()))  # type: ignore[attr-defined]
    found = http.get("/Users", params={"filter": f'userName eq "{some["userName"].upper()}"'})
    assert [r["id"] for r in found.json()["Resources"]] == [some["id"]]
    inactive = http.get("/Users", params={"filter": "active eq false", "count": 500}).json()
    assert inactive["totalResults"] > 0
    assert all(r["active"] is False for r in inactive["Resources"])
    bad = http.get("/Users", params={"filter": 'name co "x"'})
    assert bad.status_code == 400
    assert bad.json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "400",
        "scimType": "invalidFilter",
        "detail": "unsupported filter: 'name co \"x\"'",
    }


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "active", "value": False},
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "replace", "value": {"active": False}},
    ],
)
def test_patch_variants_deactivate(scim: tuple[httpx.Client, object], operation: dict) -> None:
    http, sandbox = scim
    target = next(r for r in sandbox.users.values() if r["active"])  # type: ignore[attr-defined]
    answer = http.patch(
        f"/Users/{target['id']}", json={"schemas": [PATCH_OP], "Operations": [operation]}
    )
    assert answer.status_code == 200 and answer.json()["active"] is False
    assert http.get(f"/Users/{target['id']}").json()["active"] is False


def test_delete_missing_and_auth(scim: tuple[httpx.Client, object]) -> None:
    http, sandbox = scim
    target = next(iter(sandbox.users))  # type: ignore[attr-defined]
    assert http.delete(f"/Users/{target}").status_code == 204
    missing = http.get(f"/Users/{target}")
    assert missing.status_code == 404 and missing.json()["status"] == "404"
    refused = httpx.get(
        str(http.base_url).rstrip("/") + "/Users", headers={"Authorization": "Bearer x"}
    )
    assert refused.status_code == 401 and refused.json()["status"] == "401"
    bad_patch = http.patch(f"/Users/{next(iter(sandbox.users))}", json={"Operations": []})  # type: ignore[attr-defined]
    assert bad_patch.status_code == 400 and bad_patch.json()["scimType"] == "invalidSyntax"
