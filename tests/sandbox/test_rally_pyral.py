"""Fidelity with Broadcom's official Python toolkit for Rally (pyral) pointed at the sandbox.

pyral hard-codes ``https://{server}/slm/webservice/v2.0`` (``pyral.config.PROTOCOL``), so the
sandbox is served over TLS with a trustme certificate and ``REQUESTS_CA_BUNDLE`` points at the
trustme CA (certificate verification stays on). At connect time pyral reads the key owner
(``GET /user`` without a query), the owner's UserProfile, the Subscription, its open Workspaces,
the workspace's Projects and the workspace type schema (``/slm/schema/v2.0/workspace/{oid}``);
``update`` then validates attribute names against the User type definition.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyral import Rally
from pyral.context import RallyRESTAPIError

from .conftest import RallyServer, StartRally, Tls


@pytest.fixture
def tls_rally(
    start_rally: StartRally, tls: Tls, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RallyServer]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca)
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    yield start_rally(users=1200, seed=21, ssl=(tls.cert, tls.key))


def connect(rally: RallyServer, key: str | None = None) -> Rally:
    server = rally.url.removeprefix("https://")
    return Rally(server, apikey=key or rally.org.api_key, warn=False)


def test_connects_and_learns_context(tls_rally: RallyServer) -> None:
    rally = connect(tls_rally)
    assert rally.subscriptionName() == "Sandbox Org"
    assert rally.getWorkspace().Name == "Sandbox Workspace"
    assert rally.getProject().Name == "Sandbox Project"
    owner = rally.get("User", fetch="ObjectID,UserName", _disableAugments=True).next()
    expected = tls_rally.org.owner
    assert (owner.ObjectID, owner.UserName) == (expected.object_id, expected.username)


def test_bad_key_is_refused(tls_rally: RallyServer) -> None:
    with pytest.raises(RallyRESTAPIError, match="Invalid credentials"):
        connect(tls_rally, key="_not-the-key")


def test_lists_every_user_across_pages(tls_rally: RallyServer) -> None:
    rally = connect(tls_rally)
    response = rally.get(
        "User",
        fetch="ObjectID,UserName,EmailAddress,Disabled,SubscriptionAdmin,LastLoginDate,"
        "LastActiveDate,CreationDate",
        query="((Disabled = true) OR (Disabled = false))",
        pagesize=100,
    )
    assert response.errors == [] and response.resultCount == 1200
    users = list(response)  # pyral pages itself (with threads beyond 1,000 results)
    assert [u.ObjectID for u in users] == [u.object_id for u in tls_rally.org.users]
    by_id = tls_rally.org.by_id
    for u in users[:50]:
        assert u.UserName == by_id[u.ObjectID].username
        assert u.Disabled is by_id[u.ObjectID].disabled
    assert tls_rally.sandbox.requests > 12  # connect + 12 pages


def test_query_through_pyral(tls_rally: RallyServer) -> None:
    rally = connect(tls_rally)
    disabled = rally.get("User", fetch="ObjectID", query="Disabled = true", pagesize=200)
    assert {u.ObjectID for u in disabled} == {
        u.object_id for u in tls_rally.org.users if u.disabled
    }
    bad = rally.get("User", fetch="ObjectID", query="(Nickname = x)")
    assert bad.errors and bad.errors[0].startswith("Could not parse")


def test_disables_a_user(tls_rally: RallyServer) -> None:
    rally = connect(tls_rally)
    target = next(u for u in tls_rally.org.users[1:] if not u.disabled)
    updated = rally.update("User", {"ObjectID": target.object_id, "Disabled": True})
    assert updated.ObjectID == target.object_id and updated.Disabled is True
    assert target.disabled and tls_rally.sandbox.disable_calls == 1
    again = rally.get("User", fetch="Disabled", query=f"ObjectID = {target.object_id}").next()
    assert again.Disabled is True
