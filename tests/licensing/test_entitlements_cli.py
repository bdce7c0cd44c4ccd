"""`shelfware entitlements add|edit|end|list|import` and `reconcile`, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import MODEL, assert_one_line_error, home, invoke

__all__ = ["home"]

HEADER = "Software Model;Quantity;Unit Cost;Currency;Billing Period;Term Start;Term End;Renewal;"
GOOD = f"""\ufeff{HEADER}Notice;Contract
Broadcom Rally Unlimited;10;12.50;usd;monthly;2026-01-01;2026-12-31;2026-12-31;2026-11-30;R-1
Broadcom/Rally/Unlimited;5;100;EUR;annual;;2026-06-30;;;R-0
"""


def listed(home: Path) -> list[dict[str, object]]:
    ran = invoke(home, "entitlements", "list", "--json")
    assert ran.code == 0, ran
    rows: list[dict[str, object]] = json.loads(ran.stdout)
    return rows


def test_import_then_list_edit_end(home, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "ents.csv"
    path.write_text(GOOD)
    ran = invoke(home, "entitlements", "import", str(path))
    assert ran.code == 0 and "Imported 2" in ran.stdout, ran
    rows = listed(home)
    assert [(r["seats"], r["currency"], r["billing_period"], r["active"]) for r in rows] == [
        (10, "USD", "monthly", True),
        (5, "EUR", "annual", False),  # ended 2026-06-30; the clock says 2026-11-20
    ]
    assert rows[0]["notice_date"] == "2026-11-30" and rows[0]["contract_ref"] == "R-1"
    first = str(rows[0]["id"])

    assert invoke(home, "entitlements", "edit", first, "--seats", "12").code == 0
    assert listed(home)[0]["seats"] == 12
    assert_one_line_error(
        invoke(home, "entitlements", "edit", first, "--end", "2025-01-01"), "before term start"
    )
    assert_one_line_error(invoke(home, "entitlements", "edit", first), "nothing to change")
    assert_one_line_error(invoke(home, "entitlements", "edit", "999", "--seats", "1"), "999")

    owned = json.loads(invoke(home, "reconcile", "--json", "--no-save").stdout)[0]
    assert owned["rights_owned"] == 12  # the ended EUR entitlement does not count
    assert invoke(home, "entitlements", "end", first, "--on", "2026-11-19").code == 0
    assert listed(home)[0]["active"] is False
    assert json.loads(invoke(home, "reconcile", "--json").stdout)[0]["rights_owned"] == 0
    active = json.loads(invoke(home, "entitlements", "list", "--active", "--json").stdout)
    assert active == []


@pytest.mark.parametrize(
    ("csv_text", "words"),
    [
        (GOOD.replace(";10;", ";-3;"), ["line 2", "'seats'"]),
        (GOOD.replace("12.50", "12.5x"), ["line 2", "'unit cost'"]),
        (GOOD.replace(";EUR;", ";euros;"), ["line 3", "'currency'", "3-letter"]),
        (GOOD.replace(";EUR;", ";ABC;"), ["line 3", "'currency'", "ISO 4217", "'ABC'"]),
        (GOOD.replace(";Contract", ";Contrakt Ref"), ["line 1", "unknown column 'Contrakt Ref'"]),
        (GOOD.replace("annual", "weekly"), ["line 3", "'billing period'"]),
        (GOOD.replace("2026-06-30", "2026-02-30"), ["line 3", "'term end'"]),
        (GOOD.replace("Broadcom/Rally/Unlimited", "Nope"), ["line 3", "'model'", "Nope"]),
        (GOOD.replace(";;2026-06-30", ";2026-07-01;2026-06-30"), ["line 3", "before term start"]),
        ("Model;Seats\nBroadcom Rally Unlimited;3\n", ["line 1", "'unit cost'"]),
        ("Model,Seats,Unit cost\n", ["no entitlement rows"]),
    ],
)
def test_a_bad_row_refuses_the_whole_file(home, tmp_path, csv_text, words):  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.csv"
    path.write_text(csv_text)
    line = assert_one_line_error(invoke(home, "entitlements", "import", str(path)), *words)
    assert "bad.csv" in line
    assert listed(home) == []  # nothing written, not even the good rows


def test_add_refuses_bad_values_in_one_line(home):  # type: ignore[no-untyped-def]
    base = ["entitlements", "add", "--model", MODEL, "--seats", "3"]
    assert_one_line_error(invoke(home, *base, "--unit-cost", "-1"), "unit_cost")
    assert_one_line_error(invoke(home, *base, "--unit-cost", "1", "--start", "soon"), "--start")
    assert_one_line_error(
        invoke(home, *base, "--unit-cost", "1", "--billing-period", "weekly"), "billing period"
    )
    ran = invoke(
        home, *base, "--unit-cost", "1", "--renewal", "2027-01-01", "--notice", "2026-12-01"
    )
    assert ran.code == 0, ran
    assert listed(home)[0]["renewal_date"] == "2027-01-01"


def test_reconcile_json_keeps_the_documented_keys(home):  # type: ignore[no-untyped-def]
    ran = invoke(home, "reconcile", "--json")
    assert ran.code == 0, ran
    [row] = json.loads(ran.stdout)
    documented = {
        "software_model", "publisher", "product", "edition", "currency", "rights_owned",
        "rights_used", "rights_available", "stale", "status", "true_up_cost",
        "over_licensed_amount", "potential_savings",
    }  # fmt: skip
    assert documented <= set(row)
    trends = json.loads(invoke(home, "report", "trends", "--format", "json").stdout)
    assert len(trends) == 1 and trends[0]["models"] == 1  # the run was stored
