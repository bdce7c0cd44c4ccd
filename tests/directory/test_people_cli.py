"""Managers and groups through the real `shelfware` CLI against the Okta sandbox: `people
show` gives a person's status, manager and groups; a rule's `--exclude-group` keeps an idle
member of the group from being a candidate, and taking the group out makes them one again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shelfware.sandbox.okta import BUDGETS, RateLimits, create_okta_app
from shelfware.sandbox.okta_org import generate_okta_org
from shelfware.sandbox.server import serve_in_thread
from tests.cli.conftest import assert_one_line_error, invoke, seed_home
from tests.conftest import NOW

from .test_managers_groups import expected_managers


def open_candidates(home: Path) -> dict[str, dict[str, Any]]:
    found = json.loads(invoke(home, "candidates", "list", "--json").stdout)
    return {c["external_id"]: c for c in found if not c["state"].startswith("closed")}


def test_people_show_and_a_rule_excluding_an_okta_group(tmp_path: Path) -> None:
    home = tmp_path / "home"
    seed_home(home)
    org = generate_okta_org(40, 21, NOW)
    app = create_okta_app(org, limits=RateLimits(budgets=dict.fromkeys(BUDGETS, 10_000)))
    with serve_in_thread(app) as server:
        env = {"OKTA_TOKEN": org.api_key}
        made = invoke(
            home,
            *("profile", "create", "okta", "--name", "okta", "--url", server.url),
            *("--auth", "api-token", "--secret-env", "OKTA_TOKEN"),
            env=env,
        )
        assert made.code == 0, made
        validated = invoke(home, "profile", "validate", "okta")
        assert validated.code == 0 and "groups" in validated.stdout, validated
        assert invoke(home, "profile", "publish", "okta").code == 0
        assert invoke(home, "sync", "okta").code == 0

        # people show: status, manager, groups
        managers = expected_managers(org)
        user = next(u for u in org.users[1:] if managers[u.email] is not None)
        shown = invoke(home, "people", "show", f"  {user.email.upper()} ", "--json")
        assert shown.code == 0, shown
        person = json.loads(shown.stdout)
        assert (person["email"], person["status"], person["manager"]) == (
            user.email,
            user.status,
            managers[user.email],
        )
        assert person["groups"] == sorted(g.name for g in org.groups if user.id in g.members)
        assert person["manager_reference"] == user.manager_id
        plain = invoke(home, "people", "show", user.email)
        assert plain.code == 0 and str(managers[user.email]) in plain.stdout, plain
        assert_one_line_error(invoke(home, "people", "show", "nobody@nowhere.test"), "nobody")
        assert_one_line_error(invoke(home, "people", "show", "not-an-email"), "not an email")

        # an idle member of a team group, who has not left
        teams = [g for g in org.groups if g.name != "Everyone"]
        status = {u.id: u.status for u in org.users}
        found = open_candidates(home)
        account, group = next(
            (key, g)
            for key, c in sorted(found.items())
            for g in teams
            if c["justification"] in ("low_usage", "never_used")
            and key.partition(":")[2] in g.members
            and status[key.partition(":")[2]] == "ACTIVE"
        )
        model = found[account]["software_model"]
        others = {
            k
            for k, c in found.items()
            if c["software_model"] == model and k.partition(":")[2] not in group.members
        }
        assert others, "a non-member candidate of the same model"

        excluded = invoke(home, "rules", "set", model, "--exclude-group", group.name)
        assert excluded.code == 0, excluded
        selected = json.loads(invoke(home, "rules", "dry-run", model, "--json").stdout)
        keys = {r["external_id"] for r in selected}
        assert account not in keys and others <= keys
        assert invoke(home, "sync", "okta").code == 0
        now_open = open_candidates(home)
        assert account not in now_open and others <= set(now_open)

        included = invoke(home, "rules", "set", model, "--include-group", group.name)
        assert included.code == 0, included
        assert invoke(home, "sync", "okta").code == 0
        assert account in open_candidates(home)
