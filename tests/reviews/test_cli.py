"""`shelfware reviews ...` in process: create, list, show, decide (one, bulk, reassign),
close, report in three formats; refusals are one line and write nothing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.cli.conftest import assert_one_line_error, database, invoke
from tests.reclamation.conftest import Mailbox
from tests.reviews.conftest import seed
from tests.reviews.test_schedule import mailbox

__all__ = ["mailbox"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    assert invoke(home, "init").code == 0
    db = database(home)
    seed(db)
    db.dispose()
    return home


def test_a_campaign_from_start_to_evidence(home: Path) -> None:
    made = invoke(
        home,
        "reviews",
        "create",
        "--name",
        "Sales Q4",
        "--scope",
        "department=Sales",
        "--due",
        "2026-12-15",
        "--owner",
        "ciso@acme.test",
        "--json",
    )
    assert made.code == 0, made
    campaign = json.loads(made.stdout)
    assert (campaign["items"], campaign["owner"]) == (8, "ciso@acme.test")
    listed = invoke(home, "reviews", "list")
    assert "Sales Q4" in listed.stdout and "department=Sales" in listed.stdout
    shown = json.loads(
        invoke(home, "reviews", "show", "Sales Q4", "--reviewer", "boss@acme.test", "--json").stdout
    )
    items = {(i["holder"], i["app"]): i["id"] for i in shown["items"]}
    assert {h for h, _ in items} == {"ann@acme.test", "bob@acme.test"}
    ann_rally = items[("ann@acme.test", "Acme Rally Std")]
    # a revoke needs a reason; a reviewer decides only their own items
    assert_one_line_error(
        invoke(
            home, "reviews", "decide", "1", str(ann_rally), "--as", "boss@acme.test", "--revoke"
        ),
        "needs a reason",
    )
    assert_one_line_error(
        invoke(home, "reviews", "decide", "1", str(ann_rally), "--as", "ceo@acme.test", "--keep"),
        "not yours",
    )
    revoked = invoke(
        home,
        "reviews",
        "decide",
        "1",
        str(ann_rally),
        "--as",
        "boss@acme.test",
        "--revoke",
        "--reason",
        "changed team",
    )
    assert revoked.code == 0 and "candidates reclaim" in revoked.stdout, revoked
    bulk = invoke(
        home,
        "reviews",
        "decide",
        "1",
        "--holder",
        "bob@acme.test",
        "--as",
        "boss@acme.test",
        "--keep",
        "--reason",
        "=HYPERLINK(1)",
        "--json",
    )
    assert [d["decision"] for d in json.loads(bulk.stdout)] == ["keep", "keep"]
    assert invoke(home, "reviews", "close", "Sales Q4").code == 0
    assert_one_line_error(
        invoke(
            home,
            "reviews",
            "decide",
            "1",
            "--holder",
            "ann@acme.test",
            "--as",
            "boss@acme.test",
            "--keep",
        ),
        "closed",
    )
    as_csv = invoke(home, "reviews", "report", "1")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == 8
    row = next(r for r in rows if r["item"] == str(ann_rally))
    assert (row["decision"], row["reason"], row["reviewer"]) == (
        "revoke",
        "changed team",
        "boss@acme.test",
    )
    assert row["outcome"] == "pending" and row["decided_at"].startswith("2026-11-20")
    # a reviewer's words are text in a spreadsheet, never a formula
    assert {r["reason"] for r in rows if r["holder"] == "bob@acme.test"} == {"'=HYPERLINK(1)"}
    as_json = json.loads(invoke(home, "reviews", "report", "1", "--format", "json").stdout)
    assert len(as_json) == 8 and {r["decision"] for r in as_json} == {"revoke", "keep", None}
    page = home / "review.html"
    assert (
        invoke(home, "reviews", "report", "1", "--format", "html", "--output", str(page)).code == 0
    )
    html = page.read_text()
    assert "Completion per reviewer" in html and "changed team" in html
    assert html.count("<tr>") == 8 + 1 + 4 + 1  # items + header, reviewers + header


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--scope", "model=Nope", "--due", "2026-12-15"], ("no software model",)),
        (["--scope", "department=Sales", "--due", "someday"], ("--due",)),
        (["--scope", "department=Sales", "--due", "2026-01-01"], ("has passed",)),
        (["--scope", "department=Sales", "--due", "2026-12-15", "--reviewer", "x"], ("email",)),
    ],
)
def test_bad_input_one_line_nothing_written(
    home: Path, args: list[str], words: tuple[str, ...]
) -> None:
    ran = invoke(home, "reviews", "create", "--name", "x", "--owner", "o@acme.test", *args)
    assert_one_line_error(ran, *words)
    assert "No campaign yet" in invoke(home, "reviews", "list").stdout


def test_reassigning_emails_the_new_reviewer_at_once(home: Path, mailbox: Mailbox) -> None:
    """`reviews decide --reassign` (by the reviewer, or `--admin`) emails the new reviewer a
    signed link once the change is committed (a real SMTP server), as the workspace does."""
    smtp = {
        "SHELFWARE_SMTP_HOST": "127.0.0.1",
        "SHELFWARE_SMTP_PORT": str(mailbox.port),
        "SHELFWARE_SMTP_STARTTLS": "false",
        "SHELFWARE_PUBLIC_URL": "http://reviews.test",
    }
    made = invoke(
        home, "reviews", "create", "--name", "Q4", "--scope", "department=Sales",
        "--due", "2026-12-15", "--owner", "ciso@acme.test", "--json", env=smtp,
    )  # fmt: skip
    assert made.code == 0, made
    shown = json.loads(
        invoke(home, "reviews", "show", "Q4", "--reviewer", "boss@acme.test", "--json").stdout
    )
    ann, bob = (
        next(i["id"] for i in shown["items"] if i["holder"] == holder)
        for holder in ("ann@acme.test", "bob@acme.test")
    )
    passed = invoke(
        home, "reviews", "decide", "1", str(ann), "--as", "boss@acme.test",
        "--reassign", "dan@acme.test", env=smtp,
    )  # fmt: skip
    assert passed.code == 0, passed
    assert [rcpt for rcpt, _ in mailbox.messages] == [["dan@acme.test"]]
    given = invoke(
        home, "reviews", "decide", "1", str(bob), "--admin", "--reassign", "eve@acme.test",
        env=smtp,
    )  # fmt: skip
    assert given.code == 0, given
    assert [rcpt for rcpt, _ in mailbox.messages] == [["dan@acme.test"], ["eve@acme.test"]]
    body = mailbox.to("eve@acme.test")[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "http://reviews.test/review?t=" in body
