"""The workspace in a real browser (Debian's chromium, headless, driven by Playwright): sign
in, connect the Rally sandbox through the wizard, validate, publish, sync, add seats bought,
check the dashboard against reconciliation, then preview and reclaim a candidate. Screenshots
of the main pages are kept under test-artifacts/web/."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from sqlalchemy import select

from shelfware.connectors.registry import connector_class
from shelfware.licensing import service as licensing
from shelfware.models import AuditEvent, CandidateState, ReclamationRule, RemovalCandidate
from shelfware.reclamation import service as reclamation
from shelfware.reclamation import states, workflow
from shelfware.sandbox.server import serve_in_thread
from tests.web.browser_steps import shot, submit, until
from tests.web.conftest import PASSWORD, Web


def number(text: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", text))


def audit_actions(web: Web, candidate_id: int) -> list[tuple[str, str]]:
    with web.store.db.sessions() as session:
        return [
            (e.actor, e.action)
            for e in session.scalars(
                select(AuditEvent).where(
                    AuditEvent.object_type == "candidate",
                    AuditEvent.object_id == str(candidate_id),
                )
            )
        ]


def test_connect_sync_reconcile_and_reclaim_in_a_browser(
    web: Web, browser: Any, rally_factory: Any
) -> None:
    rally = rally_factory(users=120, seed=3)
    with serve_in_thread(web.app) as server:  # type: ignore[arg-type]
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        base = server.url

        # sign in (the overview sends a visitor to the sign-in page first)
        page.goto(base + "/")
        assert "/sign-in" in page.url
        shot(page, "sign-in")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        submit(page, "button[type=submit]")
        page.wait_for_url(base + "/")
        cookie = next(c for c in context.cookies() if c["name"] == "shelfware_session")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"

        # the wizard: choose the app, see its least-privilege table, connect
        page.goto(base + "/profiles/new")
        page.select_option("#kind", "rally")
        submit(page, "text=Choose")
        needs = connector_class("rally").permissions
        assert page.locator("table.privileges tbody tr").count() == len(needs) == 3
        table = page.inner_text("table.privileges")
        assert all(p.role in table and str(p.process) in table for p in needs)
        shot(page, "profile-wizard")
        page.fill("input[name=name]", "rally-web")
        page.fill("input[name=url]", rally.url)
        page.fill("input[name=secret]", rally.org.api_key)
        submit(page, "text=Create draft")
        page.wait_for_url(base + "/profiles/rally-web")
        assert rally.org.api_key not in page.content()  # no secret is ever rendered
        assert page.is_disabled("#publish")  # not validated yet

        submit(page, "#validate")
        page.wait_for_url(base + "/profiles/rally-web")
        assert page.inner_text("#validation-verdict") == "passed"
        submit(page, "#publish")
        page.wait_for_url(base + "/profiles/rally-web")
        assert "published" in page.inner_text("h1")
        shot(page, "profile")

        submit(page, "#sync")
        page.wait_for_url(re.compile(r".*/runs\?profile=rally-web"))
        deadline = time.monotonic() + 60  # the job queue and a busy machine: generous
        while time.monotonic() < deadline:
            status = page.locator("table.runs tbody tr").first.inner_text()
            if "succeeded" in status or "failed" in status:
                break
            page.wait_for_timeout(250)
            page.reload()
        assert "succeeded" in status, status
        shot(page, "runs")

        # seats bought, through the entitlements page
        page.goto(base + "/entitlements")
        page.fill("input[name=seats]", "100")
        page.fill("input[name=unit_cost]", "45")
        page.select_option("select[name=billing_period]", "monthly")
        page.fill("input[name=renewal_date]", "2027-03-01")
        page.fill("input[name=notice_date]", "2027-01-30")
        submit(page, "text=Add entitlement")
        page.wait_for_url(base + "/entitlements")
        assert "Added 100 seats" in page.inner_text(".notice")
        shot(page, "entitlements")

        # the dashboard agrees with reconciliation (the `reconcile --json` service)
        with web.store.db.transaction() as session:  # a stored one: a point of the trend
            licensing.record_reconciliation(session, web.clock, web.clock.now())
        with web.store.db.sessions() as session:
            rows = licensing.reconcile(session, web.clock.now())
        page.goto(base + "/")
        deadline = time.monotonic() + 60  # figures are recounted after a change, in the background
        while time.monotonic() < deadline:
            if page.locator("#updating").count() == 0:
                break
            page.wait_for_timeout(250)
            page.reload()
        assert number(page.inner_text("#m-subscriptions")) == sum(r.rights_used for r in rows)
        assert number(page.inner_text("#m-stale")) == sum(r.stale for r in rows) > 0
        savings = sum(r.potential_savings or 0 for r in rows if r.currency == "USD")
        shown = number(page.inner_text(".m-savings[data-currency=USD]"))
        assert shown == pytest.approx(savings, abs=0.01) and shown > 0
        assert page.locator("svg.chart").count() == 3  # activity, seats, active vs stale
        shot(page, "dashboard")

        # subscriptions: keyset pages appended by htmx, filters applied as they change
        page.goto(base + "/subscriptions")
        rows = page.locator("#subscriptions tbody tr:not(.more)")
        assert rows.count() == 50
        page.click("tr.more a")
        until(page, lambda: page.locator("#subscriptions tbody tr").count() > 60)
        assert rows.count() == 100
        ids = [int(t) for t in rows.locator("td:first-child").all_inner_texts()]
        assert ids == sorted(set(ids))  # the second page follows the first, no repeats
        page.check("input[name=stale]")
        page.wait_for_url(re.compile(r".*stale=on.*"))
        until(page, lambda: page.locator("#subscriptions tbody tr").count() <= 51)
        with web.store.db.sessions() as session:
            stale_total = sum(r.stale for r in licensing.reconcile(session, web.clock.now()))
        assert rows.count() == min(stale_total, 50)
        shot(page, "subscriptions")
        page.goto(base + "/people")
        shot(page, "people")

        # the candidates queue: preview (dry run) one, then reclaim it
        with web.store.db.sessions() as session:
            ready = reclamation.list_candidates(session, state="ready")
        assert ready
        target = ready[0]
        page.goto(base + "/candidates?state=ready")
        shot(page, "candidates")
        page.check(f"input[name=ids][value='{target.id}']")
        submit(page, "#preview")
        assert "nothing changed" in page.inner_text("h1")
        assert "would reclaim" in page.inner_text(f"#outcomes tr[data-id='{target.id}']")
        with web.store.db.sessions() as session:
            again = reclamation.list_candidates(session, state="ready")
        assert target.id in {c.id for c in again}  # the preview changed nothing
        shot(page, "reclaim-preview")
        assert "Would reclaim 1 seat of" in page.inner_text("#reclaim-summary")
        page.once("dialog", lambda dialog: dialog.accept())  # the confirmation: seats, app, money
        submit(page, "#confirm-reclaim")
        assert "reclaimed" in page.inner_text(f"#outcomes tr[data-id='{target.id}']")
        with web.store.db.sessions() as session:
            after = {c.id: c.state for c in reclamation.list_candidates(session)}
        assert after[target.id] == "awaiting_revocation"
        user = next(u for u in rally.org.users if str(u.object_id) == target.external_id)
        assert user.disabled

        # a user who wants to keep their seat: a manager approves the removal
        asked = next(c for c in ready if c.id != target.id)
        with web.store.db.transaction() as session:
            cand = session.get_one(RemovalCandidate, asked.id)
            rule = session.scalars(
                select(ReclamationRule).where(
                    ReclamationRule.software_model_id == cand.software_model_id
                )
            ).one()
            rule.approval_required = True
            states.move(session, web.clock, cand, CandidateState.AWAITING_USER, why="notified")
            workflow.record_answer(session, web.clock, asked.id, "keep")
        page.goto(base + "/candidates?state=awaiting_approval")
        shot(page, "candidates-approval")
        submit(page, f"#approve-{asked.id}")
        assert "removal approved" in page.inner_text(".notice")
        with web.store.db.sessions() as session:
            approved = session.get_one(RemovalCandidate, asked.id)
            assert approved.approved_at is not None
            assert approved.state == "awaiting_approval"  # reclaimed at the next run
        assert ("web:admin", "candidate.approved") in audit_actions(web, asked.id)

        # a phone-sized screen still reads the overview
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(base + "/")
        shot(page, "dashboard-phone")
        assert page.evaluate("document.documentElement.scrollWidth") <= 400

        submit(page, "text=Sign out")
        page.wait_for_url(re.compile(r".*/sign-in"))
        assert not [e for e in errors if "Content Security Policy" in e], errors
        context.close()


def test_oauth_authorize_lands_on_the_callback_and_stores_tokens(web: Web, browser: Any) -> None:
    from shelfware.profiles import service as profiles
    from shelfware.sandbox import SANDBOXES
    from shelfware.sandbox.asana_oauth import CLIENT_ID, CLIENT_SECRET
    from shelfware.sandbox.faults import FaultSpec
    from tests.conftest import NOW

    sandbox, org = SANDBOXES["asana"](40, 5, NOW, 0, FaultSpec())
    with serve_in_thread(sandbox) as asana, serve_in_thread(web.app) as server:  # type: ignore[arg-type]
        base = server.url
        context = browser.new_context()
        page = context.new_page()
        page.goto(base + "/sign-in")
        page.fill("input[name=username]", "sam_integrator")
        page.fill("input[name=password]", PASSWORD)
        submit(page, "button[type=submit]")
        page.goto(base + "/profiles/new?kind=asana")
        page.fill("input[name=name]", "asana-oauth")
        page.fill("input[name=url]", asana.url)
        page.select_option("select[name=auth]", "oauth")
        page.fill("input[name=client_id]", CLIENT_ID)
        page.fill("input[name=client_secret]", CLIENT_SECRET)
        page.fill("textarea[name=options]", f"workspace={org.organisation.gid}\nrate_limit=paid")
        submit(page, "text=Create draft")
        page.wait_for_url(base + "/profiles/asana-oauth")
        assert "now authorize it" in page.inner_text(".notice")

        submit(page, "#authorize")
        link = page.get_attribute("#continue", "href")
        assert link and link.startswith(asana.url) and "code_challenge=" in link
        page.click("#continue")  # the app's consent redirects to /oauth/callback
        page.wait_for_url(base + "/profiles/asana-oauth")
        assert "Authorized" in page.inner_text(".notice")
        assert CLIENT_SECRET not in page.content()
        with web.store.db.sessions() as session:
            stored = profiles.secrets_of(
                profiles.get_profile(session, "asana-oauth"), web.store.keys
            )
        assert stored["access_token"] and stored["refresh_token"]
        assert stored["access_token"] not in page.content()

        submit(page, "#validate")
        page.wait_for_url(base + "/profiles/asana-oauth")
        assert page.inner_text("#validation-verdict") == "passed"

        # a replayed or forged callback stores nothing and says so
        page.goto(base + "/oauth/callback?code=x&state=forged")
        assert "unknown or expired" in page.inner_text(".error")
        context.close()
