"""The directory through the real `shelfware` CLI: an Okta profile created, validated, published
and synced against the sandbox; people reports as JSON; resolution rules; same-app links; bad
input refused with one line."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from shelfware.kit.clock import FrozenClock
from shelfware.models import AuditEvent
from shelfware.profiles import service as profiles
from shelfware.sandbox.okta import BUDGETS, RateLimits, create_okta_app
from shelfware.sandbox.okta_org import generate_okta_org
from shelfware.sandbox.server import serve_in_thread
from tests.cli.conftest import assert_one_line_error, database, invoke, seed_home
from tests.conftest import NOW


def test_okta_profile_people_reports_aliases_and_same_app(tmp_path: Path) -> None:
    home = tmp_path / "home"
    seed_home(home)
    org = generate_okta_org(30, 4, NOW)
    app = create_okta_app(org, limits=RateLimits(budgets=dict.fromkeys(BUDGETS, 10_000)))
    with serve_in_thread(app) as server:
        env = {"OKTA_TOKEN": org.api_key}
        made = invoke(
            home,
            *("profile", "create", "okta", "--name", "okta", "--url", server.url),
            *("--auth", "api-token", "--secret-env", "OKTA_TOKEN"),
            *("--option", "import_groups=true"),
            env=env,
        )
        assert made.code == 0, made
        assert invoke(home, "profile", "validate", "okta").code == 0
        assert invoke(home, "profile", "publish", "okta").code == 0
        synced = invoke(home, "sync", "okta")
    assert synced.code == 0, synced
    assert "people:" in synced.stdout and "left the organisation" in synced.stdout
    assert "group memberships" in synced.stdout
    assert org.api_key not in synced.stdout + synced.stderr

    leavers = json.loads(invoke(home, "people", "leavers", "--json").stdout)
    suspended = {u.email for u in org.users if u.status == "SUSPENDED"}
    assert leavers and {row["email"] for row in leavers} <= suspended
    assert all(row["status"] == "SUSPENDED" for row in leavers)
    assert json.loads(invoke(home, "people", "unmatched", "--json").stdout) == []

    models = json.loads(invoke(home, "directory", "models", "--json").stdout)
    by_name = {m["software_model"]: m for m in models}
    zoom = by_name["Okta Zoom SSO"]
    assert zoom["accounts"] == zoom["people"] == len(org.assignments[org.app_by_label("Zoom").id])

    with database(home).transaction() as session:  # a direct Zoom integration's model
        profiles.ensure_software_model(session, FrozenClock(NOW), "Zoom", "Zoom", "Pro")
    linked = invoke(home, "directory", "same-app", "Okta Zoom SSO", "Zoom Zoom Pro")
    assert linked.code == 0 and "same app as Zoom Zoom Pro" in linked.stdout, linked
    models = json.loads(invoke(home, "directory", "models", "--json").stdout)
    assert {m["software_model"]: m["same_app_as"] for m in models}["Zoom Zoom Pro"] == [
        "Okta Zoom SSO"
    ]

    added = invoke(home, "directory", "alias", "add", "Old.Example.COM", "example.com")
    assert added.code == 0, added
    listed = json.loads(invoke(home, "directory", "alias", "list", "--json").stdout)
    assert listed == [{"alias": "old.example.com", "canonical": "example.com"}]
    assert_one_line_error(
        invoke(home, "directory", "alias", "add", "old.example.com", "example.com"),
        "already an alias",
    )
    assert_one_line_error(
        invoke(home, "directory", "alias", "add", "not a domain", "example.com"), "not a domain"
    )
    assert_one_line_error(
        invoke(home, "directory", "same-app", "Okta Zoom SSO", "No Such Model"), "no software model"
    )
    assert invoke(home, "directory", "alias", "remove", "old.example.com").code == 0
    assert json.loads(invoke(home, "directory", "alias", "list", "--json").stdout) == []
    with database(home).sessions() as session:  # every change is audited
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert [a for a in actions if a.startswith("directory.")] == [
        "directory.same_app",
        "directory.alias_add",
        "directory.alias_remove",
    ]
