"""The candidates queue's operations in a real browser, over the Rally sandbox synced for
real: the totals of the selection (count, money a year per currency), the reason a candidate
needs attention and its Retry, and the workflow step run now (first as a dry run that changes
nothing, then for real: a released seat is reclaimed in the app). Roles that may not act on
candidates see neither action, and their requests are refused."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from shelfware.models import CandidateState, RemovalCandidate
from shelfware.reclamation import states, workflow
from shelfware.sandbox.server import serve_in_thread
from tests.web.browser_steps import shot, submit
from tests.web.conftest import Web, signed_in
from tests.web.ops_seed import sign_in
from tests.web.test_person_pages import _disabled, _synced

pytestmark = pytest.mark.store


def _ready(web: Web) -> list[RemovalCandidate]:
    with web.store.db.sessions() as session:
        return list(
            session.scalars(
                select(RemovalCandidate)
                .where(RemovalCandidate.state == CandidateState.READY.value)
                .order_by(RemovalCandidate.id)
            )
        )


def _state(web: Web, cand_id: int) -> str:
    with web.store.db.sessions() as session:
        return session.get_one(RemovalCandidate, cand_id).state


def test_totals_retry_and_the_workflow_step_in_a_browser(
    web: Web, browser: Any, rally_factory: Any
) -> None:
    synced: list[tuple[Any, list[int]]] = []
    setup = threading.Thread(target=lambda: synced.append(asyncio.run(_synced(web, rally_factory))))
    setup.start()
    setup.join(timeout=300)
    [(sandbox, _)] = synced
    ready = _ready(web)
    assert len(ready) >= 3
    released, broken = ready[0].id, ready[1].id
    with web.store.db.transaction() as session:
        cand = session.get_one(RemovalCandidate, released)
        states.move(session, web.clock, cand, CandidateState.AWAITING_USER, why="asked")
        workflow.record_answer(session, web.clock, released, "release", actor="test")
        cand = session.get_one(RemovalCandidate, broken)
        states.move(
            session,
            web.clock,
            cand,
            CandidateState.ATTENTION_REQUIRED,
            why="no address",
            last_error="nobody to ask: the account has no email address",
        )
    with web.store.db.sessions() as session:
        count, saving = session.execute(
            select(func.count(), func.sum(RemovalCandidate.potential_savings)).where(
                RemovalCandidate.state == CandidateState.READY.value
            )
        ).one()
    expected = f"${Decimal(saving):,.2f}"  # en-US, as Babel writes dollars
    before = _disabled(sandbox)
    with serve_in_thread(web.app) as server:  # type: ignore[arg-type]
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.on("dialog", lambda d: d.accept())
        sign_in(page, server.url, "sam_manager")
        page.goto(server.url + "/candidates?state=ready")
        totals = page.inner_text("#queue-totals")
        assert f"{count} candidates in this selection: {expected} a year" in totals, totals

        # the reason a candidate needs attention, and its Retry
        page.goto(server.url + "/candidates?state=attention_required")
        row = page.locator(f'tr[data-id="{broken}"]')
        assert "Needs attention: nobody to ask" in row.inner_text()
        shot(page, "candidates-attention")
        submit(page, f"#retry-{broken}")
        page.wait_for_url(server.url + "/candidates?state=ready")
        assert "ready again" in page.inner_text(".notice")
        assert _state(web, broken) == "ready"

        # the workflow step: the dry run first (nothing changes), then for real
        submit(page, "#advance-preview")
        report = page.inner_text("#advance-report")
        assert "1 seat decided for removal would be reclaimed" in report, report
        assert "would reclaim" in page.inner_text("#outcomes")
        shot(page, "candidates-workflow-step")
        assert _disabled(sandbox) == before and _state(web, released) == "awaiting_user"
        submit(page, "#advance-confirm")
        page.wait_for_selector("#advance-report")
        assert "1 seat decided for removal were reclaimed" in page.inner_text("#advance-report")
        assert "reclaimed" in page.inner_text("#outcomes")
        assert _disabled(sandbox) == before + 1
        assert _state(web, released) == "awaiting_revocation"
        assert "`" not in page.inner_text("main") and "--" not in page.inner_text("main")

        viewer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        sign_in(viewer, server.url, "viewer")
        viewer.goto(server.url + "/candidates")
        assert viewer.locator("#queue-totals").is_visible()
        assert viewer.locator("#advance").count() == 0
        assert viewer.locator("[id^=retry-]").count() == 0
    for role in ("viewer", "sam_integrator"):
        client, csrf = signed_in(web, role)
        assert client.post("/candidates/advance", data={"csrf_token": csrf}).status_code == 403
        refused = client.post(f"/candidates/{ready[2].id}/retry", data={"csrf_token": csrf})
        assert refused.status_code == 403
