"""The CLI contract, end to end in real subprocesses against the Rally sandbox over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.store

NOW_ISO = "2026-11-20T12:00:00Z"


def cli(home: Path, *args: str, env: dict[str, str] | None = None, ok: bool = True):  # type: ignore[no-untyped-def]
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SHELFWARE_")},
        "SHELFWARE_HOME": str(home),
        "SHELFWARE_CLOCK": NOW_ISO,
        "SHELFWARE_ALLOW_PRIVATE_URLS": "true",  # the sandbox listens on loopback
        "SHELFWARE_LOG_LEVEL": "DEBUG",
        **(env or {}),
    }
    if os.environ.get("SHELFWARE_TEST_DATABASE_URL"):
        full_env["SHELFWARE_DATABASE_URL"] = os.environ["SHELFWARE_TEST_DATABASE_URL"]
    result = subprocess.run(
        [sys.executable, "-m", "shelfware.cli.main", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )
    if ok:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def create_profile(home: Path, name: str, url: str, key: str, *extra: str, ok: bool = True):  # type: ignore[no-untyped-def]
    """`shelfware profile create rally` with the key passed through an environment variable."""
    return cli(
        home,
        "profile",
        "create",
        "rally",
        "--name",
        name,
        "--url",
        url,
        "--secret-env",
        "K",
        *extra,
        env={"K": key},
        ok=ok,
    )


def test_whole_loop_through_the_cli_and_no_plaintext_secret(tmp_path, rally_factory, db):
    # `db` resets the PostgreSQL schema when the store tests run there
    sandbox = rally_factory(users=600, seed=21)
    home = tmp_path / "home"
    key = sandbox.org.api_key
    transcript: list[str] = []

    def run(*args: str, **kw):  # type: ignore[no-untyped-def]
        result = cli(home, *args, env={"RALLY_KEY": key}, **kw)
        transcript.extend([result.stdout, result.stderr])
        return result

    run("init")
    run(
        "profile",
        "create",
        "rally",
        "--name",
        "Rally EU",
        "--url",
        sandbox.url,
        "--secret-env",
        "RALLY_KEY",
    )
    refused = run("profile", "publish", "Rally EU", ok=False)
    assert refused.returncode == 1 and "validate" in refused.stderr
    run("profile", "validate", "Rally EU")
    run("profile", "publish", "Rally EU")
    run("sync", "Rally EU")
    subs = json.loads(run("subscriptions", "list", "--json").stdout)
    enabled = {str(u.object_id) for u in sandbox.org.users if not u.disabled}
    assert {s["external_id"] for s in subs} == enabled
    assert set(subs[0]) >= {
        "id",
        "profile",
        "external_id",
        "username",
        "email",
        "display_name",
        "software_model",
        "edition",
        "active",
        "admin",
        "created_in_app_at",
        "last_activity_at",
        "person_id",
    }
    cands = json.loads(run("candidates", "list", "--json").stdout)
    assert cands and set(cands[0]) >= {
        "id",
        "profile",
        "external_id",
        "username",
        "email",
        "software_model",
        "state",
        "justification",
        "inactive_days",
        "potential_savings",
    }
    run(
        "entitlements",
        "add",
        "--model",
        "Broadcom Rally Unlimited",
        "--seats",
        "700",
        "--unit-cost",
        "30",
        "--billing-period",
        "monthly",
    )
    [row] = json.loads(run("reconcile", "--json").stdout)
    assert row["rights_owned"] == 700 and row["rights_used"] == len(enabled)
    assert row["status"] == "compliant" and row["currency"] == "USD"
    assert row["over_licensed_amount"] == pytest.approx((700 - len(enabled)) * 360)
    shown = json.loads(run("profile", "show", "Rally EU", "--json").stdout)
    assert shown["status"] == "published" and shown["processes"]["download"] is True
    assert shown["last_sync"]["status"] == "succeeded"
    run("profile", "show", "Rally EU")
    run("profile", "list")

    ready = [c for c in cands if c["state"] == "ready"][:3]
    run("candidates", "reclaim", *[str(c["id"]) for c in ready])
    by_id = {str(u.object_id): u for u in sandbox.org.users}
    assert all(by_id[c["external_id"]].disabled for c in ready)

    old_key_file = (home / "keys").read_text()
    run("keys", "rotate")
    assert (home / "keys").read_text() != old_key_file
    run("profile", "validate", "Rally EU")  # the credential still decrypts after rotation

    bad = run("profile", "show", "nope", ok=False)
    assert bad.returncode == 1 and "no integration profile named 'nope'" in bad.stderr
    assert "Traceback" not in bad.stderr

    # The key is nowhere in plaintext: output, logs (DEBUG), database files.
    assert all(key not in text for text in transcript)
    for path in home.iterdir():
        assert key.encode() not in path.read_bytes(), path.name


def test_bad_secret_is_reported_without_echoing_it(tmp_path, rally_factory, db):
    sandbox = rally_factory(users=20)
    home = tmp_path / "home"
    wrong = "_wrong-key-1234567890"
    cli(home, "init")
    create_profile(home, "r", sandbox.url, wrong)
    result = cli(home, "profile", "validate", "r", ok=False)
    assert result.returncode == 1
    assert "401" in result.stdout + result.stderr
    assert wrong not in result.stdout + result.stderr
    missing = cli(
        home,
        "profile",
        "create",
        "rally",
        "--name",
        "x",
        "--url",
        sandbox.url,
        "--secret-env",
        "UNSET_VAR_X",
        ok=False,
    )
    assert "UNSET_VAR_X is not set" in missing.stderr
    http = create_profile(home, "y", "http://rally.example.com/slm/webservice", wrong, ok=False)
    assert "https://" in http.stderr


def test_demo_runs_and_prints_the_compliance_table(tmp_path):
    result = cli(tmp_path / "home", "demo", "--users", "300")
    assert "License compliance" in result.stdout
    assert "Broadcom Rally Unlimited" in result.stdout
    assert "Top removal candidates" in result.stdout


def test_sync_with_a_failing_page_exits_non_zero_and_says_which(tmp_path, rally_factory, db):
    sandbox = rally_factory(users=500, seed=3, faults="fail_page=3")
    home = tmp_path / "home"
    cli(home, "init")
    create_profile(home, "r", sandbox.url, sandbox.org.api_key, "--option", "page_size=100")
    cli(home, "profile", "validate", "r")
    cli(home, "profile", "publish", "r")
    result = cli(home, "sync", "r", ok=False)
    assert result.returncode == 1
    assert "page 3" in result.stderr and "nothing was changed" in result.stderr
    shown = json.loads(cli(home, "profile", "show", "r", "--json").stdout)
    assert shown["last_sync"]["status"] == "failed"
    assert "page 3" in shown["last_sync"]["error"]
    assert json.loads(cli(home, "subscriptions", "list", "--json").stdout) == []


def test_commands_before_init_say_what_to_do(tmp_path):
    result = cli(tmp_path / "fresh", "profile", "list", ok=False)
    assert result.returncode == 1
    assert "shelfware init" in result.stderr and "Traceback" not in result.stderr
    cli(tmp_path / "fresh", "init")
    bad_clock = cli(tmp_path / "fresh", "reconcile", env={"SHELFWARE_CLOCK": "yesterday"}, ok=False)
    assert bad_clock.returncode == 1
    assert "SHELFWARE_CLOCK" in bad_clock.stderr
