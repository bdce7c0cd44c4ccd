"""kit/csv_output.py: no cell a spreadsheet could run as a formula; numbers stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shelfware.kit.csv_output import SafeWriter, csv_text, is_formula, safe_cell

FORMULAS = [
    '=HYPERLINK("https://evil.example","Keep my seat")',
    "@SUM(1)",
    "+1+1",
    "-2+3",
    "-12.5",  # as text (a name), not a number: neutralised
    "\t=1",
    "\r=1",
    "\n=1",
    "  =cmd|' /C calc'!A0",
]


@pytest.mark.parametrize("text", FORMULAS)
def test_text_that_could_be_a_formula_gets_a_leading_quote(text: str) -> None:
    assert is_formula(text)
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", [-12.5, -3, 0, 7, Decimal("-1.50"), 1e-9, True])
def test_numbers_stay_numbers(value: object) -> None:
    assert safe_cell(value) is value


@pytest.mark.parametrize("text", ["Jane Doe", "jane@example.com", "2026-01-01", "a=b", "x-1", ""])
def test_ordinary_text_is_untouched(text: str) -> None:
    assert safe_cell(text) == text


def test_a_document_reads_back_with_every_formula_neutralised() -> None:
    text = csv_text(
        ["name", "email", "savings"],
        [
            ['=HYPERLINK("https://evil","x")', "a@x.io", -12.5],
            ["@SUM(1)", None, 360.0],
            ['Ann, "the" admin', "b@x.io\r\nBcc: c@x.io", 0],
        ],
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["name", "email", "savings"]
    assert rows[1] == ['\'=HYPERLINK("https://evil","x")', "a@x.io", "-12.5"]
    assert rows[2] == ["'@SUM(1)", "", "360.0"]
    assert rows[3] == ['Ann, "the" admin', "b@x.io\r\nBcc: c@x.io", "0"]


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_no_cell_read_back_starts_like_a_formula(cells: list[str]) -> None:
    out = io.StringIO()
    SafeWriter(out).writerow(cells)
    [read] = list(csv.reader(io.StringIO(out.getvalue())))
    assert read == [c if not is_formula(c) else "'" + c for c in cells]
    assert not any(is_formula(c) for c in read)


def test_the_sql_form_neutralises_exactly_what_safe_cell_does() -> None:
    """``sql_safe_cell`` (exports the database writes) agrees with ``safe_cell`` on SQLite."""
    from sqlalchemy import create_engine, literal, select

    from shelfware.kit.csv_output import safe_cell, sql_safe_cell

    values = ["=1+2", "  =SUM(A1)", "+x", "-3", "@a", "\tt", "\rr", "\nn", " x", "", "a=b", "ok"]
    with create_engine("sqlite://").connect() as conn:
        for value in values:
            got = conn.execute(select(sql_safe_cell(literal(value)))).scalar_one()
            assert got == safe_cell(value), value
