"""Reconciliation formulas (DOMAIN.md), on rows written directly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from shelfware.licensing import service as licensing
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.models import (
    CandidateState,
    IntegrationProfile,
    RemovalCandidate,
    Subscription,
)
from shelfware.profiles import service as profiles
from tests.conftest import NOW

pytestmark = pytest.mark.store


def seed(db, keys, clock, accounts):  # type: ignore[no-untyped-def]
    """accounts: list of (active, last_activity_days_ago or None, created_days_ago, person)."""
    with db.transaction() as s:
        model = profiles.ensure_software_model(s, clock, "Acme", "Widget", "Pro")
        prof = IntegrationProfile(
            name="p",
            kind="rally",
            url="https://x.example",
            analyze_activity_from=NOW,
            created_at=NOW,
            updated_at=NOW,
            connection_changed_at=NOW,
            options={},
        )
        s.add(prof)
        s.flush()
        from shelfware.models import Person

        people = {}
        for i, (active, idle, created, person) in enumerate(accounts):
            if person and person not in people:
                people[person] = Person(email=person, created_at=NOW)
                s.add(people[person])
                s.flush()
            s.add(
                Subscription(
                    profile_id=prof.id,
                    software_model_id=model.id,
                    external_id=str(i),
                    active=active,
                    edition="Pro",
                    first_seen_at=NOW - timedelta(days=400),
                    created_in_app_at=NOW - timedelta(days=created),
                    last_activity_at=None if idle is None else NOW - timedelta(days=idle),
                    person_id=people[person].id if person else None,
                )
            )
        return model.id, prof.id


def test_over_licensed_position(db, keys, clock):
    seed(
        db,
        keys,
        clock,
        [
            (True, 1, 300, "a@x"),  # active
            (True, 10, 300, "a@x"),  # same person, second account
            (True, 61, 300, "b@x"),  # stale
            (True, None, 100, None),  # never used, past grace: stale
            (True, None, 10, None),  # never used, new starter: not stale
            (False, 500, 900, None),  # disabled: no seat
        ],
    )
    with db.transaction() as s:
        licensing.add_entitlement(
            s,
            clock,
            EntitlementCreate(
                model="Acme/Widget/Pro", seats=8, unit_cost=Decimal("10"), billing_period="monthly"
            ),
        )
        licensing.add_entitlement(
            s,
            clock,
            EntitlementCreate(
                model="Acme Widget Pro",
                seats=100,
                unit_cost=Decimal("1"),
                term_end=date(2020, 1, 1),
            ),
        )  # expired: neither owned nor priced now (an entitlement is in term)
    with db.sessions() as s:
        [row] = licensing.reconcile(s, NOW)
    assert (row.rights_owned, row.rights_used, row.rights_used_people) == (8, 5, 4)
    assert (row.rights_available, row.stale, row.status) == (3, 2, "compliant")
    unit = 120.0  # the one in term, annualised
    assert row.unit_cost == pytest.approx(round(unit, 2))
    assert row.true_up_cost == 0
    assert row.over_licensed_amount == pytest.approx(round(3 * unit, 2))
    assert row.potential_savings == pytest.approx(round(5 * unit, 2))


def test_under_licensed_true_up_and_realised_savings(db, keys, clock):
    model_id, prof_id = seed(db, keys, clock, [(True, 1, 300, None)] * 5)
    with db.transaction() as s:
        licensing.add_entitlement(
            s, clock, EntitlementCreate(model=str(model_id), seats=3, unit_cost=Decimal("100"))
        )
        sub_id = s.query(Subscription.id).first()[0]
        s.add(
            RemovalCandidate(
                subscription_id=sub_id,
                profile_id=prof_id,
                software_model_id=model_id,
                state=CandidateState.CLOSED_COMPLETE,
                justification="low_usage",
                unit_cost=Decimal("100"),
                created_at=NOW,
                updated_at=NOW,
                closed_at=NOW,
            )
        )
    with db.sessions() as s:
        [row] = licensing.reconcile(s, NOW)
    assert row.status == "under_licensed"
    assert row.true_up_cost == 200.0 and row.over_licensed_amount == 0
    assert row.potential_savings == 0
    assert row.realised_savings == 100.0


def test_bad_entitlements_are_refused(db, keys, clock):
    seed(db, keys, clock, [])
    with pytest.raises(ValueError):
        EntitlementCreate(model="x", seats=-1, unit_cost=Decimal(1))
    with pytest.raises(ValueError, match="currency"):
        EntitlementCreate(model="x", seats=1, unit_cost=Decimal(1), currency="dollars")
    with pytest.raises(ValueError, match="term end"):
        EntitlementCreate(
            model="x",
            seats=1,
            unit_cost=Decimal(1),
            term_start=date(2026, 1, 2),
            term_end=date(2026, 1, 1),
        )
    with db.transaction() as s, pytest.raises(licensing.LicensingError, match="no software model"):
        licensing.add_entitlement(
            s, clock, EntitlementCreate(model="Nope", seats=1, unit_cost=Decimal(1))
        )


def test_a_stored_reconciliation_keeps_every_figure_with_its_date(db, keys, clock):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from shelfware.models import ReconciliationPosition, ReconciliationRun

    seed(db, keys, clock, [(True, 1, 300, "a@x"), (True, 90, 300, None)])
    with db.transaction() as s:
        licensing.add_entitlement(
            s, clock, EntitlementCreate(model="Acme Widget Pro", seats=5, unit_cost=Decimal("7"))
        )
    earlier = NOW - timedelta(days=30)
    with db.transaction() as s:
        run, rows = licensing.record_reconciliation(s, clock, earlier)
    with db.sessions() as s:
        [stored_run] = s.scalars(select(ReconciliationRun)).all()
        [stored] = s.scalars(select(ReconciliationPosition)).all()
        runs = licensing.reconciliation_runs(s)
    assert (stored_run.as_of, stored_run.models, run.id) == (earlier, 1, stored_run.id)
    assert [r.id for r in runs] == [run.id]
    with db.sessions() as s:
        assert not licensing.reconciliation_due(s, earlier + timedelta(days=6))
        assert licensing.reconciliation_due(s, earlier + timedelta(days=7))
    [row] = rows
    # 30 days earlier the 90-day-idle account was idle 60 days: not yet stale (not > 60)
    assert (row.stale, row.rights_available, row.potential_savings) == (0, 3, 21.0)
    for key in ("software_model", "currency", "rights_owned", "rights_used", "stale", "status"):
        assert getattr(stored, key) == getattr(row, key), key
    for key in ("unit_cost", "over_licensed_amount", "potential_savings", "spend"):
        assert float(getattr(stored, key)) == getattr(row, key), key


def test_realised_savings_are_the_cost_each_candidate_recorded_when_it_closed(db, keys, clock):
    """A candidate that closed complete keeps the cost it freed then, whatever the price now;
    one closed before candidates recorded it counts at today's price."""
    model_id, prof_id = seed(db, keys, clock, [(True, 1, 300, None)] * 5)
    with db.transaction() as s:
        licensing.add_entitlement(
            s, clock, EntitlementCreate(model=str(model_id), seats=5, unit_cost=Decimal("100"))
        )
        first, second = [sid for (sid,) in s.query(Subscription.id).limit(2)]
        for sub_id, recorded in ((first, Decimal("40")), (second, None)):
            s.add(
                RemovalCandidate(
                    subscription_id=sub_id,
                    profile_id=prof_id,
                    software_model_id=model_id,
                    state=CandidateState.CLOSED_COMPLETE,
                    justification="low_usage",
                    unit_cost=Decimal("100"),
                    realised_saving=recorded,
                    created_at=NOW,
                    updated_at=NOW,
                    closed_at=NOW,
                )
            )
    with db.sessions() as s:
        [row] = licensing.reconcile(s, NOW)
    assert row.realised_savings == 140.0


def test_a_seat_is_priced_by_the_entitlements_in_term_on_the_day(db, keys, clock):  # type: ignore[no-untyped-def]
    """An expired cheap contract no longer drags the price of the seats owned now: the unit
    cost is the seat-weighted average of the entitlements in term on the reconciliation date,
    and of all of them only on a day none is in term. The same price reaches candidates."""
    from shelfware.licensing.pricing import seat_prices

    model_id, _ = seed(db, keys, clock, [(True, 1, 300, None), (True, 200, 300, None)])
    with db.transaction() as s:
        for seats, cost, start, end in (
            (100, "12", date(2025, 1, 1), date(2025, 12, 31)),  # last year's, expired
            (8, "120", date(2026, 1, 1), None),  # this year's, in term
            (2, "60", date(2026, 6, 1), date(2027, 5, 31)),  # a top-up, in term
        ):
            licensing.add_entitlement(
                s,
                clock,
                EntitlementCreate(
                    model="Acme Widget Pro",
                    seats=seats,
                    unit_cost=Decimal(cost),
                    term_start=start,
                    term_end=end,
                ),
            )

    def unit_on(when):  # type: ignore[no-untyped-def]
        with db.sessions() as s:
            [row] = licensing.reconcile(s, when)
        return row.unit_cost

    assert unit_on(NOW) == 108.0  # (8 x 120 + 2 x 60) / 10; before: (1200 + 960 + 120) / 110
    assert unit_on(datetime(2025, 6, 1, tzinfo=UTC)) == 12.0  # only last year's in term
    assert unit_on(datetime(2024, 6, 1, tzinfo=UTC)) == pytest.approx(20.73)  # none: all
    with db.sessions() as s:
        [row] = licensing.reconcile(s, NOW)
        assert row.potential_savings == 9 * 108.0  # one stale seat, 8 seats unused
        assert seat_prices(s, on=NOW.date())[model_id].annual == Decimal(108)
        everything = seat_prices(s)[model_id].annual
        assert everything is not None and abs(everything - Decimal("20.7273")) < Decimal("0.001")


def test_the_main_currency_is_the_one_holding_most_seats_in_term(db, keys, clock):  # type: ignore[no-untyped-def]
    seed(db, keys, clock, [(True, 1, 300, None)])
    with db.transaction() as s:
        for seats, cost, currency, end in (
            (500, "3", "EUR", date(2025, 12, 31)),  # expired, many seats
            (10, "50", "USD", None),
        ):
            licensing.add_entitlement(
                s,
                clock,
                EntitlementCreate(
                    model="Acme Widget Pro",
                    seats=seats,
                    unit_cost=Decimal(cost),
                    currency=currency,
                    term_start=date(2025, 1, 1),
                    term_end=end,
                ),
            )
    with db.sessions() as s:
        [row] = licensing.reconcile(s, NOW)
    assert (row.currency, row.unit_cost, row.rights_owned) == ("USD", 50.0, 10)
