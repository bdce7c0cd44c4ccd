"""One person's page and their offboarding, over the Rally sandbox synced for real: the
person's seats, status, manager, groups and department; "reclaim all of this person's seats"
previewed (each seat, the money, the cap) and then confirmed with the preview's signed token,
through the reclaim (the app's account is disabled); refused without the preview, over the
cap, and for roles that may not act on candidates."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

import pytest
from sqlalchemy import select

from shelfware.licensing.schemas import EntitlementCreate
from shelfware.licensing.service import add_entitlement
from shelfware.models import IntegrationProfile, Person, RemovalCandidate, Subscription
from shelfware.sandbox.server import serve_in_thread
from shelfware.settings import Settings
from shelfware.sync.service import sync_profile
from tests.helpers import published_rally
from tests.web.browser_steps import shot, submit
from tests.web.conftest import Web, signed_in
from tests.web.ops_seed import sign_in

pytestmark = pytest.mark.store
MODEL = "Broadcom Rally Unlimited"
TOKEN = re.compile(r'name="offboard_token" value="([^"]+)"')


async def _synced(web: Web, rally_factory: Any) -> tuple[Any, list[int]]:
    """The sandbox and people (ids) each holding a plain (non-admin) seat."""
    db, keys, clock = web.store.db, web.store.keys, web.clock
    sandbox = rally_factory(users=60, seed=5)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    with db.transaction() as session:  # priced before the sync: candidates carry savings
        add_entitlement(
            session,
            clock,
            EntitlementCreate(model=MODEL, seats=60, unit_cost=30, billing_period="monthly"),
        )
    await sync_profile(db, keys, clock, "rally")
    with db.sessions() as session:
        owner = session.scalar(select(IntegrationProfile.credential_owner_external_id))
        people = list(
            session.scalars(
                select(Subscription.person_id)
                .where(
                    Subscription.person_id.is_not(None),
                    Subscription.active.is_(True),
                    Subscription.admin.is_(False),
                    Subscription.external_id != owner,
                )
                .order_by(Subscription.person_id)
            )
        )
    assert len(people) > 3
    return sandbox, [p for p in people if p is not None]


def _disabled(sandbox: Any) -> int:
    return sum(1 for u in sandbox.org.users if u.disabled)


def _states(web: Web, person_id: int) -> list[str]:
    with web.store.db.sessions() as session:
        return list(
            session.scalars(
                select(RemovalCandidate.state)
                .join(Subscription, Subscription.id == RemovalCandidate.subscription_id)
                .where(Subscription.person_id == person_id)
            )
        )


async def test_offboarding_needs_its_preview_and_stays_within_the_cap(
    web: Web, rally_factory: Any
) -> None:
    sandbox, people = await _synced(web, rally_factory)
    first, second = people[0], people[1]
    before = _disabled(sandbox)
    client, csrf = signed_in(web, "sam_manager")

    def post(person: int, **form: Any) -> Any:
        return client.post(f"/people/{person}/offboard", data={"csrf_token": csrf, **form})

    page = client.get(f"/people/{first}")
    assert page.status_code == 200 and "Seats across apps" in page.text
    assert "preview-offboard" in page.text
    blind = post(first, action="reclaim", seats=["1"])
    assert blind.status_code == 400 and "preview the offboarding first" in blind.text
    shown = post(first, action="preview")
    assert shown.status_code == 200
    summary = re.search(r'<p id="offboard-summary">(.*?)</p>', shown.text, re.S)
    assert summary and "Would reclaim 1 seat: $360.00 a year" in re.sub(
        r"<[^>]+>", "", summary.group(1)
    )
    [token] = TOKEN.findall(shown.text)
    seats = re.findall(r'name="seats" value="(\d+)"', shown.text)
    assert len(seats) == 1
    widened = post(first, action="reclaim", seats=[*seats, "999"], offboard_token=token)
    assert widened.status_code == 400
    other = post(second, action="reclaim", seats=seats, offboard_token=token)
    assert other.status_code == 400  # a token for one person never serves another
    assert _disabled(sandbox) == before and _states(web, first) == []

    done = post(first, action="reclaim", seats=seats, offboard_token=token)
    assert done.status_code == 200, done.text
    assert done.text.count('<span class="badge reclaimed">') == 1
    assert _disabled(sandbox) == before + 1
    assert _states(web, first) == ["awaiting_revocation"]
    assert 'href="/people/' in done.text

    # previewed while the cap allowed it; then the cap (one account per model in the window)
    # is lowered: the confirmation is stopped before the first reclaim, and a new preview says so
    earlier = post(second, action="preview")
    [token2] = TOKEN.findall(earlier.text)
    seats2 = re.findall(r'name="seats" value="(\d+)"', earlier.text)
    web.app.state.web.workspace.extras["settings"] = Settings(reclaim_max_accounts=1)  # type: ignore[attr-defined]
    stopped = post(second, action="reclaim", seats=seats2, offboard_token=token2)
    assert stopped.status_code == 400 and "stopped before the first reclaim" in stopped.text
    assert _disabled(sandbox) == before + 1 and _states(web, second) == []
    over = post(second, action="preview")
    assert "The reclaim cap stops this offboarding" in over.text
    assert "confirm-offboard" not in over.text
    assert "1 of the 1 allowed" in over.text

    # a person the identity provider lists as deprovisioned carries the leaver badge
    assert 'id="leaver"' not in client.get(f"/people/{second}").text
    with web.store.db.transaction() as session:
        session.get_one(Person, second).idp_status = "DEPROVISIONED"
    assert 'id="leaver"' in client.get(f"/people/{second}").text

    # roles that may not act on candidates: no offboarding offered, the form refused
    for role in ("viewer", "sam_integrator"):
        reader, reader_csrf = signed_in(web, role)
        seen = reader.get(f"/people/{second}")
        assert seen.status_code == 200 and "preview-offboard" not in seen.text
        refused = reader.post(
            f"/people/{second}/offboard", data={"csrf_token": reader_csrf, "action": "preview"}
        )
        assert refused.status_code == 403
    assert client.get("/people/999999").status_code == 404


def test_offboarding_a_person_in_a_browser(web: Web, browser: Any, rally_factory: Any) -> None:
    synced: list[tuple[Any, list[int]]] = []
    setup = threading.Thread(target=lambda: synced.append(asyncio.run(_synced(web, rally_factory))))
    setup.start()
    setup.join(timeout=300)
    [(sandbox, people)] = synced
    person = people[0]
    before = _disabled(sandbox)
    with serve_in_thread(web.app) as server:  # type: ignore[arg-type]
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        sign_in(page, server.url, "sam_manager")
        submit(page, "nav >> text=People")
        submit(page, f'a[href="/people/{person}"]')
        assert page.locator("#person-facts").is_visible()
        assert page.locator("#person-seats tbody tr").count() >= 1
        shot(page, "person")
        submit(page, "#preview-offboard")
        assert "Would reclaim 1 seat" in page.inner_text("#offboard-summary")
        assert "reclaim the seat" in page.inner_text("#person-seats")
        shot(page, "person-offboard-preview")
        assert _disabled(sandbox) == before  # the preview changed nothing
        page.on("dialog", lambda d: d.accept())
        submit(page, "#confirm-offboard")
        page.wait_for_selector("#outcomes")
        assert "reclaimed" in page.inner_text("#outcomes")
        shot(page, "person-offboarded")
        assert _disabled(sandbox) == before + 1

        viewer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        sign_in(viewer, server.url, "viewer")
        viewer.goto(f"{server.url}/people/{people[1]}")
        assert viewer.locator("#person-facts").is_visible()
        assert viewer.locator("#preview-offboard").count() == 0
