"""The renewals calendar feed: created by the CLI (its URL shown once), served as iCalendar at
/calendar/renewals.ics by the app `shelfware serve` builds, parsed back with the icalendar
library; every renewal and notice date is an event carrying the renewals report's figures;
a revoked, unknown or missing token gets 404, and the token opens no page."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from icalendar import Calendar
from sqlalchemy import insert

from shelfware.licensing import calendar
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.licensing.service import add_entitlement
from shelfware.models import Person, SoftwareModel, Subscription
from shelfware.reports import service as reports
from tests.cli.conftest import database, home, invoke  # noqa: F401 (fixture)
from tests.conftest import NOW
from tests.web.conftest import Web, web  # noqa: F401 (fixture)

URL = re.compile(r"(https?://\S+/calendar/renewals\.ics\?token=\S+)")


def seed(web: Web) -> list[int]:  # noqa: F811
    """Two models, seats used and stale, three entitlements (one without dates)."""
    clock, db = web.clock, web.store.db
    today = NOW.date()
    with db.transaction() as s:
        s.execute(
            insert(SoftwareModel),
            [
                {
                    "id": 1,
                    "publisher": "Acme",
                    "product": "Docs",
                    "edition": "Pro",
                    "created_at": NOW,
                },
                {
                    "id": 2,
                    "publisher": "Acme",
                    "product": "Chat",
                    "edition": "Team",
                    "created_at": NOW,
                },
            ],
        )
        s.execute(insert(Person), [{"id": 1, "email": "p@x.test", "created_at": NOW}])
        from shelfware.models import IntegrationProfile

        s.execute(
            insert(IntegrationProfile),
            [
                {
                    "id": 1,
                    "name": "p1",
                    "kind": "rally",
                    "url": "https://x.example",
                    "options": {},
                    "analyze_activity_from": NOW,
                    "created_at": NOW,
                    "updated_at": NOW,
                    "connection_changed_at": NOW,
                }
            ],
        )
        s.execute(
            insert(Subscription),
            [
                {
                    "profile_id": 1,
                    "software_model_id": 1,
                    "external_id": str(i),
                    "active": True,
                    "edition": "Pro",
                    "first_seen_at": NOW - timedelta(days=400),
                    "last_activity_at": NOW - timedelta(days=1 if i < 6 else 200),
                }
                for i in range(10)  # 6 active, 4 stale
            ],
        )
        ids = []
        for model, seats, renewal, notice in (
            ("1", 20, today + timedelta(days=40), today + timedelta(days=10)),
            ("2", 5, today + timedelta(days=300), None),
            ("1", 3, None, None),
        ):
            ids.append(
                add_entitlement(
                    s,
                    clock,
                    EntitlementCreate(
                        model=model,
                        seats=seats,
                        unit_cost=Decimal(12),
                        renewal_date=renewal,
                        notice_date=notice,
                        contract_ref=f"C-{model}-{seats}",
                        owner="owner@corp.test",
                    ),
                ).id
            )
    return ids


def test_the_feed_lists_every_renewal_and_notice_date(web: Web, tmp_path: Path) -> None:  # noqa: F811
    ids = seed(web)
    with web.store.db.transaction() as s:
        _, token = calendar.create_feed(s, web.clock, "finance")
    client = web.client()
    answer = client.get(calendar.FEED_PATH, params={"token": token})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/calendar")
    parsed = Calendar.from_ical(answer.content)
    events = {str(e["uid"]): e for e in parsed.walk("VEVENT")}
    today = NOW.date()
    assert set(events) == {
        f"renewal-{ids[0]}-{today + timedelta(days=40)}@shelfware",
        f"notice-{ids[0]}-{today + timedelta(days=10)}@shelfware",
        f"renewal-{ids[1]}-{today + timedelta(days=300)}@shelfware",
    }
    notice = events[f"notice-{ids[0]}-{today + timedelta(days=10)}@shelfware"]
    assert notice.decoded("dtstart") == today + timedelta(days=10)
    assert isinstance(notice.decoded("dtstart"), date)
    assert str(notice["summary"]) == "Notice date: Acme Docs Pro (C-1-20)"
    with web.store.db.sessions() as s:
        [row] = [
            r
            for r in reports.renewals(s, NOW, 365, buffer_percent=10).rows
            if r.entitlement_id == ids[0]
        ]
    text = str(notice["description"])
    assert f"Seats (this contract): {row.seats}" in text
    assert f"Used: {row.model_used}" in text and f"Stale: {row.model_stale}" in text
    assert (row.model_used, row.model_stale) == (10, 4)
    assert f"Utilisation: {row.utilisation_percent:.1f}%" in text
    assert f"Recommended seats (+10%): {row.recommended_seats}" in text  # ceil(6 * 1.1) = 7
    assert row.recommended_seats == 7
    assert f"Renew with: {row.right_size_seats}" in text
    assert f"/entitlements#entitlement-{ids[0]}" in str(notice["url"])


def test_missing_unknown_and_revoked_tokens_get_404(web: Web) -> None:  # noqa: F811
    seed(web)
    with web.store.db.transaction() as s:
        feed, token = calendar.create_feed(s, web.clock, "finance")
    client = web.client()
    assert client.get(calendar.FEED_PATH, params={"token": token}).status_code == 200
    for params in ({}, {"token": ""}, {"token": token + "x"}, {"token": "shw_" + token[7:]}):
        assert client.get(calendar.FEED_PATH, params=params).status_code == 404, params
    # the feed's token is not a session nor an API token: the workspace stays closed
    assert client.get("/entitlements", params={"token": token}).status_code == 303
    assert (
        client.get("/api/v1/entitlements", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    with web.store.db.transaction() as s:
        calendar.revoke_feed(s, web.clock, feed.id)
    refused = client.get(calendar.FEED_PATH, params={"token": token})
    assert refused.status_code == 404 and "BEGIN:VCALENDAR" not in refused.text


def test_the_cli_creates_lists_and_revokes_feed_urls(home: Path) -> None:  # noqa: F811
    env = {"SHELFWARE_PUBLIC_URL": "https://shelfware.corp.test"}
    made = invoke(home, "calendar", "create", "--name", "finance", env=env)
    assert made.code == 0, made
    [url] = URL.findall(made.stdout)
    assert url.startswith("https://shelfware.corp.test/calendar/renewals.ics?token=shwcal_")
    token = url.split("token=", 1)[1]
    with database(home).sessions() as s:
        assert calendar.feed_for(s, token) is not None
    listed = invoke(home, "calendar", "list", "--json")
    assert listed.code == 0 and '"name": "finance"' in listed.stdout
    assert token not in listed.stdout  # shown once, never again
    assert invoke(home, "calendar", "revoke", "1").code == 0
    with database(home).sessions() as s:
        assert calendar.feed_for(s, token) is None
    missing = invoke(home, "calendar", "revoke", "99")
    assert missing.code == 1 and "no calendar feed 99" in missing.stderr
