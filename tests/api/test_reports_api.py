"""Reports through the API over a synced Rally sandbox: each report's JSON rows are the
service's, its CSV (text/csv) says the same cell for cell, the CLI's options work and bad
ones are one 422 naming the option."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from shelfware.accounts.roles import Role
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.licensing.service import add_entitlement, record_reconciliation
from shelfware.reports import service
from shelfware.reports.formats import json_rows
from shelfware.reports.schemas import Rates
from tests.api.conftest import Api, Synced, error_of

pytestmark = pytest.mark.store

QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("compliance", {}),
    ("compliance", {"rate": ["EUR=1.1"], "base": "USD"}),
    ("usage", {"date": "2026-10-01"}),
    # savings: the synced organisation has freed no seat yet (tests/licensing/test_savings.py)
    ("renewals", {"days": 400}),
    ("people", {}),
    ("people", {"person": "FIRST"}),
    ("trends", {}),
]


def as_csv_text(value: Any) -> str:
    return "" if value is None else str(value)


@pytest.fixture
def priced(api: Api, synced: Synced) -> Synced:
    with api.db.transaction() as session:
        for currency, cost in (("USD", 30), ("EUR", 25)):
            add_entitlement(
                session,
                api.clock,
                EntitlementCreate(
                    model=synced.model,
                    seats=20,
                    unit_cost=cost,
                    currency=currency,
                    renewal_date="2027-03-01",
                    notice_date="2027-01-15",
                ),
            )
        record_reconciliation(session, api.clock)
    return synced


async def test_json_is_the_service_and_csv_says_the_same(
    api: Api, client: httpx.AsyncClient, priced: Synced
) -> None:
    viewer = api.auth(Role.VIEWER)
    someone = next(u.email for u in priced.sandbox.org.users if u.email and not u.disabled)
    for name, given in QUERIES:
        params = {k: someone if v == "FIRST" else v for k, v in given.items()}
        answer = await client.get(f"/reports/{name}", headers=viewer, params=params)
        assert answer.status_code == 200, (name, answer.text)
        body = answer.json()
        assert body["name"] == name and body["as_of"].endswith("Z")
        rows = body["rows"]
        assert rows, (name, params)
        if "person" in params:
            assert {r["account_email"] for r in rows} == {someone}
        as_csv = await client.get(
            f"/reports/{name}", headers=viewer, params={**params, "format": "csv"}
        )
        assert as_csv.headers["content-type"].startswith("text/csv"), name
        table = list(csv.reader(io.StringIO(as_csv.text)))
        keys = table[0]
        assert [dict(zip(keys, line, strict=True)) for line in table[1:]] == [
            {k: as_csv_text(row[k]) for k in keys} for row in rows
        ], name
        assert all(list(row) == keys for row in rows), name
    compliance = (await client.get("/reports/compliance", headers=viewer)).json()["rows"]
    with api.db.sessions() as session:
        assert compliance == json_rows(service.compliance(session, api.clock.now()))
        converted = json_rows(
            service.compliance(session, api.clock.now(), Rates.parse(["EUR=1.1"], "USD"))
        )
    assert "converted_total" in {r["row_type"] for r in converted}
    assert (
        await client.get("/reports/compliance", headers=viewer, params={"rate": "EUR=1.1"})
    ).json()["rows"] == converted
    renewals = (await client.get("/reports/renewals", headers=viewer, params={"days": 400})).json()
    assert [r["renewal_date"] for r in renewals["rows"]] == ["2027-03-01", "2027-03-01"]
    soon = (await client.get("/reports/renewals", headers=viewer, params={"days": 30})).json()
    assert soon["rows"] == []
    empty_csv = await client.get(
        "/reports/renewals", headers=viewer, params={"days": 30, "format": "csv"}
    )
    assert empty_csv.text.splitlines() == [",".join(k for k in _renewal_keys())]
    dated = (
        await client.get("/reports/usage", headers=viewer, params={"date": "2026-10-01"})
    ).json()
    assert dated["as_of"] == "2026-10-01T23:59:59Z"


def _renewal_keys() -> list[str]:
    from shelfware.reports.schemas import RenewalRow

    return [key for key, _, _ in RenewalRow.columns()]


async def test_bad_options_are_one_line(api: Api, client: httpx.AsyncClient) -> None:
    viewer = api.auth(Role.VIEWER)
    cases = [
        ("compliance", {"rate": "EUR"}, "rate"),
        ("compliance", {"rate": "EUR=0"}, "rate"),
        ("savings", {"rate": "EUR=1.1", "base": "dollars"}, "base"),
        ("savings", {"period": "week"}, "period"),
        ("usage", {"date": "1900-01-01"}, "date"),
        ("usage", {"date": "yesterday"}, "date"),
        ("renewals", {"days": 0}, "days"),
        ("usage", {"format": "xlsx"}, "format"),
    ]
    for name, params, field in cases:
        refused = await client.get(f"/reports/{name}", headers=viewer, params=params)
        assert refused.status_code == 422, (name, params, refused.text)
        error = error_of(refused)
        assert error.get("field") == field or error["message"].startswith(field), error
        assert "\n" not in error["message"]
    assert (await client.get("/reports/nothing", headers=viewer)).status_code == 404
    nobody = await client.get("/reports/people", headers=viewer, params={"person": "no@x.test"})
    assert nobody.status_code == 404 and "no@x.test" in error_of(nobody)["message"]
    document = (await client.get("/openapi.json")).json()
    answers = document["paths"]["/reports/compliance"]["get"]["responses"]["200"]["content"]
    assert set(answers) == {"application/json", "text/csv"}
