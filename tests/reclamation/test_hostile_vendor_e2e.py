"""Acceptance: a hostile vendor (the Rally sandbox with ``--faults hostile=1``, over real HTTP)
through the real CLI, on SQLite and PostgreSQL: profile -> validate -> publish -> sync (it
succeeds; the run record counts what was cleaned) -> `candidates list` (table and JSON, exit 0,
markup and escapes shown literally) -> CSV reports (formulas neutralised, numbers kept) ->
`candidates advance` against a real SMTP server (aiosmtpd): every other idle user is mailed
exactly once, one address per message; the accounts with invalid emails need a person."""

from __future__ import annotations

import csv
import io
import json
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import httpx
import pytest

from shelfware.accounts.roles import Role
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.csv_output import is_formula
from shelfware.kit.db import Database
from shelfware.sandbox.hostile import HOSTILE
from tests.api.conftest import Api, api, served  # noqa: F401
from tests.cli.conftest import Ran, invoke
from tests.reclamation.conftest import MODEL, Mailbox

pytestmark = pytest.mark.store

EXPECTED_CLEANED = {
    "display_name.control": 2,
    "display_name.truncated": 1,
    "email.control": 1,
    "last_activity_at.out_of_range": 2,
    "username.control": 2,
}
INVALID_EMAIL = {h.key for h in HOSTILE if not h.valid_email}


class Cli:
    """`shelfware ...` run in process exactly as `main()` runs it, against the test store."""

    def __init__(
        self, db: Database, keys: KeyRing, clock: FrozenClock, home: Path, **env: str
    ) -> None:
        self.home = home
        self.env = {
            "SHELFWARE_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
            "SHELFWARE_SECRET_KEYS": ",".join(k.decode() for k in keys.keys),
            "SHELFWARE_CLOCK": clock.now().isoformat(),
            # the sandbox listens on loopback (issue 15's private-address rule)
            "SHELFWARE_ALLOW_PRIVATE_URLS": "true",
            **env,
        }

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Ran:
        return invoke(self.home, *args, env={**self.env, **(env or {})})

    def ok(self, *args: str, env: dict[str, str] | None = None) -> Ran:
        ran = self(*args, env=env)
        assert ran.code == 0, ran
        assert "unexpected" not in ran.stderr and "Traceback" not in ran.stderr, ran
        return ran


def hostile_world(world: Api, rally_factory: Any, tmp_path: Path, **env: str) -> tuple[Cli, Any]:
    """The hostile sandbox, profiled, validated, published and synced through the CLI."""
    sandbox = rally_factory(users=60, seed=11, faults="hostile=1")
    cli = Cli(world.db, world.keys, world.clock, tmp_path / "home", **env)
    cli.ok(
        "profile", "create", "rally", "--name", "rally", "--url", sandbox.url,
        "--secret-env", "RALLY_KEY", env={"RALLY_KEY": sandbox.org.api_key},
    )  # fmt: skip
    cli.ok("profile", "validate", "rally")
    cli.ok("profile", "publish", "rally")
    synced = cli.ok("sync", "rally")
    assert "rally: succeeded" in synced.stdout
    # the sync summary says what was cleaned, per field
    for key, count in EXPECTED_CLEANED.items():
        assert f"{key} {count}" in synced.stdout, synced.stdout
    return cli, sandbox


def test_hostile_vendor_sync_candidates_and_csv(
    api: Api,  # noqa: F811
    served: str,  # noqa: F811
    rally_factory: Any,
    tmp_path: Path,
) -> None:
    client = httpx.Client(base_url=served, timeout=30)
    cli, sandbox = hostile_world(api, rally_factory, tmp_path)
    hostile = sandbox.state.hostile
    ids = {key: str(user.object_id) for key, user in hostile.items()}

    # the run views (API; the web's run table renders the same RunView)
    runs = client.get("/profiles/rally/runs", headers=api.auth(Role.VIEWER))
    assert runs.status_code == 200 and runs.json()[0]["cleaned"] == EXPECTED_CLEANED

    # every hostile account is idle: a candidate each (the dates of 1500 and 9999 were
    # dropped, so they count as never used)
    listed = json.loads(cli.ok("candidates", "list", "--json").stdout)
    by_account = {c["external_id"]: c for c in listed}
    assert set(ids.values()) <= set(by_account)
    assert by_account[ids["markup"]]["username"] == "[/bold]x"
    assert by_account[ids["slack"]]["username"] == "<!channel>"
    assert "\u202e" in by_account[ids["ansi"]]["username"]  # kept, and shown escaped below
    assert by_account[ids["year_9999"]]["last_activity_at"] is None

    # the table: exit 0 (was 70: "[/bold]x" read as markup), every value shown literally
    table = cli.ok("candidates", "list")
    out = table.stdout
    assert "[/bold]x" in out and "<!channel>" in out and "-2+3" in out
    assert "\x1b" not in out and "\u202e" not in out and "\x00" not in out
    assert "\\u202e" in out  # the bidi override is shown as an escape, not obeyed

    # CSV reports: formulas neutralised, numbers still numbers
    cli.ok(
        "entitlements", "add", "--model", MODEL, "--seats", "10", "--unit-cost", "30",
        "--billing-period", "monthly",
    )  # fmt: skip
    person = hostile["csv_at"].email
    seats = cli.ok("report", "people", "--person", person, "--format", "csv").stdout
    [row] = list(csv.DictReader(io.StringIO(seats)))
    assert row["username"] == "'-2+3"  # text that a spreadsheet would compute: neutralised
    assert int(row["idle_days"]) > 90  # a number stays a number
    unmatched = cli.ok("report", "people", "--format", "csv").stdout
    cells = [cell for line in csv.reader(io.StringIO(unmatched)) for cell in line]
    assert not any(is_formula(cell) for cell in cells), [c for c in cells if is_formula(c)]
    compliance_csv = cli.ok("report", "compliance", "--format", "csv").stdout
    compliance = list(csv.DictReader(io.StringIO(compliance_csv)))
    available = [row["rights_available"] for row in compliance if row["rights_available"]]
    assert any(value.startswith("-") for value in available)  # 10 seats bought, more used
    assert all(float(value) == float(value.lstrip("'")) for value in available)
    assert not any(value.startswith("'") for value in available)  # a negative number stays one
    api_csv = client.get(
        "/reports/people",
        headers=api.auth(Role.VIEWER),
        params={"format": "csv", "person": person},
    )
    assert api_csv.status_code == 200
    api_cells = [c for row in csv.reader(io.StringIO(api_csv.text)) for c in row]
    assert "'-2+3" in api_cells and not any(is_formula(c) for c in api_cells)


def _addresses(message: EmailMessage, header: str) -> list[str]:
    return [addr for _, addr in getaddresses(message.get_all(header, []))]


def test_hostile_vendor_advance_mails_each_idle_user_once(
    api: Api,  # noqa: F811
    rally_factory: Any,
    tmp_path: Path,
    mailbox: Mailbox,
) -> None:
    smtp = {
        "SHELFWARE_SMTP_HOST": "127.0.0.1",
        "SHELFWARE_SMTP_PORT": str(mailbox.port),
        "SHELFWARE_SMTP_STARTTLS": "false",
        "SHELFWARE_PUBLIC_URL": "http://127.0.0.1:8000",
        "SHELFWARE_RECLAIM_MAX_PERCENT": "100",
        "SHELFWARE_RECLAIM_MAX_ACCOUNTS": "1000",
    }
    cli, sandbox = hostile_world(api, rally_factory, tmp_path, **smtp)
    hostile = sandbox.state.hostile
    invalid = {str(hostile[key].object_id) for key in INVALID_EMAIL}
    cli.ok("rules", "set", MODEL, "--notify")
    ready = [
        c for c in json.loads(cli.ok("candidates", "list", "--json").stdout)
        if c["state"] == "ready"
    ]  # fmt: skip
    expected = {c["email"].strip().lower() for c in ready if c["email"]} - {
        c["email"].strip().lower() for c in ready if c["external_id"] in invalid
    }
    assert len(expected) >= 10

    advanced = cli("candidates", "advance", "--json")
    # the step goes on for everyone else; it exits 1 because it names what it could not deliver
    assert advanced.code == 1, advanced
    report = json.loads(advanced.stdout)
    by_id = {c["id"]: c["external_id"] for c in ready}
    assert {by_id[int(i)] for i in report["delivery_failed"]} == invalid
    assert all("no valid email address" in why for why in report["delivery_failed"].values())
    assert "Traceback" not in advanced.stderr and "unexpected" not in advanced.stderr

    # one address per message, each idle user exactly once, nobody else
    received: list[str] = []
    for envelope, message in mailbox.messages:
        to = _addresses(message, "To")
        assert len(envelope) == 1 and len(to) == 1, (envelope, to)
        assert envelope[0].lower() == to[0].lower()
        assert not message.get_all("Bcc") and not message.get_all("Cc")
        assert "evil.example" not in envelope[0]
        received.append(to[0].lower())
    assert sorted(received) == sorted(expected)  # exactly once each

    after = {c["external_id"]: c for c in json.loads(cli.ok("candidates", "list", "--json").stdout)}
    for external_id in invalid:
        cand = after[external_id]
        assert cand["state"] == "attention_required", cand
        said = f"{cand['reason'] or ''} {cand['last_error'] or ''}"
        assert "no valid email address" in said, cand
