"""The workspace's reclaim: offered only on its preview, for exactly the candidates the
preview showed (a signed token), with how many seats, which apps and how much money a year;
"every ready candidate" over the cap is refused and nothing is reclaimed in the Rally sandbox.
In process (every refusal) and in Chromium (as a person clicks)."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

import pytest

from shelfware.licensing.schemas import EntitlementCreate
from shelfware.licensing.service import add_entitlement
from shelfware.models import RemovalCandidate
from shelfware.reclamation import service as reclamation
from shelfware.sandbox.server import serve_in_thread
from shelfware.sync.service import sync_profile
from tests.helpers import published_rally
from tests.web.browser_steps import submit
from tests.web.conftest import PASSWORD, Web, signed_in

pytestmark = pytest.mark.store
MODEL = "Broadcom Rally Unlimited"
TOKEN = re.compile(r'name="preview_token" value="([^"]+)"')


async def _synced(web: Web, rally_factory: Any) -> tuple[Any, list[int], int]:
    db, keys, clock = web.store.db, web.store.keys, web.clock
    sandbox = rally_factory(users=200, seed=5)  # 42 idle seats of 184 held: the cap allows 18
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    await sync_profile(db, keys, clock, "rally")
    with db.transaction() as session:
        add_entitlement(
            session,
            clock,
            EntitlementCreate(model=MODEL, seats=200, unit_cost=30, billing_period="monthly"),
        )
    with db.sessions() as session:
        found = reclamation.list_candidates(session, state="ready")
        ready = sorted(c.id for c in found)
        model = session.get_one(RemovalCandidate, ready[0]).software_model_id
        allowed = min(50, reclamation.seats_held(session, [model])[model] // 10)
    assert len(ready) > allowed > 3
    return sandbox, ready, allowed


def alert(html: str) -> str:
    found = re.search(r'role="alert">(.*?)</p>', html, re.S)
    return found.group(1) if found else ""


def _disabled(sandbox: Any) -> int:
    return sum(1 for u in sandbox.org.users if u.disabled)


async def test_a_reclaim_needs_the_preview_of_exactly_that_selection(
    web: Web, rally_factory: Any
) -> None:
    sandbox, ready, allowed = await _synced(web, rally_factory)
    before = _disabled(sandbox)
    client, csrf = signed_in(web, "sam_manager")

    def post(**form: Any) -> Any:
        return client.post("/candidates/reclaim", data={"csrf_token": csrf, **form})

    # the old shortcut: "Reclaim selected" with every ready candidate ticked, no preview
    blind = post(action="reclaim", all_ready="on")
    assert blind.status_code == 400 and "preview the reclaim first" in alert(blind.text)
    named = post(action="reclaim", ids=[str(i) for i in ready[:2]])
    assert named.status_code == 400 and "preview the reclaim first" in alert(named.text)
    assert _disabled(sandbox) == before

    # the preview of every ready candidate says the cap stops it, and offers nothing
    over = post(action="preview", all_ready="on")
    assert over.status_code == 400
    assert "a real run would stop before the first reclaim" in alert(over.text)
    assert f"0 of the {allowed} allowed in the last 24 h already reclaimed" in alert(over.text), (
        alert(over.text)
    )
    assert "confirm-reclaim" not in over.text and "preview_token" not in over.text

    # a preview of two: seats, app and money, and the reclaim for exactly those two
    shown = post(action="preview", ids=[str(i) for i in ready[:2]])
    assert shown.status_code == 200, shown.text
    summary = re.search(r'<p id="reclaim-summary">(.*?)</p>', shown.text, re.S)
    assert summary, shown.text
    text = re.sub(r"<[^>]+>", "", summary.group(1))
    assert text == f"Would reclaim 2 seats of {MODEL}: $720.00 a year.", text
    assert (
        'data-confirm="Reclaim 2 seats of Broadcom Rally Unlimited now ($720.00 a year)?"'
        in shown.text
    )
    [token] = TOKEN.findall(shown.text)
    widened = post(action="reclaim", ids=[str(i) for i in ready[:3]], preview_token=token)
    assert widened.status_code == 400 and "preview the reclaim first" in widened.text
    forged = post(
        action="reclaim", ids=[str(i) for i in ready[:2]], preview_token=token[:-2] + "AA"
    )
    assert forged.status_code == 400
    other, other_csrf = signed_in(web, "admin")  # another person's preview is not theirs
    borrowed = other.post(
        "/candidates/reclaim",
        data={
            "csrf_token": other_csrf,
            "action": "reclaim",
            "ids": [str(i) for i in ready[:2]],
            "preview_token": token,
        },
    )
    assert borrowed.status_code == 400
    assert _disabled(sandbox) == before

    done = post(action="reclaim", ids=[str(i) for i in ready[:2]], preview_token=token)
    assert done.status_code == 200, done.text
    assert done.text.count('<span class="badge reclaimed">') == 2
    assert _disabled(sandbox) == before + 2
    # the window now holds two: the next preview over it says so
    again = post(action="preview", all_ready="on")
    assert f"2 of the {allowed} allowed in the last 24 h already reclaimed" in again.text


def test_every_ready_over_the_cap_in_a_browser(web: Web, browser: Any, rally_factory: Any) -> None:
    # Playwright's sync API owns this thread's event loop: set up in another thread
    synced: list[tuple[Any, list[int], int]] = []
    setup = threading.Thread(target=lambda: synced.append(asyncio.run(_synced(web, rally_factory))))
    setup.start()
    setup.join(timeout=300)
    [(sandbox, ready, allowed)] = synced
    before = _disabled(sandbox)
    with serve_in_thread(web.app) as server:  # type: ignore[arg-type]
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        base = server.url
        page.goto(base + "/sign-in")
        page.fill("input[name=username]", "sam_manager")
        page.fill("input[name=password]", PASSWORD)
        submit(page, "button[type=submit]")
        page.wait_for_url(base + "/")

        # "every ready candidate" sent straight to a reclaim, as the old "Reclaim selected"
        # button did (added to the page here): refused, nothing reclaimed
        page.goto(base + "/candidates?state=ready")
        page.evaluate(
            """() => {
              const button = document.createElement("button");
              button.name = "action"; button.value = "reclaim"; button.id = "forged";
              button.textContent = "Reclaim selected";
              document.getElementById("queue").appendChild(button);
            }"""
        )
        page.check("#all-ready")
        submit(page, "#forged")
        assert _disabled(sandbox) == before
        assert "preview the reclaim first" in page.inner_text("[role=alert]")

        page.goto(base + "/candidates?state=ready")
        assert page.locator("#reclaim").count() == 0  # no reclaim without a preview
        page.check("#all-ready")
        submit(page, "#preview")
        alert = page.inner_text("[role=alert]")
        assert "a real run would stop before the first reclaim" in alert, alert
        assert f"0 of the {allowed} allowed in the last 24 h already reclaimed" in alert
        assert page.locator("#confirm-reclaim").count() == 0
        assert _disabled(sandbox) == before

        page.goto(base + "/candidates?state=ready")
        for cand in ready[:3]:
            page.check(f"input[name=ids][value='{cand}']")
        submit(page, "#preview")
        assert "nothing changed" in page.inner_text("h1")
        summary = page.inner_text("#reclaim-summary")
        assert summary == f"Would reclaim 3 seats of {MODEL}: $1,080.00 a year.", summary
        asked: list[str] = []

        def answer(dialog: Any) -> None:
            asked.append(dialog.message)
            dialog.accept()

        page.on("dialog", answer)
        submit(page, "#confirm-reclaim")
        page.wait_for_selector("text=Reclaim done")
        assert asked == [f"Reclaim 3 seats of {MODEL} now ($1,080.00 a year)?"]
        assert page.locator("#outcomes .badge.reclaimed").count() == 3
        assert _disabled(sandbox) == before + 3
        context.close()
