"""SCIM provisioning tokens: `shelfware scim tokens create|list|revoke`, and what they reach
(only /scim/v2: the API refuses them, /scim/v2 refuses API tokens)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shelfware.accounts import service
from shelfware.accounts.roles import Role
from shelfware.accounts.schemas import TokenCreate, TokenKind
from shelfware.kit.clock import FrozenClock
from tests.cli.conftest import assert_one_line_error, database, invoke
from tests.conftest import NOW


def test_scim_tokens_create_list_revoke(home: Path) -> None:
    ran = invoke(home, "scim", "tokens", "create", "okta", "--expires-in", "52w")
    assert ran.code == 0, ran
    token = ran.stdout.strip().splitlines()[-1]
    assert token.startswith("shw_") and "/scim/v2" in ran.stdout
    listed = invoke(home, "scim", "tokens", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["kind"], r["revoked"]) for r in rows] == [("okta", "scim", False)]
    assert token not in listed.stdout
    assert "shw_" not in invoke(home, "scim", "tokens", "list").stdout
    # `shelfware tokens list` lists API tokens only
    assert json.loads(invoke(home, "tokens", "list", "--json").stdout) == []
    db = database(home)
    clock = FrozenClock(NOW)
    with db.transaction() as session:
        principal = service.authenticate_token(session, clock, token, kind=TokenKind.SCIM)
        assert principal.kind == "scim" and principal.name == "okta"
        with pytest.raises(service.TokenRejected, match="reaches /scim/v2 only"):
            service.authenticate_token(session, clock, token)
    # `tokens revoke`-style by kind: an API token is not a SCIM token
    assert invoke(home, "tokens", "create", "ci", "--role", "viewer").code == 0
    assert_one_line_error(
        invoke(home, "scim", "tokens", "revoke", "ci"), "no SCIM provisioning token named 'ci'"
    )
    assert invoke(home, "scim", "tokens", "revoke", "okta").code == 0
    with db.transaction() as session:
        assert service.verify_token(session, clock, token) is None
        with pytest.raises(service.TokenRejected, match="unknown or revoked"):
            service.authenticate_token(session, clock, token, kind=TokenKind.SCIM)
    db.dispose()
    assert_one_line_error(
        invoke(home, "scim", "tokens", "create", "x", "--expires-in", "0d"), "--expires-in"
    )


def test_an_api_token_does_not_authenticate_as_scim(home: Path) -> None:
    db = database(home)
    clock = FrozenClock(NOW)
    with db.transaction() as session:
        plaintext, view = service.create_token(
            session, clock, TokenCreate(name="admin", role=Role.ADMIN)
        )
        assert view.kind is TokenKind.API
        with pytest.raises(service.TokenRejected, match="only a SCIM provisioning token"):
            service.authenticate_token(session, clock, plaintext, kind=TokenKind.SCIM)
        assert service.authenticate_token(session, clock, plaintext).kind == "token"
    db.dispose()
