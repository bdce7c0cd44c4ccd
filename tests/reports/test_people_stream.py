"""``shelfware report people`` (no --person) streams its rows instead of building the whole
report: the JSON and CSV it prints are byte for byte what the whole report printed, and the
table shows every row (a table per page of rows once they are many)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from shelfware.cli import output
from shelfware.models import Subscription
from shelfware.reports import service
from shelfware.reports.formats import csv_text, json_rows
from tests.cli.conftest import database
from tests.conftest import NOW
from tests.reports.conftest import invoke

EXTRA = 40


def more_unmatched(home: Path) -> None:
    db = database(home)
    with db.transaction() as session:
        one = session.scalars(select(Subscription).limit(1)).one()
        session.add_all(
            Subscription(
                profile_id=one.profile_id,
                software_model_id=one.software_model_id,
                external_id=f"stream-{i}",
                username=f"streamed-{i:02d}",
                active=True,
                admin=False,
                edition=one.edition,
                first_seen_at=NOW - timedelta(days=10),
                last_activity_at=None if i % 3 else NOW - timedelta(days=i),
            )
            for i in range(EXTRA)
        )
    db.dispose()


def test_json_and_csv_are_what_the_whole_report_printed(
    org_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    more_unmatched(org_home)
    db = database(org_home)
    with db.sessions() as session:
        whole = service.people(session, NOW)
    db.dispose()
    assert len(whole.rows) > EXTRA

    def whole_report(*_: object) -> None:
        raise AssertionError("the CLI built the whole people report")

    monkeypatch.setattr(service, "people", whole_report)
    as_json = invoke(org_home, "report", "people", "--format", "json")
    assert as_json.code == 0, as_json
    assert as_json.stdout == json.dumps(json_rows(whole), indent=2) + "\n"
    as_csv = invoke(org_home, "report", "people", "--format", "csv")
    assert as_csv.code == 0, as_csv
    assert as_csv.stdout == csv_text(whole)

    monkeypatch.setattr(output, "TABLE_PAGE", 7)
    table = invoke(org_home, "report", "people")
    assert table.code == 0, table
    body = [line for line in table.stdout.splitlines() if line.startswith("│")]
    assert len(body) == len(whole.rows)
    assert table.stdout.count(service.PEOPLE_TITLE) == 1
    for i in range(EXTRA):
        assert f"streamed-{i:02d}" in table.stdout


def test_nothing_to_show_still_prints_the_empty_shapes(tmp_path: Path) -> None:
    from tests.cli.conftest import seed_home

    home = tmp_path / "home"
    seed_home(home)
    as_json = invoke(home, "report", "people", "--format", "json")
    assert (as_json.code, as_json.stdout) == (0, "[]\n")
    as_csv = invoke(home, "report", "people", "--format", "csv")
    assert as_csv.code == 0 and as_csv.stdout.startswith("kind,")
    table = invoke(home, "report", "people")
    assert table.code == 0 and service.PEOPLE_TITLE in table.stdout
