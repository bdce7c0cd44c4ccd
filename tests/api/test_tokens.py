"""API tokens: an owner (dies with their deactivation, never more rights than they hold), an
expiry (401 "token expired"), a last-used time written at most once a minute; the API's
/tokens shows owner, expiry and last use; the audit trail over the API with its filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Role
from shelfware.accounts.schemas import TokenCreate, UserCreate
from tests.api.conftest import Api, error_of

PASSWORD = "correct horse battery staple"


def tc(api: Api) -> TestClient:
    return TestClient(api.app, base_url="http://t/api/v1")


def add_user(api: Api, name: str, role: Role) -> None:
    with api.db.transaction() as session:
        accounts.create_user(
            session, api.clock, UserCreate(username=name, password=PASSWORD, role=role)
        )


def new_token(api: Api, **fields: object) -> str:
    with api.db.transaction() as session:
        plaintext, _ = accounts.create_token(session, api.clock, TokenCreate(**fields))  # type: ignore[arg-type]
    return plaintext


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_expires_after_its_days_and_says_so(api: Api) -> None:
    short = new_token(api, name="short", role=Role.VIEWER, expires_in_days=30)
    default = new_token(api, name="default", role=Role.VIEWER)
    with tc(api) as client:
        assert client.get("/me", headers=bearer(short)).status_code == 200
        listed = {t["name"]: t for t in client.get("/tokens", headers=api.auth(Role.ADMIN)).json()}
        assert listed["short"]["expires_at"].startswith(
            (api.clock.now() + timedelta(days=30)).date().isoformat()
        )
        assert listed["default"]["expires_at"].startswith(
            (api.clock.now() + timedelta(days=90)).date().isoformat()
        )
        api.clock.advance(timedelta(days=30))
        expired = client.get("/me", headers=bearer(short))
        assert expired.status_code == 401
        assert "token expired" in error_of(expired)["message"]  # type: ignore[arg-type]
        assert expired.headers["www-authenticate"] == "Bearer"
        assert client.get("/me", headers=bearer(default)).status_code == 200
        api.clock.advance(timedelta(days=60))
        assert (
            "token expired" in client.get("/me", headers=bearer(default)).json()["error"]["message"]
        )


def test_last_used_is_written_at_most_once_a_minute(api: Api) -> None:
    token = new_token(api, name="script", role=Role.VIEWER)

    def last_used() -> object:
        with api.db.sessions() as session:
            return {t.name: t for t in accounts.list_tokens(session)}["script"].last_used_at

    assert last_used() is None
    with tc(api) as client:
        client.get("/me", headers=bearer(token))
        first = api.clock.now()
        assert last_used() == first
        api.clock.advance(timedelta(seconds=59))
        client.get("/me", headers=bearer(token))
        assert last_used() == first  # not a write per request
        api.clock.advance(timedelta(seconds=1))
        client.get("/me", headers=bearer(token))
        assert last_used() == api.clock.now()


def test_a_token_dies_with_its_owners_deactivation(api: Api) -> None:
    add_user(api, "ana", Role.SAM_MANAGER)
    token = new_token(api, name="ana-script", role=Role.VIEWER, owner="ana")
    with tc(api) as client:
        assert client.get("/me", headers=bearer(token)).status_code == 200
        row = {t["name"]: t for t in client.get("/tokens", headers=api.auth(Role.ADMIN)).json()}
        assert row["ana-script"]["owner"] == "ana" and row["admin-token"]["owner"] is None
        with api.db.transaction() as session:
            accounts.set_user(session, api.clock, "ana", active=False)
        refused = client.get("/me", headers=bearer(token))
        assert refused.status_code == 401
        rows = {t["name"]: t for t in client.get("/tokens", headers=api.auth(Role.ADMIN)).json()}
        assert rows["ana-script"]["revoked"] is True
        with api.db.transaction() as session:  # reactivating the user does not revive it
            accounts.set_user(session, api.clock, "ana", active=True)
        assert client.get("/me", headers=bearer(token)).status_code == 401


def test_a_token_never_holds_more_than_its_owner(api: Api) -> None:
    add_user(api, "vic", Role.VIEWER)
    add_user(api, "off", Role.ADMIN)
    with api.db.transaction() as session:
        accounts.set_user(session, api.clock, "off", active=False)
    with pytest.raises(accounts.AccountError, match="cannot have the role admin"):
        new_token(api, name="x", role=Role.ADMIN, owner="vic")
    with pytest.raises(accounts.AccountError, match="inactive"):
        new_token(api, name="x", role=Role.VIEWER, owner="off")
    add_user(api, "boss", Role.ADMIN)
    token = new_token(api, name="boss-admin", role=Role.ADMIN, owner="boss")
    with tc(api) as client:
        # over the API, a token without an owner acts for the owner of the token creating it
        made = client.post(
            "/tokens", json={"name": "child", "role": "viewer"}, headers=bearer(token)
        )
        assert made.status_code == 201, made.text
        assert made.json()["record"]["owner"] == "boss"
        short = client.post(
            "/tokens",
            json={"name": "brief", "role": "viewer", "expires_in_days": 0},
            headers=bearer(token),
        )
        assert short.status_code == 422
        with api.db.transaction() as session:  # the owner loses admin: so does the token
            accounts.set_user(session, api.clock, "boss", role=Role.VIEWER)
        demoted = client.get("/tokens", headers=bearer(token))
        assert demoted.status_code == 401 and "no longer holds" in demoted.text


def test_the_audit_api_filters_by_action_actor_and_date(api: Api) -> None:
    add_user(api, "ana", Role.VIEWER)
    api.clock.advance(timedelta(days=2))
    with api.db.transaction() as session:
        accounts.set_user(session, api.clock, "ana", role=Role.SAM_MANAGER, actor="web:admin")
    with tc(api) as client:
        admin = api.auth(Role.ADMIN)
        users = client.get("/audit", params={"action": "user"}, headers=admin).json()
        assert [e["action"] for e in users] == ["user.set", "user.create"]
        mine = client.get("/audit", params={"actor": "admin"}, headers=admin).json()
        assert [e["action"] for e in mine] == ["user.set"]
        since = (api.clock.now() - timedelta(days=1)).isoformat()
        recent = client.get("/audit", params={"since": since}, headers=admin).json()
        assert [e["action"] for e in recent] == ["user.set"]
        bad = client.get("/audit", params={"action": "a\x00b"}, headers=admin)
        assert bad.status_code == 422
