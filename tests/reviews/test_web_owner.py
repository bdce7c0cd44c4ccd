"""The campaign owner's page: items nobody could review (the holder was the only candidate)
are listed and given to a reviewer there, who is emailed a signed link at once (a real SMTP
server); a reviewer who passes an item on has the next one emailed too. Role matrix: only a
campaign manager assigns."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from shelfware.kit.db import Database
from shelfware.reviews import links
from shelfware.reviews import service as reviews
from shelfware.reviews.schemas import CampaignCreate
from tests.conftest import NOW
from tests.reclamation.conftest import Mailbox
from tests.reviews.conftest import Org, by_holder
from tests.reviews.test_schedule import URL, mailbox, notifier
from tests.reviews.test_web import sign_in
from tests.web.conftest import Web, browser, web

pytestmark = pytest.mark.store
__all__ = ["browser", "mailbox", "web"]


def _campaign(db: Database, web: Web) -> tuple[int, dict]:
    """cat@acme.test owns the campaign and has no manager; Roadmunk has no owner: cat's
    Roadmunk seat has nobody to review it."""
    with db.transaction() as session:
        made = reviews.create_campaign(
            session,
            web.clock,
            CampaignCreate(
                name="Q4",
                scope="department=Sales",
                due=NOW + timedelta(days=5),
                owner="cat@acme.test",
            ),
        )
        return made.id, by_holder(reviews.report_rows(session, made.id))


def test_the_owner_assigns_an_unassigned_item_and_the_reviewer_is_emailed(
    web: Web, db: Database, org: Org, mailbox: Mailbox, tmp_path: Path
) -> None:
    web.app.state.web.workspace.extras["settings"] = notifier(tmp_path, mailbox).settings  # type: ignore[attr-defined]
    cid, items = _campaign(db, web)
    lone = items[("cat@acme.test", "Roadmunk")]
    assert lone.reviewer is None
    manager, token = sign_in(web, "sam_manager")
    page = manager.get(f"/reviews/{cid}")  # type: ignore[attr-defined]
    assert 'id="unassigned-items"' in page.text and f'id="assign-{lone.id}"' in page.text
    # the holder never reviews their own seat: refused, named, nothing sent
    own = manager.post(  # type: ignore[attr-defined]
        f"/reviews/{cid}/items/{lone.id}/assign", data={"csrf_token": token, "to": "cat@acme.test"}
    )
    assert own.status_code == 303
    assert "own seat" in manager.get(own.headers["location"]).text  # type: ignore[attr-defined]
    assert mailbox.messages == []
    # a viewer may not assign
    viewer, viewer_token = sign_in(web, "viewer")
    refused = viewer.post(  # type: ignore[attr-defined]
        f"/reviews/{cid}/items/{lone.id}/assign",
        data={"csrf_token": viewer_token, "to": "boss@acme.test"},
    )
    assert refused.status_code == 403
    done = manager.post(  # type: ignore[attr-defined]
        f"/reviews/{cid}/items/{lone.id}/assign",
        data={"csrf_token": token, "to": "Boss@Acme.test"},
    )
    assert done.status_code == 303
    said = manager.get(done.headers["location"]).text  # type: ignore[attr-defined]
    assert "boss@acme.test was emailed" in said and f'id="assign-{lone.id}"' not in said
    with db.sessions() as session:
        assert (
            by_holder(reviews.report_rows(session, cid))[("cat@acme.test", "Roadmunk")].reviewer
            == "boss@acme.test"
        )
    # the mail's link opens boss's page, with the item on it
    mail = mailbox.to("boss@acme.test")
    assert len(mail) == 1
    body = mail[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = unquote(URL.findall(body)[0].split("t=")[1])
    assert links.verify(web.store.keys, link, web.clock.now(), NOW + timedelta(days=5))
    assert "cat@acme.test" in web.client().get(f"/review?t={link}").text


def test_a_reviewer_who_passes_an_item_on_has_the_next_reviewer_emailed(
    web: Web, db: Database, org: Org, mailbox: Mailbox, tmp_path: Path
) -> None:
    web.app.state.web.workspace.extras["settings"] = notifier(tmp_path, mailbox).settings  # type: ignore[attr-defined]
    cid, items = _campaign(db, web)
    from shelfware.accounts import service as accounts
    from shelfware.accounts.schemas import UserCreate
    from tests.web.conftest import PASSWORD

    with db.transaction() as session:
        accounts.create_user(
            session,
            web.clock,
            UserCreate(username="boss@acme.test", password=PASSWORD, role="viewer"),
        )
    boss, token = sign_in(web, "boss@acme.test")
    ann = items[("ann@acme.test", "Rally")]
    answer = boss.post(  # type: ignore[attr-defined]
        f"/reviews/{cid}/mine",
        data={
            "csrf_token": token,
            "item": str(ann.id),
            "decision": "reassign",
            "to": "dan@acme.test",
        },
    )
    assert answer.status_code == 303
    assert "dan@acme.test was emailed" in boss.get(answer.headers["location"]).text  # type: ignore[attr-defined]
    assert [rcpt for rcpt, _ in mailbox.messages] == [["dan@acme.test"]]


def test_the_owner_assigns_in_a_browser(
    web: Web, db: Database, org: Org, mailbox: Mailbox, tmp_path: Path, browser: Any
) -> None:
    from shelfware.sandbox.server import serve_in_thread
    from tests.web.browser_steps import shot
    from tests.web.ops_seed import sign_in as browser_sign_in

    web.app.state.web.workspace.extras["settings"] = notifier(tmp_path, mailbox).settings  # type: ignore[attr-defined]
    cid, items = _campaign(db, web)
    lone = items[("cat@acme.test", "Roadmunk")]
    with serve_in_thread(web.app) as server:  # type: ignore[arg-type]
        page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        browser_sign_in(page, server.url, "sam_manager")
        page.goto(f"{server.url}/reviews/{cid}")
        assert "Seats without a reviewer (1)" in page.inner_text("#unassigned")
        shot(page, "review-owner-unassigned")
        page.fill(f"#to-{lone.id}", "boss@acme.test")
        page.press(f"#to-{lone.id}", "Enter")  # the keyboard alone
        page.wait_for_url(f"{server.url}/reviews/{cid}")
        assert "boss@acme.test was emailed" in page.inner_text(".notice")
        assert page.locator("#unassigned").count() == 0
    assert [rcpt for rcpt, _ in mailbox.messages] == [["boss@acme.test"]]
