"""`shelfware people set` and `people show` through the real CLI: an override wins over the
identity provider's department until cleared, `people show` gives both, the chargeback report
follows, and bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import assert_one_line_error, invoke
from tests.reports.conftest import org_home  # noqa: F401


def show(home: Path, email: str) -> dict[str, str | None]:
    ran = invoke(home, "people", "show", email, "--json")
    assert ran.code == 0, ran
    return json.loads(ran.stdout)  # type: ignore[no-any-return]


def charged(home: Path, by: str = "department") -> dict[str, int]:
    ran = invoke(home, "report", "chargeback", "--by", by, "--format", "json")
    assert ran.code == 0, ran
    seats: dict[str, int] = {}  # per group, across currencies
    for row in json.loads(ran.stdout):
        if row["row_type"] == "group":
            seats[row["group"]] = seats.get(row["group"], 0) + row["seats"]
    return seats


def test_override_wins_then_clears(org_home: Path) -> None:  # noqa: F811
    home = org_home
    person = show(home, "p0@example.com")
    assert (person["department"], person["department_from_idp"]) == ("Engineering", "Engineering")
    assert charged(home)["Engineering"] == 2

    ran = invoke(home, "people", "set", " P0@Example.com ", "--department", "Finance")
    assert ran.code == 0 and "Finance (override)" in ran.stdout, ran
    person = show(home, "p0@example.com")
    assert (person["department"], person["department_from_idp"]) == ("Finance", "Engineering")
    assert person["department_override"] == "Finance"
    assert person["cost_center"] == "CC-1"  # untouched
    table = invoke(home, "people", "show", "p0@example.com")
    assert "Finance (override)" in table.stdout and "Engineering" in table.stdout, table
    groups = charged(home)
    assert groups["Finance"] == 2 and "Engineering" not in groups

    ran = invoke(home, "people", "set", "p0@example.com", "--cost-center", "CC-9")
    assert ran.code == 0, ran
    assert charged(home, "cost_center")["CC-9"] == 2
    ran = invoke(home, "people", "set", "p0@example.com", "--clear-department")
    assert ran.code == 0, ran
    person = show(home, "p0@example.com")
    assert (person["department"], person["department_override"]) == ("Engineering", None)
    assert person["cost_center"] == "CC-9"
    assert charged(home)["Engineering"] == 2

    audit = invoke(home, "audit", "list", "--json")
    assert audit.code == 0, audit
    actions = [e["action"] for e in json.loads(audit.stdout)]
    assert actions.count("directory.person_charging") == 3

    for args, words in (
        (["nobody@example.com", "--department", "X"], ["nobody"]),
        (["p0@example.com"], ["nothing to change"]),
        (["p0@example.com", "--department", "  "], ["empty"]),
        (["p0@example.com", "--department", "A", "--clear-department"], ["exclude"]),
        (["p0@example.com", "--department", "bad\x07name"], ["control"]),
    ):
        assert_one_line_error(invoke(home, "people", "set", *args), *words)
