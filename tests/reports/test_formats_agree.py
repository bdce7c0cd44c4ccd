"""Every report printed as a table, as JSON and as CSV (the real CLI): the same rows, the same
columns in the same order, and the same values."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from shelfware.reports.schemas import (
    ChargebackRow,
    ComplianceRow,
    PeopleRow,
    RenewalRow,
    ReportRow,
    SavingsRow,
    TrendRow,
    UsageRow,
)
from tests.reports.conftest import invoke

REPORTS: list[tuple[list[str], type[ReportRow], int]] = [
    # arguments, row schema, rows expected
    (["compliance", "--rate", "EUR=1.08"], ComplianceRow, 5),
    (["usage"], UsageRow, 3),
    (["savings"], SavingsRow, 2),
    (["savings", "--period", "month", "--since", "2026-01-01"], SavingsRow, 2),
    (["renewals"], RenewalRow, 2),
    (["people"], PeopleRow, 3),
    (["people", "--person", " P0@Example.com "], PeopleRow, 2),
    (["trends", "--rate", "EUR=0.85", "--rate", "USD=0.79", "--base", "GBP"], TrendRow, 6),
    (["chargeback"], ChargebackRow, 14),
    (["chargeback", "--by", "cost_center", "--date", "2026-11-20"], ChargebackRow, 12),
]


def table_of(text: str) -> tuple[list[str], list[list[str]]]:
    """Headings and cells of a Rich table (heavy head, light body)."""
    head = next(line for line in text.splitlines() if line.startswith("┃"))
    body = [line for line in text.splitlines() if line.startswith("│")]
    split = lambda line, bar: [c.strip() for c in line.strip(bar).split(bar)]  # noqa: E731
    return split(head, "┃"), [split(line, "│") for line in body]


def same(table_cell: str, value: Any) -> bool:
    if value is None:
        return table_cell == "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = str(value)
        if text.endswith("Z") and "T" in text:  # an instant: the table shows minutes
            return table_cell == text.replace("T", " ")[:16]
        return table_cell == text
    return abs(float(table_cell.replace(",", "")) - value) < 0.005


def csv_same(cell: str, value: Any) -> bool:
    if value is None:
        return cell == ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(cell) == float(value)
    return cell == str(value)


@pytest.mark.parametrize(("args", "schema", "count"), REPORTS, ids=lambda a: str(a))
def test_table_json_and_csv_agree(org_home, args, schema, count):  # type: ignore[no-untyped-def]
    table = invoke(org_home, "report", *args, "--format", "table")
    as_json = invoke(org_home, "report", *args, "--format", "json")
    as_csv = invoke(org_home, "report", *args, "--format", "csv")
    for ran in (table, as_json, as_csv):
        assert ran.code == 0, ran
    rows = json.loads(as_json.stdout)
    keys = [key for key, _, _ in schema.columns()]
    headings_expected = [title for _, title, _ in schema.columns()]
    headings, cells = table_of(table.stdout)
    reader = csv.reader(io.StringIO(as_csv.stdout))
    header, *records = list(reader)

    assert len(rows) == len(cells) == len(records) == count
    assert [list(row) for row in rows] == [keys] * count
    assert header == keys
    assert headings == headings_expected
    for row, table_row, record in zip(rows, cells, records, strict=True):
        for key, table_cell, csv_cell in zip(keys, table_row, record, strict=True):
            assert same(table_cell, row[key]), (key, table_cell, row[key])
            assert csv_same(csv_cell, row[key]), (key, csv_cell, row[key])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["compliance", "--rate", "EUR"], ["--rate 'EUR'", "CODE=RATE"]),
        (["compliance", "--rate", "EUR=1", "--base", "dollars"], ["3-letter"]),
        (["compliance", "--rate", "GBP=1.2"], ["no --rate for EUR"]),
        (["savings", "--period", "week"], ["week"]),
        (["savings", "--since", "2026-02-30"], ["--since", "not a date"]),
        (["people", "--person", "nobody@example.com"], ["no person", "nobody@example.com"]),
        (["usage", "--date", "2026-13-01"], ["--date", "not a date"]),
        (["usage", "--format", "xml"], ["xml"]),
        (["renewals", "--days", "0"], ["--days"]),
        (["chargeback", "--by", "team"], ["team"]),
    ],
)
def test_bad_report_options_are_one_line(org_home, args, words):  # type: ignore[no-untyped-def]
    from tests.cli.conftest import assert_one_line_error

    assert_one_line_error(invoke(org_home, "report", *args), *words)


@pytest.mark.parametrize(
    ("name", "schema"),
    [
        ("savings", SavingsRow),
        ("renewals", RenewalRow),
        ("people", PeopleRow),
        ("chargeback", ChargebackRow),
    ],
)
def test_an_empty_report_still_has_its_columns(tmp_path, name, schema):  # type: ignore[no-untyped-def]
    """Nothing to report: JSON is an empty list and CSV is its header alone (no crash)."""
    home = tmp_path / "empty"
    assert invoke(home, "init").code == 0
    as_json = invoke(home, "report", name, "--format", "json")
    as_csv = invoke(home, "report", name, "--format", "csv")
    assert (as_json.code, as_csv.code) == (0, 0), (as_json, as_csv)
    assert json.loads(as_json.stdout) == []
    assert as_csv.stdout.strip() == ",".join(key for key, _, _ in schema.columns())
