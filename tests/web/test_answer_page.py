"""The keep / release answer page (no sign-in) in Chromium at 360 px: the workspace's look from
its own stylesheets under /static, no inline style (the CSP forbids it: no CSP error in the
console), an optional reason that the audit trail keeps with the answer, and no approver
address anywhere. Before: an inline <style> (allowed by 'unsafe-inline'), no reason, and
"sent for approval: boss@corp.test decides" on the page."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from shelfware.models import AuditEvent
from shelfware.reclamation.workflow import MAX_REASON
from tests.reclamation.conftest import World, mailbox, world  # noqa: F401 - fixtures

pytestmark = pytest.mark.store


def answered_events(world: World, cand_id: int) -> list[dict[str, Any]]:  # noqa: F811
    with world.db.sessions() as s:
        return [
            {"actor": e.actor, **e.detail}
            for e in s.scalars(
                select(AuditEvent).where(
                    AuditEvent.object_id == str(cand_id), AuditEvent.action == "candidate.answered"
                )
            )
        ]


def test_the_answer_page_at_360_px_with_a_reason(
    world: World,  # noqa: F811
    browser: Any,
    tmp_path: Path,
) -> None:
    cand = next(c for c in world.candidates("ready") if c["email"])
    # Playwright's sync API holds this thread's event loop: the step runs on another thread.
    with ThreadPoolExecutor(1) as other:
        other.submit(asyncio.run, world.advance()).result()
    keep = world.mailbox.links(cand["email"])["keep"]

    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=1)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto(keep)
    page.wait_for_load_state("networkidle")

    # its own stylesheets, from /static, applied; nothing inline
    sheets = page.eval_on_selector_all("link[rel=stylesheet]", "ls => ls.map(l => l.href)")
    assert [s.split("/static/")[1] for s in sheets] == ["app.css", "answer.css"]
    assert page.locator("style").count() == 0 and page.locator("[style]").count() == 0
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(246, 247, 249)"  # the workspace's --bg
    assert page.locator("header.top .brand").inner_text() == "shelfware"
    # readable at 360 px: nothing wider than the screen, text at a normal size
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")) >= 14
    button = page.get_by_role("button", name="Keep my seat")
    box = button.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
    assert box["height"] >= 36  # a finger can hit it
    page.screenshot(path=str(tmp_path / "answer-360.png"), full_page=True)

    reason = page.locator("textarea[name=reason]")
    assert reason.get_attribute("maxlength") == str(MAX_REASON)
    reason.fill("I run the quarterly report\u202e with it\x07 every March")
    button.click()
    page.wait_for_selector("#answer-recorded")
    text = page.locator("main").inner_text()
    assert "sent for approval" in text.lower()
    assert "boss@corp.test" not in page.content() and "@corp.test" not in text
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    csp = [m for m in console if "Content Security Policy" in m or "Refused to" in m]
    assert csp == [] and [m for m in console if m.startswith("error")] == [], console
    assert failed == []
    context.close()

    [event] = answered_events(world, cand["id"])
    assert event["answer"] == "keep"
    assert event["reason"] == "I run the quarterly report with it every March"
    assert event["actor"] == f"link:{cand['email']}"
    assert world.candidate(cand["id"]).state == "awaiting_approval"


async def test_the_reason_is_optional_bounded_and_cleaned(world: World) -> None:  # noqa: F811
    ready = [c for c in world.candidates("ready") if c["email"]]
    await world.advance()
    first, second, third = (world.mailbox.links(c["email"]) for c in ready[:3])

    done = httpx.post(first["release"], data={"confirm": "release"})
    assert done.status_code == 200 and "Released" in done.text
    assert answered_events(world, ready[0]["id"])[0]["reason"] is None

    long = "why " * 400  # 1,600 characters: kept to the bound
    assert httpx.post(second["keep"], data={"reason": long}).status_code == 200
    kept = answered_events(world, ready[1]["id"])[0]["reason"]
    assert kept is not None and len(kept) <= MAX_REASON and kept.startswith("why why")

    huge = httpx.post(third["keep"], data={"reason": "x" * 100_000})
    assert huge.status_code == 413
    assert world.candidate(ready[2]["id"]).state == "awaiting_user"  # nothing changed
    page = httpx.get(third["keep"])
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp and "style-src 'self'" in csp
    assert "<style" not in page.text and "style=" not in page.text
    assert httpx.get(third["keep"].split("/answer/")[0] + "/static/answer.css").status_code == 200
