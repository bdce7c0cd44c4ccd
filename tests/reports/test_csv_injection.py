"""Report CSV (the CLI's ``--format csv`` and the API's ``?format=csv`` share `csv_text`):
vendor text a spreadsheet would run as a formula is neutralised; numbers stay numbers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from shelfware.reports.formats import csv_text
from shelfware.reports.schemas import ComplianceRow, PeopleRow, Report

AT = datetime(2026, 11, 20, tzinfo=UTC)


def test_formula_text_is_neutralised_and_negative_numbers_kept() -> None:
    people = Report[PeopleRow](
        name="people",
        title="People",
        as_of=AT,
        rows=[
            PeopleRow(
                kind="unmatched",
                person=None,
                profile="rally",
                software_model="=cmd|' /C calc'!A0",
                username='=HYPERLINK("https://evil.example","Keep my seat")',
                account_email="@SUM(1)",
                last_activity_at=AT,
                idle_days=120,
                kept_until=None,
            ),
            PeopleRow(
                kind="unmatched",
                person="-2+3",
                profile="rally",
                software_model="Broadcom Rally Unlimited",
                username="\tx",
                account_email="+1-555-0100",
                last_activity_at=None,
                idle_days=None,
                kept_until=None,
            ),
        ],
    )
    rows = list(csv.DictReader(io.StringIO(csv_text(people))))
    assert rows[0]["username"] == '\'=HYPERLINK("https://evil.example","Keep my seat")'
    assert rows[0]["software_model"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["account_email"] == "'@SUM(1)"
    assert rows[0]["idle_days"] == "120"
    assert rows[0]["last_activity_at"] == "2026-11-20T00:00:00Z"
    assert (rows[1]["person"], rows[1]["username"], rows[1]["account_email"]) == (
        "'-2+3",
        "'\tx",
        "'+1-555-0100",
    )
    assert (rows[1]["last_activity_at"], rows[1]["idle_days"]) == ("", "")

    compliance = Report[ComplianceRow](
        name="compliance",
        title="Compliance",
        as_of=AT,
        rows=[
            ComplianceRow(
                row_type="model",
                software_model="Broadcom Rally Unlimited",
                currency="USD",
                unit_cost=-12.5,
                rights_owned=10,
                rights_used=52,
                rights_used_people=50,
                rights_available=-42,
                stale=12,
                status="under-licensed",
                true_up_cost=15120.0,
                over_licensed_amount=None,
                savings_stale=None,
                savings_unassigned=None,
                potential_savings=None,
                realised_savings=None,
                spend=3600.0,
            )
        ],
    )
    [row] = list(csv.DictReader(io.StringIO(csv_text(compliance))))
    assert (row["rights_available"], row["unit_cost"]) == ("-42", "-12.5")  # numbers stay numbers
