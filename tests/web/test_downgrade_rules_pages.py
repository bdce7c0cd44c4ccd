"""Downgrade rules in the workspace (issue 19 through issue 16): a model's downgrade rule is
made and changed in the same form as its removal rule, with a live dry run of the form as it
stands (who would move, how many, the price difference a year) that says how many seats are
never proposed for want of activity-intensity data; saved through the rules service."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from shelfware.kit.asgi import quote_segment
from shelfware.models import ActivityDay, IntegrationProfile, Subscription
from shelfware.profiles import service as profiles
from shelfware.reclamation import rules
from shelfware.sandbox.server import serve_in_thread
from tests.web.browser_steps import shot, submit, until
from tests.web.conftest import Web, signed_in
from tests.web.ops_seed import MODEL, seed_seats, sign_in

BASIC = "Broadcom Rally Basic"
PATH = f"/rules/{quote_segment(MODEL)}/downgrade"
FORM = {
    "to_model": BASIC,
    "window_days": "30",
    "max_active_days": "5",
    "max_events": "",
    "auto_reclaim_days": "14",
    "keep_days": "90",
    "notify": "on",
    "active": "on",
}


def seed_light_use(web: Web, *, covered: bool) -> None:
    """The ops seed's ten Unlimited seats ($120 a year), a Basic edition at $36, and activity
    days: busy0..busy3 active 2 days each in the window (light), idle* none; ``covered``: the
    profile's recorded days cover a 30-day window."""
    seed_seats(web.store.db, web.store.keys, web.clock)
    now = web.clock.now()
    with web.store.db.transaction() as session:
        basic = profiles.ensure_software_model(session, web.clock, "Broadcom", "Rally", "Basic")
        basic.list_price, basic.currency = Decimal(36), "USD"
        profile = session.query(IntegrationProfile).one()
        profile.process_activity = True
        profile.activity_days_from = now - timedelta(days=60) if covered else None
        for sub in session.query(Subscription).filter(Subscription.username.like("busy%")):
            for ago in (1, 3):
                session.add(
                    ActivityDay(subscription_id=sub.id, day=(now - timedelta(ago)).date(), events=2)
                )


def _downgrade_rule(web: Web) -> Any:
    with web.store.db.sessions() as session:
        found = [r for r in rules.list_rules(session) if r.kind == "downgrade"]
    return found[0] if found else None


def test_the_preview_says_seats_without_intensity_data_are_never_proposed(web: Web) -> None:
    seed_light_use(web, covered=False)
    client, _ = signed_in(web, "sam_manager")
    page = client.get(PATH)
    assert page.status_code == 200 and BASIC in page.text  # the edition to choose
    assert _downgrade_rule(web) is None  # showing the defaults wrote nothing
    preview = client.get(PATH + "/preview", params=FORM)
    assert 'id="preview-count">0<' in preview.text
    assert 'id="preview-no-data"><strong>10</strong> seats never proposed' in preview.text
    assert "no activity-intensity data" in preview.text
    # an incomplete rule is named in the page's words, not the command line's
    half = client.get(PATH + "/preview", params={**FORM, "max_active_days": ""})
    assert "fewer than N active days and/or fewer than N events" in half.text
    assert _downgrade_rule(web) is None


def test_a_manager_saves_a_downgrade_rule_a_viewer_may_not(web: Web) -> None:
    seed_light_use(web, covered=True)
    client, token = signed_in(web, "sam_manager")
    preview = client.get(PATH + "/preview", params=FORM)
    assert 'id="preview-count">4<' in preview.text  # busy0..3: 2 active days < 5
    assert "$336.00" in preview.text and "$84.00" in preview.text  # 4 x (120 - 36)
    assert "preview-no-data" not in preview.text
    assert "6 seats with no activity at all" in preview.text  # idle: the removal rule's
    assert _downgrade_rule(web) is None  # the preview wrote nothing
    viewer, viewer_token = signed_in(web, "viewer")
    assert viewer.get(PATH).status_code == 200
    assert viewer.post(PATH, data={**FORM, "csrf_token": viewer_token}).status_code == 403
    saved = client.post(PATH, data={**FORM, "csrf_token": token})
    assert saved.status_code == 303 and saved.headers["location"] == PATH
    rule = _downgrade_rule(web)
    assert (rule.target_model, rule.max_active_days, rule.max_events, rule.window_days) == (
        BASIC,
        5,
        None,
        30,
    )
    # the thresholds as a form sends them: events instead of active days (blank clears one)
    client.post(PATH, data={**FORM, "max_active_days": "", "max_events": "3", "csrf_token": token})
    rule = _downgrade_rule(web)
    assert (rule.max_active_days, rule.max_events) == (None, 3)
    listed = client.get("/rules").text
    assert f'href="{PATH}"' in listed and "fewer than 3 events" in listed
    # neither threshold: refused, named, nothing changed
    refused = client.post(PATH, data={**FORM, "max_active_days": "", "csrf_token": token})
    assert refused.status_code == 400 and "what light use is" in refused.text
    assert _downgrade_rule(web).max_events == 3


def test_a_manager_adds_a_downgrade_rule_with_a_live_dry_run(web: Web, browser: Any) -> None:
    seed_light_use(web, covered=True)
    with serve_in_thread(web.app) as server:  # type: ignore[arg-type]
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        sign_in(page, server.url, "sam_manager")
        page.goto(server.url + f"/rules/{quote_segment(MODEL)}")
        submit(page, "#downgrade-link")
        page.wait_for_url(server.url + PATH)
        # no edition chosen yet: the dry run says what is missing, in the page's words
        until(page, lambda: page.locator("#preview-error").count() == 1)
        page.select_option("#to_model", BASIC)
        page.fill("#window_days", "30")
        page.fill("#max_active_days", "5")
        page.dispatch_event("#max_active_days", "change")
        count = page.locator("#preview-count")
        until(page, lambda: count.count() == 1 and count.inner_text() == "4")
        assert page.inner_text("#preview-money") == "$336.00"
        assert "unsaved" in page.inner_text("#preview-summary")
        page.fill("#max_active_days", "2")  # 2 active days is not fewer than 2
        page.dispatch_event("#max_active_days", "change")
        until(page, lambda: count.count() == 1 and count.inner_text() == "0")
        page.fill("#max_active_days", "5")
        shot(page, "rules-downgrade")
        submit(page, "#save-rule")
        page.wait_for_url(server.url + PATH)
        assert "Downgrade rule for" in page.inner_text(".notice")
        assert _downgrade_rule(web).target_model == BASIC
        assert not [e for e in errors if "Failed to load resource" not in e], errors
