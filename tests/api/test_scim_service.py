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


def new_user(scim: httpx.Client, user_name: str, **extra: Any) -> dict[str, Any]:
    body = {"schemas": [USER_SCHEMA], "userName": user_name, **extra}
    answer = scim.post("/Users", json=body)
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


def test_okta_creates_finds_and_deactivates_a_user(api: Api, scim: httpx.Client) -> None:
    created = new_user(
        scim,
        "ada@example.com",
        externalId="00u1okta",
        name={"givenName": "Ada", "familyName": "Lovelace"},
        displayName="Ada Lovelace",
        emails=[{"value": "ada@example.com", "type": "work", "primary": True}],
        active=True,
    )
    assert created["meta"]["location"].endswith(f"/scim/v2/Users/{created['id']}")
    assert created["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    # Okta's look-ups before it creates or links an account
    for query in (
        'userName eq "ADA@example.com"',
        'externalId eq "00u1okta"',
        'emails[type eq "work"].value eq "ada@example.com"',
    ):
        found = scim.get("/Users", params={"filter": query, "startIndex": 1, "count": 10})
        assert found.status_code == 200, found.text
        body = found.json()
        assert body["totalResults"] == 1, (query, body)
        assert body["Resources"][0]["id"] == created["id"]
    assert scim.get("/Users", params={"filter": 'userName eq "nobody"'}).json()["totalResults"] == 0
    # a session and a token of hers, then Okta unassigns her: active false
    with api.db.transaction() as session:
        user = accounts.get_user(session, "ada@example.com")
        assert user.password_hash if hasattr(user, "password_hash") else True
        sessions.start_session(session, api.clock, user)
        token, _ = accounts.create_token(
            session,
            api.clock,
            TokenCreate(name="ada-script", role=Role.VIEWER, owner="ada@example.com"),
        )
    gone = patch(
        scim,
        f"/Users/{created['id']}",
        {"op": "replace", "value": {"active": False}},
    )
    assert gone.status_code == 200, gone.text
    assert gone.json()["active"] is False
    with api.db.transaction() as session:
        assert sessions.open_sessions(session, api.clock, "ada@example.com") == 0
        assert accounts.verify_token(session, api.clock, token) is None
        assert not accounts.get_user(session, "ada@example.com").active
        actions = [
            e.action
            for e in session.query(AuditEvent).filter(AuditEvent.actor == "scim:okta").all()
        ]
    assert "user.scim_create" in actions and "user.set" in actions
    # and back (Okta re-assigns): active again, with no session revived
    back = patch(
        scim, f"/Users/{created['id']}", {"op": "replace", "path": "active", "value": True}
    )
    assert back.json()["active"] is True


def test_entra_pathless_replace_and_delete(api: Api, scim: httpx.Client) -> None:
    created = new_user(scim, "grace@contoso.com", externalId="e-1", active=True)
    # Entra ID: one replace without a path, "False" as a string for active in older tenants
    answer = patch(
        scim,
        f"/Users/{created['id']}",
        {
            "op": "Replace",
            "value": {"displayName": "Grace Hopper", "name.givenName": "Grace"},
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["displayName"] == "Grace Hopper"
    assert answer.json()["name"]["givenName"] == "Grace"
    with api.db.transaction() as session:
        user = accounts.get_user(session, "grace@contoso.com")
        sessions.start_session(session, api.clock, user)
    assert scim.delete(f"/Users/{created['id']}").status_code == 204
    missing = scim.get(f"/Users/{created['id']}")
    assert missing.status_code == 404
    assert missing.json()["status"] == "404"
    assert missing.headers["content-type"].startswith(SCIM)
    with api.db.transaction() as session:
        assert sessions.open_sessions(session, api.clock, "grace@contoso.com") == 0
        deleted = session.query(AuditEvent).filter(AuditEvent.action == "user.scim_delete").one()
        assert deleted.detail["username"] == "grace@contoso.com"


def test_groups_give_roles(api: Api, scim: httpx.Client) -> None:
    ada = new_user(scim, "ada")
    bob = new_user(scim, "bob")
    admins = scim.post(
        "/Groups",
        json={
            "schemas": [GROUP_SCHEMA],
            "displayName": "sam-admins",  # SHELFWARE_SSO_ROLE_MAP: sam-admins=admin
            "members": [{"value": ada["id"], "display": "ada"}],  # Okta sends display
        },
    )
    assert admins.status_code == 201, admins.text
    team = scim.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "sam_manager"})
    assert team.status_code == 201
    other = scim.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "marketing"})
    assert other.status_code == 201

    def role(name: str) -> Role:
        with api.db.transaction() as session:
            return accounts.get_user(session, name).role

    assert role("ada") is Role.ADMIN and role("bob") is Role.VIEWER
    team_id, admins_id = team.json()["id"], admins.json()["id"]
    added = patch(
        scim,
        f"/Groups/{team_id}",
        {"op": "add", "path": "members", "value": [{"value": bob["id"]}]},
    )
    assert added.status_code == 200, added.text
    patch(
        scim,
        f"/Groups/{other.json()['id']}",
        {"op": "add", "path": "members", "value": [{"value": bob["id"]}]},
    )
    assert role("bob") is Role.SAM_MANAGER
    got = scim.get(f"/Users/{bob['id']}").json()
    assert {g["display"] for g in got["groups"]} == {"sam_manager", "marketing"}
    # Entra ID's removal: a filtered path
    removed = patch(
        scim,
        f"/Groups/{admins_id}",
        {"op": "remove", "path": f'members[value eq "{ada["id"]}"]'},
    )
    assert removed.status_code == 200, removed.text
    assert role("ada") is Role.VIEWER
    listed = scim.get("/Groups", params={"filter": 'displayName eq "SAM-ADMINS"'}).json()
    assert listed["totalResults"] == 1 and "members" not in listed["Resources"][0]
    # a group deleted: its members' roles follow
    assert scim.delete(f"/Groups/{team_id}").status_code == 204
    assert role("bob") is Role.VIEWER
    # a member who is not a provisioned user: refused, nothing written
    refused = patch(
        scim, f"/Groups/{admins_id}", {"op": "add", "path": "members", "value": [{"value": "999"}]}
    )
    assert refused.status_code == 400 and refused.json()["scimType"] == "invalidValue"


def test_local_users_are_out_of_reach_and_names_are_checked(api: Api, scim: httpx.Client) -> None:
    with api.db.transaction() as session:
        accounts.create_user(
            session, api.clock, UserCreate(username="root", password="x" * 12, role=Role.ADMIN)
        )
    assert scim.get("/Users").json()["totalResults"] == 0
    taken = scim.post("/Users", json={"schemas": [USER_SCHEMA], "userName": "root"})
    assert taken.status_code == 409 and taken.json()["scimType"] == "uniqueness"
    assert taken.json()["status"] == "409"
    bad = scim.post("/Users", json={"schemas": [USER_SCHEMA], "userName": "a b/c"})
    assert bad.status_code == 400 and "userName" in bad.json()["detail"]
    unknown = scim.get("/Users/1")  # root's id: not provisioned
    assert unknown.status_code == 404
    broken = scim.post("/Users", content=b"{not json")
    assert broken.status_code == 400 and broken.json()["scimType"] == "invalidSyntax"
    huge = scim.post("/Users", content=b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert huge.status_code == 413 and huge.json()["status"] == "413"
    long_name = scim.post(
        "/Users", json={"schemas": [USER_SCHEMA], "userName": "ok", "displayName": "x" * 301}
    )
    assert long_name.status_code == 400 and "displayName" in long_name.json()["detail"]
    nul = scim.post(
        "/Users", json={"schemas": [USER_SCHEMA], "userName": "ok", "displayName": "a\x00"}
    )
    assert nul.status_code == 400
    assert scim.get("/Users").json()["totalResults"] == 0  # nothing half-written


def test_pages(api: Api, scim: httpx.Client) -> None:
    ids = [new_user(scim, f"u{i:02}")["id"] for i in range(7)]
    seen = []
    for start in (1, 4, 7):
        page = scim.get("/Users", params={"startIndex": start, "count": 3}).json()
        assert page["totalResults"] == 7 and page["startIndex"] == start
        seen += [r["id"] for r in page["Resources"]]
    assert seen == ids
    filtered = scim.get(
        "/Users", params={"filter": 'userName sw "u0"', "startIndex": 2, "count": 2}
    ).json()
    assert filtered["totalResults"] == 7 and len(filtered["Resources"]) == 2


def test_only_scim_tokens_reach_scim_and_nothing_else(api: Api, served_root: str) -> None:
    token = scim_token(api)
    with httpx.Client(base_url=served_root) as client:
        anonymous = client.get("/scim/v2/Users")
        assert anonymous.status_code == 401 and anonymous.json()["status"] == "401"
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        api_token = client.get("/scim/v2/Users", headers=api.auth(Role.ADMIN))
        assert api_token.status_code == 401
        assert "SCIM provisioning token" in api_token.json()["detail"]
        assert (
            client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}).status_code
            == 200
        )
        elsewhere = client.get("/api/v1/profiles", headers={"Authorization": f"Bearer {token}"})
        assert elsewhere.status_code == 401, elsewhere.text
        page = client.get("/", headers={"Authorization": f"Bearer {token}"}, follow_redirects=False)
        assert page.status_code in (303, 307), page.status_code  # the web wants a sign-in


async def test_shelfware_scim_connector_syncs_from_this_service(
    api: Api, scim: httpx.Client, served_root: str
) -> None:
    """The connector side (connectors/scim.py) reads a served shelfware's /scim/v2 like any
    SCIM app: a profile of kind scim, validated, published, synced."""
    from sqlalchemy import select

    from shelfware.models import Subscription
    from shelfware.profiles import service as profiles
    from shelfware.profiles.schemas import ProfileCreate
    from shelfware.sync.service import sync_profile

    ids = {new_user(scim, f"p{i}@example.com", active=i % 3 != 0)["id"] for i in range(9)}
    with api.db.transaction() as session:
        profiles.create_profile(
            session,
            api.keys,
            api.clock,
            ProfileCreate(
                kind="scim",
                name="shelfware-itself",
                url=f"{served_root}/scim/v2",
                secrets={"api_key": scim_token(api, "connector")},
                options={"publisher": "shelfware", "product": "shelfware", "edition": "self"},
            ),
        )
    report = await profiles.validate_profile(api.db, api.keys, api.clock, "shelfware-itself")
    assert report.ok, report
    assert report.facts["account_count"] == 9 and report.facts["patch_supported"] is True
    with api.db.transaction() as session:
        profiles.publish_profile(
            session, api.clock, profiles.get_profile(session, "shelfware-itself")
        )
    summary = await sync_profile(api.db, api.keys, api.clock, "shelfware-itself")
    assert summary.accounts == 9 and summary.created == 9
    with api.db.sessions() as session:
        held = session.execute(select(Subscription.external_id, Subscription.active)).all()
    assert {external for external, _ in held} == ids
    assert sum(1 for _, active in held if active) == 6


def test_what_entra_and_okta_send_beyond_the_kept_attributes(api: Api, scim: httpx.Client) -> None:
    enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    created = new_user(
        scim,
        "lin@contoso.com",
        schemas=[USER_SCHEMA, enterprise],
        title="Buyer",  # not kept: dropped, not refused
        phoneNumbers=[{"value": "+1 555 0100", "type": "work"}],
        **{enterprise: {"department": "Finance"}},
    )
    assert "title" not in created and enterprise not in created
    # Entra ID: "False" as a string, and a work email replaced on a user that has none
    answer = patch(
        scim,
        f"/Users/{created['id']}",
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "lin@contoso.com"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is False
    assert answer.json()["emails"] == [{"value": "lin@contoso.com", "type": "work"}]
    with api.db.transaction() as session:
        assert not accounts.get_user(session, "lin@contoso.com").active


def test_locations_follow_the_public_url(api: Api, served_root: str) -> None:
    use_settings(
        api,
        sso_role_map="sam-admins=admin",
        public_url="https://shelfware.example.com/",
    )
    headers = {"Authorization": f"Bearer {scim_token(api)}"}
    with httpx.Client(base_url=f"{served_root}/scim/v2", headers=headers) as scim:
        created = new_user(scim, "behind-a-proxy")
    assert created["meta"]["location"] == (
        f"https://shelfware.example.com/scim/v2/Users/{created['id']}"
    )


def test_the_same_user_created_at_once_twice_is_one_user(api: Api, scim: httpx.Client) -> None:
    """Identity providers retry: two creations of one name racing give one user, the other
    a uniqueness error (or busy, to retry), never a server error."""
    from concurrent.futures import ThreadPoolExecutor

    body = {"schemas": [USER_SCHEMA], "userName": "twice"}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: scim.post("/Users", json=body), range(4)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == 1 and set(statuses) <= {201, 409, 503}, statuses
    assert scim.get("/Users", params={"filter": 'userName eq "twice"'}).json()["totalResults"] == 1
