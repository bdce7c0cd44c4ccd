"""Departments and cost centres, end to end over real HTTP against the Okta sandbox, through
the real sync and the real API: each person's department and cost centre are the Okta
profile's (some people have none); an override (API PATCH, `entitlements.write`) wins over
every later import until cleared, and is audited; the chargeback report over the synced seats
charges each model's spend to the departments of the people holding its seats and adds up to
the spend per currency."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from shelfware.accounts.roles import Role
from shelfware.audit.service import list_events
from shelfware.directory import service as directory
from shelfware.licensing import service as licensing
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.models import Person, SoftwareModel, Subscription
from shelfware.reports import service as reports
from shelfware.reports.formats import csv_text, json_rows
from shelfware.sync.service import sync_profile
from tests.api.conftest import Api, api, client  # noqa: F401
from tests.connectors.test_okta import Okta, publish_okta

pytestmark = pytest.mark.store


def departments(ws: Api) -> dict[str, tuple[str | None, str | None, str | None]]:
    """Email -> (department from the IdP, cost centre from the IdP, department override)."""
    with ws.db.sessions() as s:
        return {
            p.email: (p.department, p.cost_center, p.department_override)
            for p in s.scalars(select(Person))
        }


def totals(report) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return {r.currency: r.annual_cost for r in report.rows if r.row_type == "total"}


def spend(ws: Api) -> dict[str, float]:
    with ws.db.sessions() as s:
        rows = reports.compliance(s, ws.clock.now()).rows
    return {r.currency: r.spend for r in rows if r.row_type == "total" and r.spend}


def held_per_department(ws: Api) -> Counter[tuple[str, str]]:
    """(department, model) -> seats held: counted in Python from the accounts, the oracle."""
    with ws.db.sessions() as s:
        people = {p.id: p for p in s.scalars(select(Person))}
        models = {m.id: m.display_name for m in s.scalars(select(SoftwareModel))}
        held: Counter[tuple[str, str]] = Counter()
        for sub in s.scalars(select(Subscription)):
            if not sub.holds_seat:
                continue
            person = people.get(sub.person_id) if sub.person_id else None
            dept = person and (person.department_override or person.department)
            held[(dept or "unknown", models[sub.software_model_id])] += 1
    return held


async def test_departments_from_okta_override_and_chargeback(
    api: Api,  # noqa: F811
    client: httpx.AsyncClient,  # noqa: F811
    okta: Okta,
) -> None:
    org = okta.org
    await publish_okta(api.db, api.keys, api.clock, okta)
    await sync_profile(api.db, api.keys, api.clock, "okta")

    # the Okta profile's department and cost centre, on every person; some have none
    stored = departments(api)
    for user in org.users:
        assert stored[user.email][:2] == (user.department, user.cost_center), user.email
    with_department = sum(u.department is not None for u in org.users)
    assert len(org.users) // 2 < with_department < len(org.users)
    assert any(u.department and u.cost_center is None for u in org.users)

    # seats are paid for: one model under-licensed in USD, one with spare seats in EUR
    with api.db.transaction() as s:
        models = sorted(
            s.scalars(select(SoftwareModel).where(SoftwareModel.publisher == "Okta")),
            key=lambda m: m.product,
        )
        held = Counter(
            sub.software_model_id for sub in s.scalars(select(Subscription)) if sub.holds_seat
        )
        tight, roomy = [m for m in models if held[m.id] >= 3][:2]
        for model, seats, cost, currency in (
            (tight, held[tight.id] - 2, "120.50", "USD"),
            (roomy, held[roomy.id] + 7, "33.33", "EUR"),
        ):
            licensing.add_entitlement(
                s,
                api.clock,
                EntitlementCreate(
                    model=model.display_name,
                    seats=seats,
                    unit_cost=Decimal(cost),
                    currency=currency,
                ),
            )

    def chargeback():  # type: ignore[no-untyped-def]
        with api.db.sessions() as s:
            return reports.chargeback(s, api.clock.now())

    report = chargeback()
    assert totals(report) == spend(api) and set(totals(report)) == {"USD", "EUR"}
    named = {
        (r.group, r.software_model): r.seats
        for r in report.rows
        if r.row_type == "model" and r.group_kind in ("named", "unknown")
    }
    assert named == {k: n for k, n in held_per_department(api).items() if n}
    unassigned = [r for r in report.rows if r.group_kind == "unassigned" and r.row_type == "model"]
    assert [(r.software_model, r.seats) for r in unassigned] == [(roomy.display_name, 7)]
    assert {r.group for r in report.rows if r.group_kind == "named"} <= {
        u.department for u in org.users
    }

    # an override (sam_manager: entitlements.write) wins over every later import
    user = next(u for u in org.users if u.department is not None and u.status == "ACTIVE")
    with api.db.sessions() as s:
        person_id = directory.find_person(s, user.email).id
    url = f"/people/{person_id}"
    body = {"department": "  Finance   Ops "}
    for role in (Role.VIEWER, Role.SAM_INTEGRATOR):
        refused = await client.patch(url, json=body, headers=api.auth(role))
        assert refused.status_code == 403, refused.text
    changed = await client.patch(url, json=body, headers=api.auth(Role.SAM_MANAGER))
    assert changed.status_code == 200, changed.text
    view = changed.json()
    assert (view["department"], view["department_from_idp"], view["department_override"]) == (
        "Finance Ops",
        user.department,
        "Finance Ops",
    )
    assert view["cost_center"] == user.cost_center  # untouched
    await sync_profile(api.db, api.keys, api.clock, "okta")
    assert departments(api)[user.email] == (user.department, user.cost_center, "Finance Ops")
    with api.db.sessions() as s:
        assert directory.person_detail(s, user.email).department == "Finance Ops"
    report = chargeback()
    assert totals(report) == spend(api)
    moved = {(r.group, r.software_model): r.seats for r in report.rows if r.group == "Finance Ops"}
    assert moved and sum(n for (_, m), n in moved.items() if m != "All models") == sum(
        n for (d, _), n in held_per_department(api).items() if d == "Finance Ops"
    )
    with api.db.sessions() as s:
        events = [e for e in list_events(s) if e.action == "directory.person_charging"]
    assert len(events) == 1 and events[0].object_id == str(person_id)

    # bad values are refused, nothing changes
    for bad in ({"department": ""}, {"department": "x" * 201}, {"colour": "red"}, {}):
        refused = await client.patch(url, json=bad, headers=api.auth(Role.ADMIN))
        assert refused.status_code in (409, 422), (bad, refused.text)
    # null clears the override: the identity provider's department counts again
    cleared = await client.patch(url, json={"department": None}, headers=api.auth(Role.ADMIN))
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["department"], cleared.json()["department_override"]) == (
        user.department,
        None,
    )
    assert not any(r.group == "Finance Ops" for r in chargeback().rows)
    missing = await client.patch("/people/999999", json=body, headers=api.auth(Role.ADMIN))
    assert missing.status_code == 404

    # the API's JSON and CSV are the service's rows
    answer = await client.get(
        "/reports/chargeback", params={"by": "cost_center"}, headers=api.auth(Role.VIEWER)
    )
    as_csv = await client.get(
        "/reports/chargeback",
        params={"by": "cost_center", "format": "csv"},
        headers=api.auth(Role.VIEWER),
    )
    with api.db.sessions() as s:
        by_cost = reports.chargeback(s, api.clock.now(), "cost_center")
    assert answer.json()["rows"] == json_rows(by_cost)
    assert as_csv.text == csv_text(by_cost)
    assert totals(by_cost) == spend(api)
    assert {r.group for r in by_cost.rows if r.group_kind == "named"} <= {
        u.cost_center for u in org.users
    }
