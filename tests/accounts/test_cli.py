"""`shelfware users ...` and `shelfware tokens ...` in process, against an initialised home."""

from __future__ import annotations

import json
from pathlib import Path

from shelfware.accounts import service, sessions
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


def test_tokens_have_an_owner_an_expiry_and_die_with_the_owner(home: Path) -> None:
    assert add(home, "ana", "sam_manager").code == 0
    ran = invoke(
        home,
        "tokens",
        "create",
        "ana-ci",
        "--role",
        "viewer",
        "--owner",
        "ana",
        "--expires-in",
        "30d",
    )
    assert ran.code == 0, ran
    assert "owned by ana" in ran.stdout and "expires 2026-12-20" in ran.stdout
    token = ran.stdout.strip().splitlines()[-1]
    assert invoke(home, "tokens", "create", "ops", "--role", "admin").code == 0
    rows = {r["name"]: r for r in json.loads(invoke(home, "tokens", "list", "--json").stdout)}
    assert rows["ana-ci"]["owner"] == "ana" and rows["ops"]["owner"] is None
    assert rows["ana-ci"]["expires_at"].startswith("2026-12-20")
    assert rows["ops"]["expires_at"].startswith("2027-02-18")  # 90 days
    assert rows["ana-ci"]["last_used_at"] is None
    table = invoke(home, "tokens", "list")
    assert "Owner" in table.stdout and "Expires" in table.stdout and "Last used" in table.stdout
    assert "local operator" in table.stdout
    assert_one_line_error(
        invoke(home, "tokens", "create", "x", "--role", "admin", "--owner", "ana"),
        "cannot have the role admin",
    )
    assert_one_line_error(
        invoke(home, "tokens", "create", "x", "--role", "viewer", "--expires-in", "soon"),
        "--expires-in",
    )
    assert_one_line_error(
        invoke(home, "tokens", "create", "x", "--role", "viewer", "--owner", "bob"),
        "no user named 'bob'",
    )
    assert invoke(home, "users", "set", "ana", "--inactive").code == 0
    db = database(home)
    with db.transaction() as session:
        assert service.verify_token(session, FrozenClock(NOW), token) is None
    db.dispose()
    rows = {r["name"]: r for r in json.loads(invoke(home, "tokens", "list", "--json").stdout)}
    assert rows["ana-ci"]["revoked"] is True and rows["ops"]["revoked"] is False


def test_audit_list_filters_and_prints_json(home: Path) -> None:
    assert add(home, "ana").code == 0
    assert invoke(home, "tokens", "create", "ci", "--role", "viewer").code == 0
    assert invoke(home, "users", "set", "ana", "--role", "sam_manager").code == 0
    everything = json.loads(invoke(home, "audit", "list", "--json").stdout)
    assert [e["action"] for e in everything][:3] == ["user.set", "token.create", "user.create"]
    assert {"id", "at", "actor", "action", "object_type", "object_id", "detail"} == set(
        everything[0]
    )
    users = json.loads(invoke(home, "audit", "list", "--action", "user", "--json").stdout)
    assert [e["action"] for e in users] == ["user.set", "user.create"]
    actor = everything[0]["actor"].split(":", 1)[1]
    mine = json.loads(
        invoke(home, "audit", "list", "--actor", actor, "--limit", "1", "--json").stdout
    )
    assert len(mine) == 1
    later = json.loads(invoke(home, "audit", "list", "--since", "2026-11-21", "--json").stdout)
    assert later == []
    same_day = json.loads(invoke(home, "audit", "list", "--since", "2026-11-20", "--json").stdout)
    assert len(same_day) == len(everything) >= 4  # the seeded profile's creation too
    table = invoke(home, "audit", "list")
    assert table.code == 0 and "user.create" in table.stdout
    assert_one_line_error(invoke(home, "audit", "list", "--since", "someday"), "since")
    assert_one_line_error(invoke(home, "audit", "list", "--limit", "0"), "limit")


def test_users_sessions_lists_open_sessions_and_sign_out_ends_them(home: Path) -> None:
    assert add(home, "ana").code == 0
    assert add(home, "bob").code == 0
    db = database(home)
    tokens = []
    with db.transaction() as session:
        for name, address in (("ana", "192.0.2.1"), ("ana", "192.0.2.2"), ("bob", "192.0.2.3")):
            outcome = sessions.sign_in(
                session, FrozenClock(NOW), name, PASSWORD, address=address, user_agent="Firefox"
            )
            assert outcome.session is not None
            tokens.append(outcome.session.token)
    listed = invoke(home, "users", "sessions", "ana", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["username"], r["address"], r["user_agent"]) for r in rows] == [
        ("ana", "192.0.2.2", "Firefox"),
        ("ana", "192.0.2.1", "Firefox"),
    ]
    assert not any(token in listed.stdout for token in tokens)
    assert len(json.loads(invoke(home, "users", "sessions", "--json").stdout)) == 3
    ran = invoke(home, "users", "sign-out", "ana")
    assert ran.code == 0 and "2 session(s) of ana ended" in ran.stdout
    assert json.loads(invoke(home, "users", "sessions", "ana", "--json").stdout) == []
    with db.transaction() as session:
        assert sessions.resume(session, FrozenClock(NOW), tokens[0]) is None
        assert sessions.resume(session, FrozenClock(NOW), tokens[2]) is not None
    db.dispose()
    assert "Open sessions" in invoke(home, "users", "sessions").stdout
    assert_one_line_error(invoke(home, "users", "sessions", "zed"), "no user named 'zed'")
    assert_one_line_error(invoke(home, "users", "sign-out", "zed"), "no user named 'zed'")
    events = json.loads(
        invoke(home, "audit", "list", "--action", "user.end_sessions", "--json").stdout
    )
    assert [e["detail"]["sessions_ended"] for e in events] == [2]
