"""The audit trail's page (admin only), its filters and keyset pages, and its streamed CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from shelfware.accounts.roles import Role
from shelfware.audit import service as audit
from tests.web.conftest import PASSWORD, Web, csrf_of, signed_in


def _record(web: Web, count: int, action: str = "test.event", actor: str = "cli:ops") -> None:
    with web.store.db.transaction() as session:
        for n in range(count):
            audit.record(
                session, web.clock, action=action, object_type="thing", object_id=n, actor=actor
            )


def test_only_admins_read_the_audit_trail(web: Web) -> None:
    for role in Role:
        client, _ = signed_in(web, role.value)
        page = client.get("/audit")
        csv_export = client.get("/audit?format=csv")
        if role is Role.ADMIN:
            assert page.status_code == 200 and "Audit trail" in page.text
            assert 'href="/audit"' in page.text  # in the nav
            assert csv_export.status_code == 200
        else:
            assert page.status_code == 403 and "does not allow" in page.text, role
            assert csv_export.status_code == 403, role
            assert 'href="/audit"' not in client.get("/profiles").text  # no nav entry
    visitor = web.client()
    assert visitor.get("/audit").headers["location"] == "/sign-in?next=%2Faudit"
    assert visitor.get("/audit?format=csv").status_code == 303


def test_the_page_filters_and_pages_by_keyset(web: Web) -> None:
    _record(web, 130)
    web.clock.advance(timedelta(days=3))
    _record(web, 2, action="other.event", actor="web:ana")
    client, _ = signed_in(web, "admin")
    first = client.get("/audit", params={"action": "test"})
    assert first.status_code == 200
    assert first.text.count("test.event") == 100 and "other.event" not in first.text
    older = first.text.split('href="/audit?action=test&amp;before=')[1].split('"')[0]
    second = client.get(f"/audit?action=test&before={older}")
    assert second.text.count("test.event") == 30 and "Older events" not in second.text
    by_actor = client.get("/audit", params={"actor": "ana"})
    assert by_actor.text.count("other.event") == 2 and "test.event" not in by_actor.text
    day = web.clock.now().date().isoformat()
    today = client.get("/audit", params={"since": day, "until": day})
    assert "other.event" in today.text and "test.event" not in today.text
    for bad in ({"since": "yesterday"}, {"before": "1" * 30}, {"action": "a\x01"}):
        assert client.get("/audit", params=bad).status_code == 400, bad


def test_the_csv_export_streams_every_match_and_is_safe_in_a_spreadsheet(web: Web) -> None:
    _record(web, 1205)
    visitor = web.client()
    token = csrf_of(visitor.get("/sign-in").text)
    visitor.post(
        "/sign-in", data={"username": "=HYPERLINK(1)", "password": "x", "csrf_token": token}
    )
    client, _ = signed_in(web, "admin")
    with client.stream("GET", "/audit?format=csv&action=test") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        assert "content-length" not in response.headers  # streamed
        body = "".join(response.iter_text())
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == list(audit.CSV_COLUMNS)
    assert len(rows) == 1 + 1205
    ids = [int(r[0]) for r in rows[1:]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 1205
    failed = list(
        csv.DictReader(io.StringIO(client.get("/audit?format=csv&action=user.sign_in_failed").text))
    )
    assert len(failed) == 1
    detail = failed[0]["detail"]
    assert json.loads(detail)["username"] == "=HYPERLINK(1)"  # inside JSON: starts with {
    assert PASSWORD not in body
    _record(web, 1, action="test.formula", actor="=cmd|' /C calc'!A0")
    formula = list(
        csv.DictReader(io.StringIO(client.get("/audit?format=csv&action=test.formula").text))
    )
    assert formula[0]["actor"] == "'=cmd|' /C calc'!A0"  # OWASP: shown as text, never run


def test_the_audit_page_shows_sign_ins_with_their_address(web: Web) -> None:
    signed_in(web, "viewer")
    client, _ = signed_in(web, "admin")
    page = client.get("/audit", params={"action": "user.sign_in"})
    assert page.text.count("user.sign_in<") == 2 and "testclient" in page.text
