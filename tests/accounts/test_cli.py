"""`shelfware users ...` and `shelfware tokens ...` in process, against an initialised home."""

from __future__ import annotations

import json
from pathlib import Path

from shelfware.accounts import service
from shelfware.kit.clock import FrozenClock
from tests.cli.conftest import assert_one_line_error, database, invoke
from tests.conftest import NOW

PASSWORD = "a long enough password"


def add(home: Path, name: str = "ana", role: str = "viewer", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return invoke(
        home, "users", "add", name, "--role", role, "--password-env", "PW", env={"PW": password}
    )


def test_users_add_list_and_sign_in(home: Path) -> None:
    ran = add(home, role="sam_manager")
    assert ran.code == 0, ran
    assert PASSWORD not in ran.stdout + ran.stderr
    listed = invoke(home, "users", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["username"], r["role"], r["active"]) for r in rows] == [("ana", "sam_manager", True)]
    assert "password_hash" not in listed.stdout and "argon2" not in listed.stdout
    db = database(home)
    with db.transaction() as session:
        assert service.authenticate(session, FrozenClock(NOW), "ana", PASSWORD) is not None
    db.dispose()


def test_users_add_refusals_are_one_line(home: Path) -> None:
    assert_one_line_error(add(home, role="root"), "unknown role 'root'")
    assert_one_line_error(
        invoke(home, "users", "add", "ana", "--role", "viewer", "--password-env", "NOPE"),
        "NOPE",
    )
    short = add(home, password="short")
    assert "short" not in assert_one_line_error(short, "password")
    assert add(home).code == 0
    assert_one_line_error(add(home), "already exists")


def test_users_set_turns_an_account_off(home: Path) -> None:
    add(home)
    assert invoke(home, "users", "set", "ana", "--role", "admin", "--inactive").code == 0
    rows = json.loads(invoke(home, "users", "list", "--json").stdout)
    assert (rows[0]["role"], rows[0]["active"]) == ("admin", False)
    assert_one_line_error(invoke(home, "users", "set", "bob", "--active"), "no user named 'bob'")


def test_tokens_create_prints_the_token_once(home: Path) -> None:
    ran = invoke(home, "tokens", "create", "ci", "--role", "viewer")
    assert ran.code == 0, ran
    token = ran.stdout.strip().splitlines()[-1]
    assert token.startswith("shw_")
    listed = invoke(home, "tokens", "list", "--json")
    assert token not in listed.stdout
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["role"], r["revoked"]) for r in rows] == [("ci", "viewer", False)]
    db = database(home)
    with db.transaction() as session:
        assert service.verify_token(session, FrozenClock(NOW), token) is not None
    assert invoke(home, "tokens", "revoke", "ci").code == 0
    with db.transaction() as session:
        assert service.verify_token(session, FrozenClock(NOW), token) is None
    db.dispose()
    assert json.loads(invoke(home, "tokens", "list", "--json").stdout)[0]["revoked"] is True
    assert_one_line_error(invoke(home, "tokens", "revoke", "nope"), "no token named 'nope'")
    assert_one_line_error(invoke(home, "tokens", "create", "ci", "--role", "viewer"), "exists")
