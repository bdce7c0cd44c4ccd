"""Entitlements in a real browser: a CSV import (a bad line named, nothing added; then every
row added), an edit and the end of a term, through the licensing service; a viewer reads
them, and the roles that may not change entitlements are refused."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from shelfware.licensing import service as licensing
from shelfware.sandbox.server import serve_in_thread
from tests.web.browser_steps import shot, submit
from tests.web.conftest import Web, signed_in
from tests.web.ops_seed import MODEL, seed_seats, sign_in

GOOD = (
    "Software model;Seats;Unit cost;Billing period;Term end;Contract\n"
    f"{MODEL};25;30;monthly;2027-06-30;PO-1\n"
    f"{MODEL};5;400;annual;;PO-2\n"
).encode()
BAD = GOOD + f"{MODEL};many;30;monthly;;PO-3\n".encode()


def _all(web: Web) -> list[Any]:
    with web.store.db.sessions() as session:
        return licensing.list_entitlements(session, web.clock.now().date())


def _upload(page: Any, name: str, data: bytes) -> None:
    page.set_input_files(
        "#import-file", files=[{"name": name, "mimeType": "text/csv", "buffer": data}]
    )
    submit(page, "#import-entitlements")
    page.wait_for_load_state()


def test_import_edit_and_end_entitlements_in_a_browser(web: Web, browser: Any) -> None:
    seed_seats(web.store.db, web.store.keys, web.clock)
    with serve_in_thread(web.app) as server:  # type: ignore[arg-type]
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.on("dialog", lambda d: d.accept())
        sign_in(page, server.url, "sam_manager")
        submit(page, "nav >> text=Entitlements")

        _upload(page, "bought.csv", BAD)
        error = page.inner_text(".error")
        assert "Nothing imported: bought.csv, line 4, column 'seats'" in error, error
        assert _all(web) == []  # all or nothing
        _upload(page, "bought.csv", GOOD)
        assert "Imported 2 entitlements from bought.csv" in page.inner_text(".notice")
        first, second = _all(web)
        assert (first.seats, first.contract_ref, second.unit_cost) == (25, "PO-1", 400)
        shot(page, "entitlements")

        submit(page, f'tr[data-id="{first.id}"] a')
        page.fill("#seats", "40")
        page.fill("#contract_ref", "PO-1b")
        submit(page, "#save-entitlement")
        assert "Saved entitlement" in page.inner_text(".notice")
        page.fill("#unit_cost", "-1")
        submit(page, "#save-entitlement")
        assert "unit cost" in page.inner_text(".error")  # named, nothing saved
        shot(page, "entitlement")
        page.goto(f"{server.url}/entitlements/{first.id}")
        page.fill("#end-on", "2027-01-31")
        submit(page, "#end-entitlement")
        assert "ends on 2027-01-31" in page.inner_text(".notice")
        edited = next(e for e in _all(web) if e.id == first.id)
        assert (edited.seats, edited.contract_ref, edited.term_end) == (
            40,
            "PO-1b",
            date(2027, 1, 31),
        )
        assert edited.unit_cost == Decimal(30)

        viewer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        sign_in(viewer, server.url, "viewer")
        viewer.goto(server.url + "/entitlements")
        assert viewer.locator("#import-file").count() == 0
        viewer.goto(f"{server.url}/entitlements/{first.id}")
        assert viewer.is_disabled("#seats") and viewer.locator("#save-entitlement").count() == 0
    for role in ("viewer", "sam_integrator"):
        client, csrf = signed_in(web, role)
        files = {"file": ("x.csv", GOOD, "text/csv")}
        imported = client.post("/entitlements/import", data={"csrf_token": csrf}, files=files)
        assert imported.status_code == 403
        edit = client.post(f"/entitlements/{first.id}", data={"csrf_token": csrf, "seats": "1"})
        assert edit.status_code == 403
        end = client.post(f"/entitlements/{first.id}/end", data={"csrf_token": csrf})
        assert end.status_code == 403
    assert len(_all(web)) == 2 and _all(web)[0].seats == 40
