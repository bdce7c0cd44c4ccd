"""Chargeback over random organisations (entitlements, seats, people and their departments,
cost centres and overrides), on SQLite and PostgreSQL: the rows add up to reconciliation's
spend per currency, to the cent; every seat held is charged to its holder's group (the
override, else the identity provider's; "unknown" without one or without a person); no
amount is negative."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from shelfware.models import Person
from shelfware.reports import service as reports
from tests.conftest import NOW
from tests.licensing.test_properties import SETTINGS, Model, load, organisations

pytestmark = pytest.mark.store

names = st.one_of(st.none(), st.sampled_from(["Eng", "Sales", "Ops"]))
# per person 1..4: (department, cost centre, department override, cost centre override)
charging = st.lists(st.tuples(names, names, names, names), min_size=4, max_size=4)


def expected_groups(org: list[Model], people: list[tuple], by: str) -> Counter[tuple[str, str]]:  # type: ignore[type-arg]
    """(group, model name) -> seats held, from the generated data."""
    held: Counter[tuple[str, str]] = Counter()
    for mid, m in enumerate(org, start=1):
        for sub in m.subs:
            if not sub.active or sub.gone:
                continue
            group = None
            if sub.person is not None:
                dept, cost, dept_over, cost_over = people[sub.person - 1]
                group = (dept_over or dept) if by == "department" else (cost_over or cost)
            held[(group or "unknown", f"Pub P{mid} E")] += 1
    return held


@SETTINGS
@given(org=organisations, people=charging, by=st.sampled_from(["department", "cost_center"]))
def test_chargeback_adds_up_to_spend(db, org, people, by):  # type: ignore[no-untyped-def]
    load(db, org)
    with db.transaction() as s:
        for pid, (dept, cost, dept_over, cost_over) in enumerate(people, start=1):
            s.execute(
                update(Person)
                .where(Person.id == pid)
                .values(
                    department=dept,
                    cost_center=cost,
                    department_override=dept_over,
                    cost_center_override=cost_over,
                )
            )
    with db.sessions() as s:
        report = reports.chargeback(s, NOW, by)
        compliance = reports.compliance(s, NOW)
    spend = {r.currency: r.spend for r in compliance.rows if r.row_type == "total" and r.spend}
    totals = {r.currency: r.annual_cost for r in report.rows if r.row_type == "total"}
    assert {c: v for c, v in totals.items() if v} == spend
    model_rows = [r for r in report.rows if r.row_type == "model"]
    for currency, total in totals.items():
        parts = [Decimal(str(r.annual_cost or 0)) for r in model_rows if r.currency == currency]
        assert sum(parts, Decimal(0)) == Decimal(str(total or 0))
    # per model: what its rows charge is its spend
    by_model = {r.software_model: r for r in compliance.rows if r.row_type == "model"}
    charged: dict[str, Decimal] = {}
    for r in model_rows:
        charged[r.software_model] = charged.get(r.software_model, Decimal(0)) + Decimal(
            str(r.annual_cost or 0)
        )
        assert r.annual_cost is None or r.annual_cost >= 0
        assert r.currency == by_model[r.software_model].currency
    for name, amount in charged.items():
        assert amount == Decimal(str(by_model[name].spend or 0)), name
    held = {
        (r.group, r.software_model): r.seats for r in model_rows if r.group_kind != "unassigned"
    }
    assert held == {k: n for k, n in expected_groups(org, people, by).items() if n}
    # group subtotals are their rows' sums
    for sub in (r for r in report.rows if r.row_type == "group"):
        mine = [r for r in model_rows if (r.group, r.currency) == (sub.group, sub.currency)]
        assert sub.seats == sum(r.seats for r in mine)
