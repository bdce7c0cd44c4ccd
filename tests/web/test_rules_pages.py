"""The rules pages in a real browser: every setting and list of a model's rule in one form,
a live dry run (who, how many, how much) of the form as it stands before it is saved, the
save through the rules service; a viewer reads the rule but may not change it."""

from __future__ import annotations

from typing import Any

from shelfware.kit.asgi import quote_segment
from shelfware.reclamation import rules
from shelfware.sandbox.server import serve_in_thread
from tests.web.browser_steps import shot, submit, until
from tests.web.conftest import Web, signed_in
from tests.web.ops_seed import MODEL, seed_seats, sign_in

PATH = f"/rules/{quote_segment(MODEL)}"


def _rule(web: Web) -> Any:
    with web.store.db.sessions() as session:
        return next(r for r in rules.list_rules(session) if r.software_model == MODEL)


def test_a_manager_changes_a_rule_with_a_live_dry_run(web: Web, browser: Any) -> None:
    seed_seats(web.store.db, web.store.keys, web.clock)
    with serve_in_thread(web.app) as server:  # type: ignore[arg-type]
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        sign_in(page, server.url, "sam_manager")
        submit(page, "nav >> text=Rules")
        assert "Never select admins" not in page.content()  # the list, not the form
        submit(page, f"text={MODEL}")
        count = page.locator("#preview-count")

        def shows(n: str) -> Any:
            return lambda: count.count() == 1 and count.inner_text() == n

        until(page, shows("6"))  # idle 90 days, the default rule's 60
        assert page.inner_text("#preview-money") == "$720.00"
        # a longer threshold, not saved: nobody is idle that long
        page.fill("#threshold_days", "200")
        page.dispatch_event("#threshold_days", "change")
        until(page, shows("0"))
        assert "unsaved" in page.inner_text("#preview-summary")
        assert _rule(web).threshold_days == 60  # the preview wrote nothing
        page.fill("#threshold_days", "30")
        page.fill("#service_account_patterns", "svc-*")
        page.dispatch_event("#service_account_patterns", "change")
        until(page, shows("5"))
        assert page.inner_text("#preview-money") == "$600.00"
        page.uncheck("#notify")
        page.fill("#approvers", "Boss@Example.com")
        page.fill("#keep_days", "45")
        shot(page, "rules")
        submit(page, "#save-rule")
        page.wait_for_url(server.url + PATH)
        assert "It applies at the next sync" in page.inner_text(".notice")
        rule = _rule(web)
        assert (rule.threshold_days, rule.notify, rule.keep_days) == (30, False, 45)
        assert rule.service_account_patterns == ["svc-*"]
        assert rule.approvers == ["boss@example.com"]
        # a bad entry is named, nothing saved
        page.fill("#approvers", "not an email")
        submit(page, "#save-rule")
        assert "approvers" in page.inner_text(".error")
        assert _rule(web).approvers == ["boss@example.com"]
        assert "--" not in page.content() and "`" not in page.inner_text("main")
        # the refused save answers 400 and the favicon is another page's: no script error
        assert not [e for e in errors if "Failed to load resource" not in e], errors


def test_a_viewer_reads_a_rule_but_may_not_change_it(web: Web, browser: Any) -> None:
    seed_seats(web.store.db, web.store.keys, web.clock)
    with serve_in_thread(web.app) as server:  # type: ignore[arg-type]
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        sign_in(page, server.url, "viewer")
        page.goto(server.url + PATH)
        until(page, lambda: page.locator("#preview-count").count() == 1)
        assert page.locator("#save-rule").count() == 0
        assert page.is_disabled("#threshold_days")
        shot(page, "rules-viewer")
    client, token = signed_in(web, "viewer")
    refused = client.post(
        PATH,
        data={
            "csrf_token": token,
            "threshold_days": "1",
            "auto_reclaim_days": "0",
            "keep_days": "1",
        },
    )
    assert refused.status_code == 403
    assert _rule(web).threshold_days == 60
    client, token = signed_in(web, "sam_integrator")
    assert client.post(PATH, data={"csrf_token": token}).status_code == 403
