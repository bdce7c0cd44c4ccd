"""Every page of the workspace in Debian's chromium, desktop (1280 px) and phone (390 px):
axe-core finds no serious or critical accessibility violation, the console stays clean, a
screenshot of each is kept under test-artifacts/web/<page>-<desktop|phone>.png; on the phone
the navigation folds into a menu and the lists read as cards; a keyboard-only flow opens the
menu, reaches a report, sets its options and downloads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from shelfware.kit.db import Database
from shelfware.sandbox.server import serve_in_thread
from tests.cli.conftest import MODEL, PROFILE
from tests.reports.conftest import seed_base, seed_org
from tests.web.conftest import PASSWORD, Web

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
PAGES = {
    "overview": "/",
    "subscriptions": "/subscriptions",
    "candidates": "/candidates",
    "entitlements": "/entitlements",
    "people": "/people",
    "runs": "/runs",
    "audit": "/audit",
    "reports": "/reports",
    "report-compliance": "/reports/compliance",
    "report-usage": "/reports/usage",
    "report-savings": "/reports/savings",
    "report-renewals": "/reports/renewals",
    "report-people": "/reports/people",
    "report-trends": "/reports/trends",
    "report-chargeback": "/reports/chargeback",
    # the operation pages (issue 16): rules, a person, an entitlement, profiles, reviews
    "rules": "/rules",
    "rule": "/rules/" + quote(MODEL),
    "rule-downgrade": "/rules/" + quote(MODEL) + "/downgrade",
    "person": "/people/1",
    "entitlement": "/entitlements/1",
    "profiles": "/profiles",
    "profile": f"/profiles/{PROFILE}",
    "profile-new": "/profiles/new",
    "profile-edit": f"/profiles/{PROFILE}/edit",
    "reviews": "/reviews",
}
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}


def seeded(db: Database) -> None:
    seed_base(db)
    seed_org(db)


def sign_in(page: Any, base: str, role: str = "admin") -> None:
    page.goto(base + "/sign-in")
    page.fill("input[name=username]", role)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


def serious(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_every_page_is_accessible_clean_and_shot(web: Web, browser: Any, device: str) -> None:
    seeded(web.store.db)
    width, height = VIEWPORTS[device]
    with serve_in_thread(web.app) as server:  # type: ignore[arg-type]
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, server.url)
        problems: dict[str, list[str]] = {}
        for name, path in PAGES.items():
            answer = page.goto(server.url + path)
            assert answer is not None and answer.status == 200, path
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{name}-{device}.png"), full_page=True)
            if device == "phone":  # nothing wider than the phone: no sideways page
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= width + 1, f"{path} is {wide} px wide on a {width} px phone"
            found = serious(page)
            if found:
                problems[path] = found
        assert not problems, problems
        favicon = page.evaluate("document.querySelector('link[rel=icon]').href")
        assert page.request.get(favicon).status == 200
        assert not errors, errors
        context.close()


def test_phone_menu_and_card_lists(web: Web, browser: Any) -> None:
    seeded(web.store.db)
    with serve_in_thread(web.app) as server:  # type: ignore[arg-type]
        context = browser.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        sign_in(page, server.url)
        nav = page.locator("#main-nav")
        toggle = page.locator(".menu-toggle")
        assert toggle.is_visible() and not nav.is_visible()  # folded into the menu
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true" and nav.is_visible()
        page.locator("#main-nav a", has_text="Subscriptions").click()
        page.wait_for_url("**/subscriptions")
        first = page.locator("#subscriptions tbody tr").first
        assert first.locator("td").first.get_attribute("data-label") == "Id"
        box = first.bounding_box()
        assert box is not None and box["width"] <= 390  # a card, not a wide row
        assert page.locator("#subscriptions thead").bounding_box()["height"] <= 1  # type: ignore[index]
        # every action stays reachable: the filter form, the download, sign-out
        assert page.locator("form.filters button[type=submit]").is_visible()
        assert page.locator("a.download").is_visible()
        assert page.locator("form.who button").is_visible()
        page.goto(server.url + "/people")
        card = page.locator("#people tbody tr").first
        assert card.locator("td").nth(1).get_attribute("data-label") == "Email"
        context.close()


def test_a_keyboard_alone_reaches_and_downloads_a_report(web: Web, browser: Any) -> None:
    seeded(web.store.db)
    with serve_in_thread(web.app) as server:  # type: ignore[arg-type]
        context = browser.new_context(viewport={"width": 390, "height": 844}, accept_downloads=True)
        page = context.new_page()
        sign_in(page, server.url)

        def focused() -> str:
            return str(page.evaluate("document.activeElement.textContent.trim()"))

        page.keyboard.press("Tab")
        assert focused() == "Skip to the content"
        while focused() != "Menu":
            page.keyboard.press("Tab")
        page.keyboard.press("Enter")  # opens the menu, focus on its first entry
        assert focused() == "Overview"
        page.keyboard.press("Escape")  # closes it, back on the button
        assert focused() == "Menu" and not page.locator("#main-nav").is_visible()
        page.keyboard.press("Enter")
        while focused() != "Reports":
            page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        page.wait_for_url("**/reports")
        while focused() != "Chargeback":
            page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        page.wait_for_url("**/reports/chargeback")
        while page.evaluate("document.activeElement.name") != "by":
            page.keyboard.press("Tab")
        page.keyboard.press("ArrowDown")  # cost centres
        page.keyboard.press("Tab")
        assert focused() == "Show"
        page.keyboard.press("Enter")
        page.wait_for_url("**/reports/chargeback?*by=cost_center")
        assert "CC-1" in page.inner_text("#report")
        page.keyboard.press("Tab")
        while not focused().startswith("Download CSV"):
            page.keyboard.press("Tab")
        with page.expect_download() as download:
            page.keyboard.press("Enter")
        saved = Path(download.value.path()).read_text()
        assert saved.startswith("row_type,group,group_kind") and "CC-1" in saved
        context.close()
