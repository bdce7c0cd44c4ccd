"""Reconciliation over random organisations: the DOMAIN.md invariants hold, and an independent
reference computation (plain Python over the generated data) agrees with the service on every
generated case, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from shelfware.licensing import service as licensing
from shelfware.licensing.savings import savings_book
from shelfware.models import (
    Base,
    CandidateState,
    Entitlement,
    IntegrationProfile,
    Person,
    ReclamationRule,
    RemovalCandidate,
    SoftwareModel,
    Subscription,
)
from shelfware.reports import service as reports
from tests.conftest import NOW

pytestmark = pytest.mark.store

TODAY = NOW.date()
CENT = Decimal("0.01")


@dataclass
class Ent:
    seats: int
    unit_cost: Decimal
    currency: str
    period: str
    start: date | None
    end: date | None


@dataclass
class Sub:
    active: bool
    gone: bool
    last: datetime | None
    created: datetime | None
    first_seen: datetime
    person: int | None
    profile: int
    candidate: tuple[str, datetime] | None


@dataclass
class Model:
    list_price: Decimal | None
    currency: str
    rule: tuple[int, bool] | None  # threshold days, new-account grace
    ents: list[Ent] = field(default_factory=list)
    subs: list[Sub] = field(default_factory=list)


def days_ago(n: int, hours: int = 0) -> datetime:
    return NOW - timedelta(days=n, hours=hours)


money = st.decimals(min_value=0, max_value=5000, places=4, allow_nan=False, allow_infinity=False)
day_offsets = st.one_of(st.none(), st.integers(-400, 400))
# Days ago, biased to the edges: exactly a threshold ago, exactly now, just ahead of now.
instants = st.builds(
    days_ago,
    st.one_of(st.sampled_from([-1, 0, 1, 30, 60, 90]), st.integers(-5, 500)),
    st.one_of(st.just(0), st.integers(0, 23)),
)


@st.composite
def entitlements(draw: st.DrawFn) -> Ent:
    start = draw(day_offsets)
    end = draw(day_offsets)
    if start is not None and end is not None and end < start:
        start, end = end, start
    return Ent(
        seats=draw(st.integers(0, 40)),
        unit_cost=draw(money),
        currency=draw(st.sampled_from(["USD", "EUR"])),
        period=draw(st.sampled_from(["annual", "monthly"])),
        start=None if start is None else TODAY + timedelta(days=start),
        end=None if end is None else TODAY + timedelta(days=end),
    )


@st.composite
def subscriptions(draw: st.DrawFn) -> Sub:
    state = draw(st.sampled_from([None, *(s.value for s in CandidateState)]))
    return Sub(
        active=draw(st.booleans()),
        gone=draw(st.booleans()) and draw(st.booleans()),
        last=draw(st.one_of(st.none(), instants)),
        created=draw(st.one_of(st.none(), instants)),
        first_seen=draw(instants),
        person=draw(st.one_of(st.none(), st.integers(1, 4))),
        profile=draw(st.integers(1, 2)),
        candidate=None if state is None else (state, draw(instants)),
    )


@st.composite
def models(draw: st.DrawFn) -> Model:
    return Model(
        list_price=draw(st.one_of(st.none(), money)),
        currency=draw(st.sampled_from(["USD", "EUR", "GBP"])),
        rule=draw(st.one_of(st.none(), st.tuples(st.sampled_from([1, 30, 60, 90]), st.booleans()))),
        ents=draw(st.lists(entitlements(), max_size=3)),
        subs=draw(st.lists(subscriptions(), max_size=12)),
    )


organisations = st.lists(models(), min_size=1, max_size=4)


# ----------------------------------------------------------------------------- reference


def in_term(e: Ent) -> bool:
    return (e.start is None or e.start <= TODAY) and (e.end is None or e.end >= TODAY)


def ref_price(m: Model) -> tuple[Decimal | None, str]:
    """The list price, else the seat-weighted average over the entitlements in term today
    (when none is: over all of them), in the currency holding most of those seats."""
    if m.list_price is not None:
        return m.list_price, m.currency
    pricing = [e for e in m.ents if in_term(e)] or m.ents
    if not pricing:
        return None, m.currency
    seats: dict[str, int] = {}
    for e in pricing:
        seats[e.currency] = seats.get(e.currency, 0) + e.seats
    currency = sorted(seats, key=lambda c: (-seats[c], c))[0]
    mine = [e for e in pricing if e.currency == currency]

    def annual(e: Ent) -> Decimal:
        return e.unit_cost * (12 if e.period == "monthly" else 1)

    total_seats = sum(e.seats for e in mine)
    if total_seats:
        return sum((annual(e) * e.seats for e in mine), Decimal(0)) / total_seats, currency
    return sum((annual(e) for e in mine), Decimal(0)) / len(mine), currency


def ref_stale(m: Model, s: Sub) -> bool:
    threshold, grace = m.rule if m.rule else (60, True)
    cutoff = NOW - timedelta(days=threshold)
    if s.last is not None:
        return s.last < cutoff
    since = s.created or s.first_seen
    return not grace or since <= cutoff


def q(value: Decimal | None) -> float | None:
    return None if value is None else float(value.quantize(CENT))


def reference(m: Model, since: datetime | None = None) -> dict[str, object]:
    owned = sum(e.seats for e in m.ents if in_term(e))
    holding = [s for s in m.subs if s.active and not s.gone]
    used = len(holding)
    people = len({s.person for s in holding if s.person}) + sum(1 for s in holding if not s.person)
    stale = sum(1 for s in holding if ref_stale(m, s))
    unit, currency = ref_price(m)
    reclaimed = sum(
        1
        for s in m.subs
        if s.candidate
        and s.candidate[0] == "closed_complete"
        and s.candidate[1] <= NOW
        and (since is None or s.candidate[1] >= since)
    )

    def cost(n: int) -> float | None:
        return None if unit is None else q(unit * n)

    return {
        "currency": currency,
        "unit_cost": q(unit),
        "rights_owned": owned,
        "rights_used": used,
        "rights_used_people": people,
        "rights_available": owned - used,
        "stale": stale,
        "status": "compliant" if used <= owned else "under_licensed",
        "true_up_cost": cost(max(0, used - owned)),
        "over_licensed_amount": cost(max(0, owned - used)),
        "potential_savings": cost(stale + max(0, owned - used)),
        "realised_savings": q(unit * reclaimed) if unit is not None else 0.0,
    }


# ----------------------------------------------------------------------------- the store


def load(db, org: list[Model]) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(delete(table))
        s.execute(
            insert(Person),
            [{"id": i, "email": f"p{i}@x.example", "created_at": NOW} for i in range(1, 5)],
        )
        s.execute(
            insert(IntegrationProfile),
            [
                {
                    "id": p,
                    "name": f"p{p}",
                    "kind": "rally",
                    "url": "https://x.example",
                    "options": {},
                    "analyze_activity_from": NOW,
                    "created_at": NOW,
                    "updated_at": NOW,
                    "connection_changed_at": NOW,
                }
                for p in (1, 2)
            ],
        )
        sub_id = 0
        for mid, m in enumerate(org, start=1):
            s.execute(
                insert(SoftwareModel),
                [
                    {
                        "id": mid,
                        "publisher": "Pub",
                        "product": f"P{mid}",
                        "edition": "E",
                        "list_price": m.list_price,
                        "currency": m.currency,
                        "created_at": NOW,
                    }
                ],
            )
            if m.rule:
                s.execute(
                    insert(ReclamationRule),
                    [
                        {
                            "software_model_id": mid,
                            "threshold_days": m.rule[0],
                            "new_account_grace": m.rule[1],
                            "created_at": NOW,
                            "updated_at": NOW,
                        }
                    ],
                )
            for e in m.ents:
                s.add(
                    Entitlement(
                        software_model_id=mid,
                        seats=e.seats,
                        unit_cost=e.unit_cost,
                        currency=e.currency,
                        billing_period=e.period,
                        term_start=e.start,
                        term_end=e.end,
                        created_at=NOW,
                    )
                )
            for sub in m.subs:
                sub_id += 1
                s.add(
                    Subscription(
                        id=sub_id,
                        profile_id=sub.profile,
                        software_model_id=mid,
                        external_id=str(sub_id),
                        active=sub.active,
                        edition="E",
                        last_activity_at=sub.last,
                        created_in_app_at=sub.created,
                        first_seen_at=sub.first_seen,
                        gone_at=NOW if sub.gone else None,
                        person_id=sub.person,
                    )
                )
                if sub.candidate:
                    s.flush()
                    state, closed = sub.candidate
                    s.add(
                        RemovalCandidate(
                            subscription_id=sub_id,
                            profile_id=sub.profile,
                            software_model_id=mid,
                            state=state,
                            justification="low_usage",
                            # a recorded cost unlike the model's: realised must not use it
                            unit_cost=Decimal("0.0001"),
                            created_at=NOW,
                            updated_at=NOW,
                            closed_at=closed if state.startswith("closed_") else None,
                        )
                    )


SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(org=organisations)
def test_reconciliation_matches_reference_and_invariants(db, org):  # type: ignore[no-untyped-def]
    load(db, org)
    with db.sessions() as s:
        rows = licensing.reconcile(s, NOW)
    assert len(rows) == len(org)
    for row in rows:
        m = org[(row.software_model_id or 0) - 1]
        got = row.model_dump(include=set(reference(m)))
        assert got == reference(m), (m, row)
        # the invariants, stated on their own
        assert row.rights_used + row.rights_available == row.rights_owned
        assert not ((row.true_up_cost or 0) > 0 and (row.over_licensed_amount or 0) > 0)
        assert row.potential_savings is None or row.potential_savings >= 0
        if row.potential_savings is not None:  # its two parts add up to it, to the cent
            parts = Decimal(str(row.savings_stale)) + Decimal(str(row.savings_unassigned))
            assert parts == Decimal(str(row.potential_savings))
            assert row.savings_stale is not None and row.savings_stale >= 0
            assert row.savings_unassigned is not None and row.savings_unassigned >= 0
        assert row.rights_used_people <= row.rights_used
        if not any(sub.candidate and sub.candidate[0] == "closed_complete" for sub in m.subs):
            assert row.realised_savings == 0


@SETTINGS
@given(org=organisations)
def test_savings_report_matches_reference(db, org):  # type: ignore[no-untyped-def]
    """Seats freed this year at their price (the reference), and finance's split: over every
    period, cost avoidance + realised never exceed the freed seats times their price."""
    load(db, org)
    since = reports.year_start(NOW)
    with db.sessions() as s:
        report = reports.savings(s, NOW)
        book = savings_book(s, NOW, "month")
    rows = [r for r in report.rows if r.row_type == "model"]
    for mid, m in enumerate(org, start=1):
        ref = reference(m, since)
        # a model's rows: its price's currency (seats freed), and any other whose committed
        # spend fell (nothing freed there)
        mine = [r for r in rows if r.software_model == f"Pub P{mid} E"]
        freed = sum(Decimal(str(r.freed_value or 0)) for r in mine)
        assert float(freed) == ref["realised_savings"], (m, mine)
    # totals per currency add up their own currency only
    for total in (r for r in report.rows if r.row_type == "total"):
        mine = [r for r in rows if r.currency == total.currency]
        for key in ("freed_value", "cost_avoidance", "realised_savings"):
            expected = sum(Decimal(str(r[key] or 0)) for r in mine)
            assert Decimal(str(total[key] or 0)) == expected
    seats: dict[tuple[int, str], int] = {}
    freed: dict[tuple[int, str], Decimal] = {}
    split: dict[tuple[int, str], Decimal] = {}
    for figures in book.figures.values():
        for key, f in figures.items():
            assert f.avoided >= 0 and f.realised >= 0 and f.realised <= f.reduction, f
            seats[key] = seats.get(key, 0) + f.seats_freed
            freed[key] = freed.get(key, Decimal(0)) + f.freed
            split[key] = split.get(key, Decimal(0)) + f.avoided + f.realised
    for key, value in split.items():
        price = book.prices[key[0]].annual
        assert value <= freed[key] == (price or Decimal(0)) * seats[key], (key, value)
