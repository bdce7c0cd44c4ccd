"""The reports in the workspace: every report with its options on screen, money with its
currency in the reader's notation, the renewals calendar, trends as lines, CSV and JSON that
are the report's own rows."""

from __future__ import annotations

import html
import json
import re

from shelfware.reports.catalogue import REPORTS, ReportOptions, run_report
from shelfware.reports.formats import csv_text, json_rows
from tests.reports.conftest import seed_base, seed_org
from tests.web.conftest import Web, signed_in


def test_every_report_renders_with_its_options_and_downloads(web: Web) -> None:
    seed_base(web.store.db)
    seed_org(web.store.db)
    client, _ = signed_in(web, "viewer")
    index = client.get("/reports")
    assert index.status_code == 200
    for name in REPORTS:
        assert f'href="/reports/{name}"' in index.text
        page = client.get(f"/reports/{name}")
        assert page.status_code == 200, name
        assert "--" not in page.text.split("<main")[1].replace("<!--", ""), name  # no flags
        with web.store.db.sessions() as session:
            built = run_report(session, name, web.clock.now(), ReportOptions())
        assert client.get(f"/reports/{name}?format=csv").text == csv_text(built), name
        body = json.loads(client.get(f"/reports/{name}?format=json").text)
        assert body["rows"] == json_rows(built), name
    compliance = client.get("/reports/compliance")
    assert "€" in compliance.text and "$" in compliance.text  # each money cell its currency
    german = client.get("/reports/compliance", headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert "\xa0€" in german.text  # 1.199,88 € in German notation
    converted = client.get("/reports/compliance?rate=EUR%3D1.1&base=USD")
    assert "converted_total" in converted.text
    bad = client.get("/reports/compliance?rate=EUR")
    assert bad.status_code == 400 and "rate &#39;EUR&#39;" in bad.text and "--rate" not in bad.text
    assert client.get("/reports/nothing").status_code == 404
    assert "p0@example.com" in client.get("/reports/people?person=p0@example.com").text
    assert client.get("/reports/people?person=nobody@example.com").status_code == 400
    sales = client.get("/reports/chargeback?by=cost_center")
    assert "CC-1" in sales.text and "unknown" in sales.text


def test_renewals_calendar_and_trend_lines(web: Web) -> None:
    seed_base(web.store.db)
    seed_org(web.store.db)
    client, _ = signed_in(web, "viewer")
    page = client.get("/reports/renewals").text
    assert 'class="calendar"' in page
    assert "Renews:</strong> Broadcom Rally Unlimited" in page
    assert "Notice by:</strong> Broadcom Rally Unlimited" in page
    assert "recommend" in page
    trends = client.get("/reports/trends").text
    assert trends.count('<polyline class="line-') == 3  # a line per measure
    assert "assigned" in trends and "stale" in trends


def test_reports_need_their_permission(web: Web) -> None:
    assert web.client().get("/reports").status_code == 303


def test_a_kept_report_is_built_again_when_its_data_changes(web: Web) -> None:
    from decimal import Decimal

    from shelfware.licensing import service as licensing
    from shelfware.licensing.schemas import EntitlementCreate

    seed_base(web.store.db)
    seed_org(web.store.db)
    client, _ = signed_in(web, "viewer")
    before = client.get("/reports/compliance?format=json").json()["rows"]
    assert client.get("/reports/compliance?format=json").json()["rows"] == before  # kept
    with web.store.db.transaction() as session:  # an audited write: a new data stamp
        licensing.add_entitlement(
            session,
            web.clock,
            EntitlementCreate(model="Acme Boards Team", seats=5, unit_cost=Decimal("1")),
        )
    after = client.get("/reports/compliance?format=json").json()["rows"]
    owned = {r["software_model"]: r["rights_owned"] for r in after if r["row_type"] == "model"}
    assert owned["Acme Boards Team"] == 15 and after != before


def test_people_without_a_person_pages_on_screen_and_streams_the_download(web: Web) -> None:
    """1,010 accounts matching nobody: a page shows 200 and links to the next one (a keyset
    cursor) until the last shows the rest; the CSV has every one; a forged cursor is a 400."""
    from sqlalchemy import select

    from shelfware.models import Subscription
    from tests.conftest import NOW

    seed_base(web.store.db)
    seed_org(web.store.db)
    with web.store.db.transaction() as s:
        profile_id, model_id = s.execute(
            select(Subscription.profile_id, Subscription.software_model_id).limit(1)
        ).one()
        s.execute(
            Subscription.__table__.insert(),
            [
                {
                    "profile_id": profile_id,
                    "software_model_id": model_id,
                    "external_id": f"bulk{i}",
                    "username": f"bulk{i:04d}",
                    "active": True,
                    "admin": False,
                    "group_scoped": False,
                    "edition": "Unlimited",
                    "first_seen_at": NOW,
                }
                for i in range(1007)
            ],
        )
    client, _ = signed_in(web, "viewer")
    url: str | None = "/reports/people"
    counts, pages = [], []
    while url is not None:
        page = client.get(url)
        assert page.status_code == 200
        counts.append(page.text.count('<tr class="row-model">'))
        pages.append(page.text)
        link = re.search(r'rel="next" href="([^"]+)"', page.text)
        url = html.unescape(link.group(1)) if link else None
    assert counts == [200, 200, 200, 200, 200, 10]  # 3 of the fixture + 1,007
    assert "bulk1006" in pages[-1] and "bulk1006" not in pages[0]
    csv = client.get("/reports/people?format=csv")
    assert csv.text.count("\n") == 1 + 1010
    body = json.loads(client.get("/reports/people?format=json").text)
    assert len(body["rows"]) == 1010 and body["name"] == "people"
    forged = client.get("/reports/people?cursor=x:1")
    assert forged.status_code == 400 and "not a cursor of the people report" in forged.text
