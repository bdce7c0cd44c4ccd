"""Each report's figures on a known organisation (tests/reports/conftest.py), worked out by
hand from DOMAIN.md."""

from __future__ import annotations

import tracemalloc
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from shelfware.models import Person, Subscription
from shelfware.reports import formats
from shelfware.reports import service as reports
from shelfware.reports.schemas import PeopleRow, Rates
from tests.conftest import NOW

pytestmark = pytest.mark.store

RALLY = "Broadcom Rally Unlimited"
BOARDS = "Acme Boards Team"


def by_model(rows):  # type: ignore[no-untyped-def]
    return {r.software_model: r for r in rows if getattr(r, "row_type", "model") == "model"}


def test_compliance_per_model_and_totals_per_currency(org_db):  # type: ignore[no-untyped-def]
    with org_db.sessions() as s:
        report = reports.compliance(s, NOW, Rates.parse(["EUR=1.08"]))
    rows = by_model(report.rows)
    rally, boards = rows[RALLY], rows[BOARDS]
    # Rally: 5 seats (2 match nobody), 3 stale (75, 120 days, never), 4 owned at 12.50/month
    assert (rally.rights_owned, rally.rights_used, rally.rights_used_people) == (4, 5, 5)
    assert (rally.stale, rally.status, rally.currency, rally.unit_cost) == (
        3,
        "under_licensed",
        "USD",
        150.0,
    )
    assert (rally.true_up_cost, rally.over_licensed_amount, rally.potential_savings) == (
        150.0,
        0.0,
        450.0,
    )
    assert (rally.realised_savings, rally.spend) == (150.0, 600.0)
    # Boards: 10 owned at 99.99 EUR a year, 2 used, 1 stale
    assert (boards.rights_available, boards.stale, boards.currency) == (8, 1, "EUR")
    assert (boards.over_licensed_amount, boards.potential_savings, boards.spend) == (
        799.92,
        899.91,
        999.9,
    )
    totals = {(r.row_type, r.currency): r for r in report.rows if r.row_type != "model"}
    assert totals["total", "USD"].potential_savings == 450.0
    assert totals["total", "EUR"].potential_savings == 899.91
    assert totals["converted_total", "USD"].potential_savings == 1421.9  # 450 + 899.91 x 1.08
    assert totals["converted_total", "USD"].rights_used == 7


def test_money_is_never_added_across_currencies_without_a_rate(org_db):  # type: ignore[no-untyped-def]
    with org_db.sessions() as s:
        report = reports.compliance(s, NOW)
        assert {r.row_type for r in report.rows} == {"model", "total"}
        assert any("--rate" in note for note in report.notes)
        with pytest.raises(ValueError, match="no --rate for EUR"):
            reports.compliance(s, NOW, Rates.parse(["GBP=1.3"]))
    with pytest.raises(ValueError, match="EUR=abc"):
        Rates.parse(["EUR=abc"])
    with pytest.raises(ValueError, match="above 0"):
        Rates.parse(["EUR=-1"])


def test_usage_buckets(org_db):  # type: ignore[no-untyped-def]
    with org_db.sessions() as s:
        rows = reports.usage(s, NOW).rows
    rally, boards = by_model(rows)[RALLY], by_model(rows)[BOARDS]
    assert (rally.seats, rally.days_0_30, rally.days_30_60, rally.days_60_90) == (5, 1, 1, 1)
    assert (rally.days_90_plus, rally.never) == (1, 1)
    assert (boards.days_0_30, boards.days_90_plus, boards.never) == (1, 1, 0)
    total = rows[-1]
    assert (total.row_type, total.seats, total.days_90_plus) == ("total", 7, 2)


def test_savings_cost_avoidance_this_year_only(org_db):  # type: ignore[no-untyped-def]
    with org_db.sessions() as s:
        now = by_model(reports.savings(s, NOW).rows)[RALLY]
        # the seat was reclaimed 10 days before NOW: not yet freed 11 days before, and
        # not in next year's figures
        before = by_model(reports.savings(s, NOW - timedelta(days=11)).rows)
        next_year = by_model(reports.savings(s, NOW + timedelta(days=60)).rows)
    assert (now.period, now.seats_freed, now.freed_value) == ("2026", 1, 150.0)
    # the contract is unchanged: all of it is cost avoidance, nothing realised
    assert (now.cost_avoidance, now.commitment_reduction, now.realised_savings) == (150.0, 0, 0)
    assert RALLY not in before and RALLY not in next_year


def test_renewals_right_size_before_the_notice_date(org_db):  # type: ignore[no-untyped-def]
    with org_db.sessions() as s:
        rows = reports.renewals(s, NOW).rows
        assert reports.renewals(s, NOW, days=20).rows == []
    rally, boards = rows  # by renewal date
    assert (rally.contract_ref, rally.days_to_notice, rally.seats) == ("RALLY-1", 5, 4)
    # 5 used, 3 stale: 2 people use it; 4 owned -> renew 2, save 2 x 150
    assert (rally.utilisation_percent, rally.right_size_seats, rally.renewal_saving) == (
        125.0,
        2,
        300.0,
    )
    assert boards.renewal_date == (NOW + timedelta(days=60)).date()  # term end, no renewal date
    assert (boards.utilisation_percent, boards.right_size_seats, boards.currency) == (
        20.0,
        1,
        "EUR",
    )
    assert boards.renewal_saving == 899.91


def test_people_unmatched_leavers_and_one_person(org_db):  # type: ignore[no-untyped-def]
    with org_db.sessions() as s:
        rows = reports.people(s, NOW).rows
        assert {(r.kind, r.username) for r in rows} == {
            ("unmatched", "user2"),
            ("unmatched", "user4"),
            ("unmatched", "user6"),
        }
        mine = reports.people(s, NOW, " P0@example.COM").rows
        assert [(r.kind, r.software_model, r.username, r.idle_days) for r in mine] == [
            ("seat", BOARDS, "user5", 10),
            ("seat", RALLY, "user0", 3),
        ]
        with pytest.raises(LookupError, match=r"nobody@example\.com"):
            reports.people(s, NOW, "nobody@example.com")
        assert not [r for r in rows if r.kind == "leaver"]
        # a person deprovisioned in the identity provider comes first, as a leaver
        s.execute(
            update(Person)
            .where(Person.email == "p2@example.com")
            .values(idp_status="DEPROVISIONED")
        )
        rows = reports.people(s, NOW).rows
    first = rows[0]
    assert (first.kind, first.person, first.username) == (
        "leaver",
        "p2@example.com",
        "user3",
    )
    assert len(rows) == 4


def test_people_pages_and_stream_walk_the_same_rows_as_the_whole_report(org_db):  # type: ignore[no-untyped-def]
    """Leavers then unmatched accounts a page at a time (keyset, across the two segments),
    and streamed: the same rows, in the same order, as the whole report."""
    with org_db.transaction() as s:
        s.execute(
            update(Person)
            .where(Person.email == "p2@example.com")
            .values(idp_status="DEPROVISIONED")
        )
    with org_db.sessions() as s:
        whole = reports.people(s, NOW).rows
        walked, cursor, pages = [], None, 0
        while True:
            page, cursor = reports.people_page(s, NOW, cursor, limit=1)
            walked += page
            pages += 1
            assert len(page) == 1
            if cursor is None:
                break
            # a cursor travels as text (the page's "next" link) and comes back the same
            assert reports.PeopleCursor.parse(cursor.text()) == cursor
        two, _ = reports.people_page(s, NOW, None, limit=2)
        everything, last = reports.people_page(s, NOW, None, limit=100)
    assert [(r.kind, r.username) for r in whole] == [
        ("leaver", "user3"),
        ("unmatched", "user2"),
        ("unmatched", "user4"),
        ("unmatched", "user6"),
    ]
    assert walked == whole == everything and pages == 4 and last is None
    assert two == whole[:2]  # the page crossing from the leavers to the unmatched
    assert list(reports.people_stream(org_db, NOW)) == whole
    for bad in ("x:1:", "u:one:", "u:" + "9" * 30 + ":", ""):
        with pytest.raises(ValueError, match="not a cursor of the people report"):
            reports.PeopleCursor.parse(bad)
    with pytest.raises(ValueError, match="limit"), org_db.sessions() as s:
        reports.people_page(s, NOW, None, limit=0)


def test_the_people_export_streams_with_flat_memory(org_db):  # type: ignore[no-untyped-def]
    """20,000 accounts matching nobody: the streamed CSV has every one, and the memory it
    holds at its peak is a small part of what the whole report takes."""
    profile_id, model_id = reports_ids(org_db)
    extra = 20_000
    with org_db.engine.begin() as conn:
        conn.execute(
            Subscription.__table__.insert(),
            [
                {
                    "profile_id": profile_id,
                    "software_model_id": model_id,
                    "external_id": f"bulk{i}",
                    "username": f"bulk{i:05d}",
                    "active": True,
                    "admin": False,
                    "group_scoped": False,
                    "edition": "Unlimited",
                    "first_seen_at": NOW,
                }
                for i in range(extra)
            ],
        )

    def peak(run) -> int:  # type: ignore[no-untyped-def]
        tracemalloc.start()
        try:
            run()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    lines = 0

    def stream() -> None:
        nonlocal lines
        for piece in formats.csv_stream(PeopleRow, reports.people_stream(org_db, NOW)):
            lines += piece.count("\n")

    def whole() -> None:
        with org_db.sessions() as s:
            formats.csv_text(reports.people(s, NOW))

    streamed_peak, whole_peak = peak(stream), peak(whole)
    assert lines == 1 + 3 + extra  # the header, the fixture's three, the bulk
    assert streamed_peak * 4 < whole_peak, (streamed_peak, whole_peak)


def reports_ids(db):  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return s.execute(
            select(Subscription.profile_id, Subscription.software_model_id).limit(1)
        ).one()


def test_trends_from_stored_reconciliations(org_db):  # type: ignore[no-untyped-def]
    with org_db.sessions() as s:
        rows = reports.trends(s, NOW, Rates.parse(["EUR=2"])).rows
    assert [(r.as_of, r.currency, r.row_type) for r in rows] == [
        (NOW - timedelta(days=14), "EUR", "total"),
        (NOW - timedelta(days=14), "USD", "total"),
        (NOW - timedelta(days=14), "USD", "converted_total"),
        (NOW, "EUR", "total"),
        (NOW, "USD", "total"),
        (NOW, "USD", "converted_total"),
    ]
    latest = rows[-2]
    assert (latest.assigned, latest.active, latest.stale, latest.stale_percent) == (5, 2, 3, 60.0)
    assert latest.spend == 600.0
    converted = rows[-1]
    assert (converted.assigned, converted.stale, converted.spend) == (7, 4, 600.0 + 2 * 999.9)
