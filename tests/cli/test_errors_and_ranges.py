"""Out-of-range input is refused where it enters, with one clear line; nothing is stored; the
store's own failures (bad URL, corrupt file, unwritable place) end in one line too."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shelfware.models import Entitlement, IntegrationProfile, ReclamationRule
from tests.cli.conftest import MODEL, PROFILE, assert_one_line_error, database, invoke


def rule_and_entitlements(home: Path) -> tuple[tuple[object, ...], int, int]:
    db = database(home)
    with db.sessions() as session:
        rule = session.scalars(select(ReclamationRule)).one()
        state = (rule.threshold_days, rule.auto_reclaim_days, rule.excluded_users, rule.active)
        ents = session.scalar(select(func.count()).select_from(Entitlement)) or 0
        profs = session.scalar(select(func.count()).select_from(IntegrationProfile)) or 0
    db.dispose()
    return state, ents, profs


def test_threshold_out_of_range_is_refused_and_reconcile_keeps_working(home):
    before = rule_and_entitlements(home)
    ran = invoke(home, "rules", "set", MODEL, "--threshold-days", "99999999999999")
    assert_one_line_error(ran, "threshold_days", "3650")
    assert rule_and_entitlements(home) == before
    assert invoke(home, "reconcile", "--json").code == 0
    for bad in ("0", "-1", "3651"):
        assert_one_line_error(invoke(home, "rules", "set", MODEL, "--threshold-days", bad))
    ok = invoke(home, "rules", "set", MODEL, "--threshold-days", "3650")
    assert ok.code == 0, ok
    [rule] = json.loads(invoke(home, "rules", "list", "--json").stdout)
    assert rule["threshold_days"] == 3650 and rule["software_model"] == MODEL


@pytest.mark.parametrize(
    ("seats", "cost", "words"),
    [
        ("10", "1e308", ("unit_cost", "1000000")),
        ("10", "nan", ("unit_cost", "finite")),
        ("10", "-1", ("unit_cost",)),
        ("10", "0.00001", ("unit_cost", "decimal")),
        ("10", "ten", ("unit_cost", "decimal")),
        ("99999999999999999999", "10", ("seats", "10000000")),
        ("-1", "10", ("seats",)),
    ],
)
def test_entitlement_out_of_range_is_refused(home, seats, cost, words):
    before = rule_and_entitlements(home)
    ran = invoke(
        home, "entitlements", "add", "--model", MODEL, "--seats", seats, "--unit-cost", cost
    )
    assert_one_line_error(ran, *words)
    assert rule_and_entitlements(home) == before
    reconciled = invoke(home, "reconcile", "--json")
    assert reconciled.code == 0 and json.loads(reconciled.stdout)[0]["rights_owned"] == 0


def test_largest_entitlement_in_range_reconciles(home):
    ran = invoke(
        home, "entitlements", "add", "--model", MODEL, "--seats", "10000000",
        "--unit-cost", "1000000.0000",
    )  # fmt: skip
    assert ran.code == 0, ran
    [row] = json.loads(invoke(home, "reconcile", "--json").stdout)
    assert row["rights_owned"] == 10_000_000
    assert row["over_licensed_amount"] == pytest.approx(10_000_000 * 1_000_000)


def test_huge_candidate_id_and_sandbox_port_are_refused(home):
    assert_one_line_error(invoke(home, "candidates", "reclaim", "99999999999999999999"), "ids")
    assert_one_line_error(invoke(home, "candidates", "reclaim", "0"), "ids")
    assert_one_line_error(invoke(home, "candidates", "reclaim"), "--all-ready")
    assert_one_line_error(invoke(home, "sandbox", "rally", "--port", "99999"), "port", "65535")
    assert_one_line_error(invoke(home, "sandbox", "rally", "--latency-ms", "inf"), "latency")
    assert_one_line_error(invoke(home, "sandbox", "nope"), "rally")


@pytest.mark.parametrize(
    ("url", "word"),
    [
        ("https://host:99999/x", "port"),
        ("https://host:0/x", "port"),
        ("https://host:abc/x", "port"),
        ("https://ho st/x", "spaces"),
        ("http://example.com/x", "https"),
        ("ftp://example.com/", "http"),
    ],
)
def test_bad_connection_url_is_refused(home, url, word):
    before = rule_and_entitlements(home)
    ran = invoke(
        home, "profile", "create", "rally", "--name", "x", "--url", url, "--secret-env", "K"
    )
    assert_one_line_error(ran, word)
    assert rule_and_entitlements(home) == before


@pytest.mark.parametrize("name", ["a\x01b", "tab\there", "new\nline", "", "x" * 201])
def test_profile_names_must_be_printable_and_short(home, name):
    before = rule_and_entitlements(home)
    ran = invoke(home, "profile", "create", "rally", "--name", name, "--secret-env", "K")
    line = assert_one_line_error(ran, "name")
    assert "\x01" not in line and "\t" not in line
    assert rule_and_entitlements(home) == before


def test_a_secret_with_control_characters_is_refused_without_echoing_it(home):
    ran = invoke(
        home, "profile", "create", "rally", "--name", "y", "--secret-env", "K",
        env={"K": "abc\x07secret-value"},
    )  # fmt: skip
    line = assert_one_line_error(ran, "secrets")
    assert "secret-value" not in ran.stderr + ran.stdout, line


COMMANDS = [
    ("init",),
    ("subscriptions", "list"),
    ("candidates", "list"),
    ("candidates", "reclaim", "--all-ready"),
    ("entitlements", "add", "--model", MODEL, "--seats", "1", "--unit-cost", "1"),
    ("reconcile",),
    ("rules", "list"),
    ("rules", "set", MODEL, "--threshold-days", "30"),
    ("profile", "list"),
    ("profile", "show", PROFILE),
    ("profile", "validate", PROFILE),
    ("profile", "publish", PROFILE),
    ("profile", "set", PROFILE, "--no-reclaim"),
    ("profile", "delete", PROFILE, "--yes"),
    ("profile", "create", "rally", "--name", "n", "--secret-env", "K"),
    ("sync", PROFILE),
    ("sync", "--all"),
    ("keys", "rotate"),
]


@pytest.mark.parametrize("url", ["garbage://x", "not a url", "postgresql://u@127.0.0.1:1/x"])
@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_bad_database_url_is_one_line_for_every_command(tmp_path, url, args):
    ran = invoke(tmp_path, *args, env={"SHELFWARE_DATABASE_URL": url})
    line = assert_one_line_error(ran)
    assert "database" in line.lower(), line


def test_init_on_a_corrupt_sqlite_file(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "shelfware.db").write_bytes(b"this is not a database\x00" * 200)
    line = assert_one_line_error(invoke(home, "init"), "not a database")
    assert_one_line_error(invoke(home, "subscriptions", "list"), "not a database")
    assert line


def test_init_where_nothing_can_be_written(tmp_path):
    # The tests run as root, for whom chmod does not stop writing: the data directory is made
    # unwritable by putting it under a regular file (ENOTDIR), and under /proc (which refuses
    # new entries even to root).
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert_one_line_error(invoke(blocker / "home", "init"), "Not a directory", "SHELFWARE_HOME")
    assert_one_line_error(invoke(Path("/proc/shelfware-home"), "init"), "SHELFWARE_HOME")
    # the data directory is fine but the database file cannot be created
    ran = invoke(
        tmp_path / "ok", "init", env={"SHELFWARE_DATABASE_URL": f"sqlite:///{blocker}/x/db"}
    )
    assert_one_line_error(ran, "database")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can stop chmod mattering")
def test_read_only_directory_is_not_what_stops_root(tmp_path):
    # Shows why the test above does not use chmod: as root a 0500 directory is still writable.
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    assert invoke(ro, "init").code == 0


def test_usage_errors_are_one_line(home):
    line = assert_one_line_error(invoke(home, "candidates", "list", "--limit", "0"), "--limit")
    assert line.startswith("error: shelfware candidates list:")
    assert_one_line_error(invoke(home, "rules", "set", MODEL, "--bogus"), "--bogus")
    assert_one_line_error(invoke(home, "nope"), "nope")
