"""Issue 16's acceptance walk: every flow of the workspace, as each role, on a desktop (1280 px)
and a phone (390 px), in Debian's chromium. Where the role matrix (``accounts.roles``) lets the
role act, the flow does it and checks what changed; where it does not, the flow checks that
the action is not offered and that its request is refused (403). A screenshot of every page is
kept as ``test-artifacts/web/<role>-<device>-<page>.png``.

One store, synced for real from the Rally sandbox, one server and one browser serve the whole
module; each role and device signs in once (its browser context is kept) and each flow is its
own test, so a page that stops doing something fails that flow's test by name."""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Permission, Role, allows
from shelfware.accounts.schemas import UserCreate
from shelfware.kit.asgi import quote_segment
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.licensing import service as licensing
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.models import (
    CandidateState,
    IntegrationProfile,
    RemovalCandidate,
    Subscription,
)
from shelfware.reclamation import states
from shelfware.sandbox.server import serve_in_thread
from shelfware.serve import create_app
from shelfware.store import Store, upgrade
from shelfware.subscriptions.schemas import SubscriptionPageQuery
from shelfware.subscriptions.service import export_statement
from shelfware.sync.service import sync_profile
from tests.conftest import NOW, PG_URL, _pg_database
from tests.helpers import published_rally
from tests.web.browser_steps import submit, until
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, CSRF_META, PASSWORD, chromium_missing

pytestmark = pytest.mark.store

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
MODEL = "Broadcom Rally Unlimited"
ROLES = [r.value for r in Role]
DEVICES = {"desktop": (1280, 900), "phone": (390, 844)}


@dataclass
class World:
    db: Database
    clock: FrozenClock
    base: str
    browser: Any
    person: int  # holds a plain seat of the synced profile
    entitlement: int  # bought before the sync
    contexts: dict[tuple[str, str], Any] = field(default_factory=dict)

    def page(self, role: str, device: str) -> Any:
        """A new tab of ``role``'s signed-in browser on ``device`` (signed in once)."""
        key = (role, device)
        if key not in self.contexts:
            width, height = DEVICES[device]
            context = self.browser.new_context(
                viewport={"width": width, "height": height}, accept_downloads=True
            )
            page = context.new_page()
            page.goto(self.base + "/sign-in")
            page.fill("input[name=username]", role)
            page.fill("input[name=password]", PASSWORD)
            submit(page, "button[type=submit]")
            page.wait_for_url(self.base + "/")
            page.close()
            self.contexts[key] = context
        page = self.contexts[key].new_page()
        page.on("dialog", lambda d: d.accept())
        return page


def _sync(db: Database, keys: KeyRing, clock: FrozenClock, url: str, api_key: str) -> None:
    """Publish the Rally profile, buy its seats (candidates then carry savings), sync it."""

    async def run() -> None:
        await published_rally(db, keys, clock, url, api_key)
        with db.transaction() as session:
            licensing.add_entitlement(
                session,
                clock,
                EntitlementCreate(
                    model=MODEL,
                    seats=300,
                    unit_cost=30,
                    billing_period="monthly",
                    renewal_date=(NOW + timedelta(days=40)).date(),
                    notice_date=(NOW + timedelta(days=10)).date(),
                    contract_ref="PO-seeded",
                ),
            )
        await sync_profile(db, keys, clock, "rally")

    # Playwright's sync API may hold an event loop in this thread: the sync runs in its own
    failed: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # re-raised below
            failed.append(exc)

    worker = threading.Thread(target=target)
    worker.start()
    worker.join(timeout=300)
    if failed:
        raise failed[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    why = chromium_missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {why}")
        pytest.skip(f"browser tests skipped: {why}")
    from playwright.sync_api import sync_playwright

    from shelfware.sandbox import SANDBOXES
    from shelfware.sandbox.faults import FaultSpec

    if PG_URL:
        db = _pg_database()
    else:
        db = Database.from_url(f"sqlite:///{tmp_path_factory.mktemp('flows') / 'flows.db'}")
        upgrade(db.engine)
    keys, clock = KeyRing([Fernet.generate_key()]), FrozenClock(NOW)
    with db.transaction() as session:
        for role in Role:
            accounts.create_user(
                session, clock, UserCreate(username=role.value, password=PASSWORD, role=role)
            )
    sandbox, org = SANDBOXES["rally"](600, 5, NOW, 0, FaultSpec())
    with serve_in_thread(sandbox) as rally:  # type: ignore[arg-type]
        _sync(db, keys, clock, rally.url + "/slm/webservice", org.api_key)
        with db.sessions() as session:
            owner = session.scalar(select(IntegrationProfile.credential_owner_external_id))
            person = session.scalar(
                select(func.min(Subscription.person_id)).where(
                    Subscription.person_id.is_not(None),
                    Subscription.active.is_(True),
                    Subscription.admin.is_(False),
                    Subscription.external_id != owner,
                )
            )
            entitlement = licensing.list_entitlements(session, NOW.date())[0].id
        assert person is not None
        app = create_app(store=Store(db=db, keys=keys), clock=clock)
        with serve_in_thread(app) as server, sync_playwright() as p:  # type: ignore[arg-type]
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield World(db, clock, server.url, browser, person, entitlement)
            browser.close()
    db.dispose()


# --- what every flow shares -----------------------------------------------------------------


def may(role: str, permission: Permission) -> bool:
    return allows(role, permission)


def visit(page: Any, world: World, path: str, shot: str, status: int = 200) -> None:
    """Open ``path`` (it must answer ``status``) and keep its screenshot."""
    answer = page.goto(world.base + path)
    assert answer is not None and answer.status == status, (path, answer and answer.status)
    keep(page, shot)


def keep(page: Any, shot: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    role, device = page.context_key
    page.screenshot(path=str(ARTIFACTS / f"{role}-{device}-{shot}.png"), full_page=False)


def refused(page: Any, path: str, **form: Any) -> None:
    """A POST of the form behind an action the role may not take: 403, from the browser."""
    token = CSRF_META.search(page.content())
    assert token, "no CSRF token on the page"
    base = re.match(r"https?://[^/]+", page.url)
    assert base
    answer = page.request.post(base.group(0) + path, form={"csrf_token": token.group(1), **form})
    assert answer.status == 403, (path, answer.status)


def notice(page: Any) -> str:
    return str(page.inner_text(".notice"))


def focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement.textContent.trim()"))


def tab_to(page: Any, selector: str, limit: int = 120) -> None:
    """Tab (the keyboard alone) until the element ``selector`` names has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"Tab never reached {selector}")


# --- the flows ------------------------------------------------------------------------------


def flow_rules(world: World, page: Any, role: str) -> None:
    visit(page, world, "/rules", "rules")
    page.click(f"main >> text={MODEL}")
    page.wait_for_url(f"**/rules/{quote_segment(MODEL)}")
    count = page.locator("#preview-count")
    until(page, lambda: count.count() == 1)  # the live dry run: who, how many, how much
    assert page.locator("#preview-money").count() == 1
    keep(page, "rule")
    if not may(role, Permission.RULES_WRITE):
        assert page.locator("#save-rule").count() == 0 and page.is_disabled("#threshold_days")
        refused(page, f"/rules/{quote_segment(MODEL)}", threshold_days="1")
        return
    page.fill("#threshold_days", "3650")  # not saved: nobody is idle that long
    page.dispatch_event("#threshold_days", "change")
    until(page, lambda: count.count() == 1 and count.inner_text() == "0")
    assert "unsaved" in page.inner_text("#preview-summary")
    page.fill("#threshold_days", "60")
    page.fill("#keep_days", str(30 + ROLES.index(role)))
    tab_to(page, "#save-rule")  # saved from the keyboard: Tab to the button, Enter
    submit(page, key="Enter")  # the form's answer, not the page before it
    assert "It applies at the next sync" in notice(page)
    assert page.input_value("#keep_days") == str(30 + ROLES.index(role))


def csv_file(contract: str) -> bytes:
    return (
        "Software model;Seats;Unit cost;Billing period;Term end;Contract\n"
        f"{MODEL};25;30;monthly;2027-06-30;{contract}\n"
    ).encode()


def flow_entitlements(world: World, page: Any, role: str) -> None:
    visit(page, world, "/entitlements", "entitlements")
    device = page.context_key[1]
    if not may(role, Permission.ENTITLEMENTS_WRITE):
        assert page.locator("#import-file").count() == 0
        visit(page, world, f"/entitlements/{world.entitlement}", "entitlement")
        assert page.is_disabled("#seats") and page.locator("#save-entitlement").count() == 0
        assert page.locator("#end-entitlement").count() == 0
        refused(page, f"/entitlements/{world.entitlement}", seats="1")
        refused(page, f"/entitlements/{world.entitlement}/end", end_on="2027-01-31")
        return
    contract = f"PO-{role}-{device}"
    page.set_input_files(
        "#import-file",
        files=[{"name": "bought.csv", "mimeType": "text/csv", "buffer": csv_file(contract)}],
    )
    submit(page, "#import-entitlements")
    assert "Imported 1 entitlement from bought.csv" in notice(page)
    page.click(f"main tr:has-text('{contract}') a")
    page.wait_for_url(re.compile(r".*/entitlements/\d+$"))
    keep(page, "entitlement")
    page.fill("#seats", "40")
    submit(page, "#save-entitlement")
    assert "Saved entitlement" in notice(page)
    page.fill("#end-on", "2027-01-31")
    tab_to(page, "#end-entitlement")  # ended from the keyboard (the confirmation accepted)
    submit(page, key="Enter")  # the form's answer, not the page before it
    assert "ends on 2027-01-31" in notice(page)
    with world.db.sessions() as session:
        mine = [
            e
            for e in licensing.list_entitlements(session, NOW.date())
            if e.contract_ref == contract
        ]
    assert [(e.seats, str(e.term_end)) for e in mine] == [(40, "2027-01-31")]


def flow_profile(world: World, page: Any, role: str) -> None:
    visit(page, world, "/profiles/rally", "profile")
    if not may(role, Permission.PROFILES_WRITE):
        assert page.locator("#edit-profile").count() == 0
        visit(page, world, "/profiles/rally/edit", "profile-edit-refused", status=403)
        refused(page, "/profiles/rally/edit", options="page_size=10")
        return
    page.click("#edit-profile")
    page.wait_for_url("**/profiles/rally/edit")
    assert page.locator("#region").count() == 1 and page.locator("#client_id").count() == 0
    assert page.input_value("#secret") == ""  # the stored secret is never shown
    keep(page, "profile-edit")
    size = 100 + 10 * ROLES.index(role) + (page.context_key[1] == "phone")
    page.fill("#options", f"page_size={size}")
    submit(page, "#save-profile")
    page.wait_for_url("**/profiles/rally")
    assert "Saved" in notice(page)
    # the last validation was of the connection before: out of date, not "failed"
    assert page.inner_text("#validation-verdict") == "out of date"


def _attention(world: World) -> int:
    """A ready candidate moved to "needs attention" (the reason its row shows)."""
    with world.db.transaction() as session:
        cand = session.scalars(
            select(RemovalCandidate)
            .where(RemovalCandidate.state == CandidateState.READY.value)
            .order_by(RemovalCandidate.id.desc())
        ).first()
        assert cand is not None
        states.move(
            session,
            world.clock,
            cand,
            CandidateState.ATTENTION_REQUIRED,
            why="no address",
            last_error="nobody to ask: the account has no email address",
        )
        return cand.id


def flow_candidates(world: World, page: Any, role: str) -> None:
    broken = _attention(world)
    visit(page, world, "/candidates", "candidates")
    totals = page.inner_text("#queue-totals")
    assert re.search(r"[\d,]+ candidates: \$[\d,.]+ a year", totals), totals
    rows = page.locator("#candidates tbody tr:not(.more)")
    first = rows.count()
    assert first == 100  # keyset pages: More loads the next one
    page.click("#candidates tr.more a")
    until(page, lambda: rows.count() > first)
    ids = [int(i) for i in rows.evaluate_all("rs => rs.map(r => r.dataset.id)")]
    assert len(ids) == len(set(ids))  # no row twice
    visit(page, world, "/candidates?state=attention_required", "candidates-attention")
    row = " ".join(page.locator(f'tr[data-id="{broken}"]').inner_text().split())
    assert "Needs attention: nobody to ask" in row, row  # the reason, on a card too
    if not may(role, Permission.CANDIDATES_ACT):
        assert page.locator(f"#retry-{broken}").count() == 0
        assert page.locator("#advance").count() == 0
        refused(page, f"/candidates/{broken}/retry")
        refused(page, "/candidates/advance", action="preview")
        return
    submit(page, f"#retry-{broken}")
    page.wait_for_url("**/candidates?state=ready")
    assert "ready again" in notice(page)
    submit(page, "#advance-preview")  # the workflow step, as a dry run
    assert page.locator("#advance-report").count() == 1
    keep(page, "candidates-workflow-step")
    assert page.locator("#advance-confirm").count() == 1


def flow_person(world: World, page: Any, role: str) -> None:
    visit(page, world, "/people", "people")
    page.click(f'#people a[href="/people/{world.person}"]')
    page.wait_for_url(f"**/people/{world.person}")
    assert page.locator("#person-facts").is_visible()
    assert page.locator("#person-seats tbody tr").count() >= 1
    keep(page, "person")
    if not may(role, Permission.CANDIDATES_ACT):
        assert page.locator("#preview-offboard").count() == 0
        refused(page, f"/people/{world.person}/offboard", action="preview")
        return
    submit(page, "#preview-offboard")
    assert re.search(r"Would reclaim \d+ seats?", page.inner_text("#offboard-summary"))
    assert page.locator("#confirm-offboard").count() == 1
    keep(page, "person-offboard-preview")


def flow_reports(world: World, page: Any, role: str) -> None:
    visit(page, world, "/reports", "reports")
    page.click("main >> text=Chargeback")
    page.wait_for_url("**/reports/chargeback*")
    page.select_option("select[name=by]", "cost_center")
    submit(page, "form.filters button[type=submit]")
    page.wait_for_url("**/reports/chargeback?*by=cost_center*")
    assert "unknown" in page.inner_text("#report")  # nobody synced has a cost centre
    keep(page, "report-chargeback")
    # the renewals calendar: the renewal and notice dates, each with utilisation
    visit(page, world, "/reports/renewals", "report-renewals")
    page.fill("input[name=days]", "90")
    submit(page, "form.filters button[type=submit]")
    page.wait_for_url("**/reports/renewals?*days=90*")
    calendar = page.inner_text("table.calendar >> nth=0") + page.inner_text("div.months")
    assert "Renews:" in calendar and "% used" in calendar and "Notice by:" in calendar
    keep(page, "report-renewals-calendar")


def flow_download(world: World, page: Any, role: str) -> None:
    visit(page, world, "/subscriptions?admin=no", "subscriptions")
    with page.expect_download() as download:
        page.click("a.download")
    assert download.value.suggested_filename == "subscriptions.csv"
    saved = Path(download.value.path()).read_text().splitlines()
    assert saved[0].startswith("id,profile,external_id,username,email")
    with world.db.sessions() as session:
        selected = export_statement(session, SubscriptionPageQuery(admin=False)).subquery()
        plain = session.scalar(select(func.count()).select_from(selected))
    assert len(saved) - 1 == plain  # the page's filter, every row


def flow_drilldown_by_keyboard(world: World, page: Any, role: str) -> None:
    """The keyboard alone: from the overview's Stale tile to the stale seats behind it."""
    visit(page, world, "/", "overview")
    for _ in range(100):  # figures are recounted after a change, in the background
        if page.locator("#updating").count() == 0:
            break
        page.wait_for_timeout(200)
        page.reload()
    stale = int(re.sub(r"\D", "", page.inner_text("#m-stale")))
    page.keyboard.press("Tab")
    assert focused(page) == "Skip to the content"
    tab_to(page, 'a.tile[href="/subscriptions?stale=on"]')
    page.keyboard.press("Enter")
    page.wait_for_url("**/subscriptions?stale=on")
    rows = page.locator("#subscriptions tbody tr:not(.more)")
    assert stale > 0 and rows.count() == min(stale, 50)
    keep(page, "subscriptions-stale")


def flow_audit(world: World, page: Any, role: str) -> None:
    if may(role, Permission.AUDIT_READ):
        visit(page, world, "/audit", "audit")
        assert page.locator("main table").count() == 1
    else:
        visit(page, world, "/audit", "audit-refused", status=403)
        assert page.locator("main table").count() == 0


FLOWS = {
    f.__name__.removeprefix("flow_"): f
    for f in (
        flow_rules,
        flow_entitlements,
        flow_profile,
        flow_candidates,
        flow_person,
        flow_reports,
        flow_download,
        flow_drilldown_by_keyboard,
        flow_audit,
    )
}


@pytest.mark.parametrize("flow", list(FLOWS))
@pytest.mark.parametrize("device", list(DEVICES))
@pytest.mark.parametrize("role", ROLES)
def test_flow(world: World, role: str, device: str, flow: str) -> None:
    page = world.page(role, device)
    page.context_key = (role, device)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        FLOWS[flow](world, page, role)
        if device == "phone":  # nothing wider than the phone
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= DEVICES["phone"][0] + 1, f"{page.url} is {wide} px wide"
        assert "`" not in page.inner_text("main")  # the web's words, no CLI backticks
        assert not errors, errors
    finally:
        page.close()
