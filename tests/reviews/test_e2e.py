"""End to end: people and managers from the Okta sandbox, seats from the Rally and Asana
sandboxes (all over real HTTP), a real SMTP server (aiosmtpd), Chromium for the reviewer's
page (through the signed link of their reminder) and for the campaign owner's page, and an
injected clock for reminders and escalation. A revoked seat ends disabled in the vendor's
sandbox and "done" in the report."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from shelfware.accounts import service as accounts
from shelfware.accounts.schemas import UserCreate
from shelfware.models import IntegrationProfile, Person, ReviewItem, Subscription
from shelfware.notifications.service import Notifier
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reviews import export, schedule
from shelfware.reviews import service as reviews
from shelfware.reviews.schemas import CampaignCreate
from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.okta import BUDGETS, RateLimits, create_okta_app
from shelfware.sandbox.okta_org import generate_okta_org
from shelfware.sandbox.server import serve_in_thread
from shelfware.sync.service import sync_profile
from tests.conftest import NOW
from tests.helpers import published, published_rally, wide_cap
from tests.reclamation.conftest import Mailbox, free_port
from tests.web.browser_steps import submit
from tests.web.conftest import PASSWORD, Web, browser, web

pytestmark = pytest.mark.store
__all__ = ["browser", "web"]
USERS, SEED = 40, 21
OWNER = "ciso@example.com"
LINK = re.compile(r"(https?://\S+/review\?t=\S+)")
T = TypeVar("T")


def run(coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """An async step off the browser's thread (Playwright's sync API keeps its own loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coro())).result()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


def test_a_review_campaign_end_to_end(
    web: Web, browser: Any, rally_factory: Any, mailbox: Mailbox, tmp_path: Path
) -> None:
    db, keys, clock = web.store.db, web.store.keys, web.clock
    okta_org = generate_okta_org(USERS, SEED, NOW)
    okta_app = create_okta_app(okta_org, limits=RateLimits(budgets=dict.fromkeys(BUDGETS, 10_000)))
    rally = rally_factory(users=USERS, seed=SEED)
    asana_app, asana_org = SANDBOXES["asana"](USERS, SEED, NOW, 0, FaultSpec())
    workspace = asana_org.organisation
    with (
        serve_in_thread(okta_app) as okta,
        serve_in_thread(asana_app) as asana,
        serve_in_thread(
            web.app  # type: ignore[arg-type]
        ) as site,
    ):
        settings = wide_cap(
            home=tmp_path,
            smtp_host="127.0.0.1",
            smtp_port=mailbox.port,
            smtp_starttls=False,
            public_url=site.url,
        )
        notifier = Notifier(settings)

        async def connect() -> None:
            await published(
                db,
                keys,
                clock,
                ProfileCreate(
                    kind="okta", name="okta", url=okta.url, secrets={"api_key": okta_org.api_key}
                ),
            )
            await published_rally(db, keys, clock, rally.url, rally.org.api_key)
            await published(
                db,
                keys,
                clock,
                ProfileCreate(
                    kind="asana",
                    name="asana",
                    url=asana.url,
                    secrets={"api_key": asana_org.api_key},
                    options={"workspace": workspace.gid, "rate_limit": "paid"},
                ),
            )
            for name in ("okta", "rally", "asana"):
                await sync_profile(db, keys, clock, name)

        run(connect)
        # the department with the most people holding seats of both apps
        with db.sessions() as session:
            held = session.execute(
                select(Person.department, Subscription.profile_id)
                .join(Subscription, Subscription.person_id == Person.id)
                .where(Subscription.active.is_(True), Person.department.is_not(None))
            ).all()
            department = Counter(d for d, _ in held).most_common(1)[0][0]
        with db.transaction() as session:
            accounts.create_user(
                session, clock, UserCreate(username=OWNER, password=PASSWORD, role="sam_manager")
            )
            view = reviews.create_campaign(
                session,
                clock,
                CampaignCreate(
                    name="Q4 access",
                    scope=f"department={department}",
                    due=NOW + timedelta(days=10),
                    owner=OWNER,
                ),
            )
            items = list(reviews.report_rows(session, view.id))
            profile = {  # item -> the profile (app) of its seat
                item_id: name
                for item_id, name in session.execute(
                    select(ReviewItem.id, IntegrationProfile.name).join(
                        IntegrationProfile, IntegrationProfile.id == ReviewItem.profile_id
                    )
                )
            }
        assert {"rally", "asana"} <= set(profile.values()), Counter(profile.values())
        assert all(i.reviewer and i.reviewer != i.holder for i in items)

        # two days before the due date: every reviewer gets one reminder, with their link
        clock.advance(timedelta(days=8))
        first = run(lambda: schedule.run_due(db, keys, clock, notifier))
        run(lambda: schedule.run_due(db, keys, clock, notifier))  # nothing twice
        reviewers = Counter(i.reviewer for i in items)
        assert sorted(r for rcpt, _ in mailbox.messages for r in rcpt) == sorted(reviewers)
        assert first.reminded == {"Q4 access": len(reviewers)}
        # the reviewer with a Rally and an Asana seat to decide (not the apps' owners)
        # (never the apps' own first account: the credential's, which is never reclaimed)
        owners = {rally.org.users[0].username.lower()}
        mine = [i for i in items if i.holder not in owners]
        chosen = next(
            r
            for r in reviewers
            if {"rally", "asana"} <= {profile[i.id] for i in mine if i.reviewer == r}
        )
        body = mailbox.to(chosen)[0].get_body(("plain",))
        assert body is not None
        link = LINK.findall(body.get_content())[0]
        revoke = {
            app: next(i for i in mine if i.reviewer == chosen and profile[i.id] == app.lower())
            for app in ("Rally", "Asana")
        }

        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(link)
        assert page.locator("h1").inner_text() == "Review: Q4 access"
        shown = page.locator("tr[id^=item-]").count()
        assert shown == reviewers[chosen]
        for app, item in revoke.items():
            row = page.locator(f"#item-{item.id}")
            row.locator("input[name=reason]").fill(f"no longer needs {app}")
            submit(page, row.locator("button[value=revoke]"))
            assert "revoke" in page.locator(f"#item-{item.id} .decision").inner_text()
        # everything else of the first holder: kept in one go
        others = [
            i for i in mine if i.reviewer == chosen and i.id not in {x.id for x in revoke.values()}
        ]
        if others:
            bulk = page.locator("section.holder", has_text=others[0].holder).locator("form.bulk")
            submit(page, bulk.locator("button[value=keep]"))
        # another reviewer's item is not on this page, and this link cannot decide it
        stranger = next(i for i in items if i.reviewer != chosen)
        assert page.locator(f"#item-{stranger.id}").count() == 0

        # the revokes are reclaimed by the next step, under the cap: disabled in the apps
        step = run(lambda: schedule.run_due(db, keys, clock, notifier))
        assert step.reclaimed == 2, step
        with db.sessions() as session:
            external = {
                app: session.get_one(
                    Subscription, session.get_one(ReviewItem, item.id).subscription_id
                ).external_id
                for app, item in revoke.items()
            }
        assert rally.org.by_id[int(external["Rally"])].disabled
        membership = {m.user.gid: m for m in asana_org.members(workspace.gid)}
        assert not membership[external["Asana"]].is_active
        run(lambda: sync_profile(db, keys, clock, "rally"))
        run(lambda: sync_profile(db, keys, clock, "asana"))

        # the due date: undecided items escalate to the reviewers' managers, who are told
        mailbox.messages.clear()
        clock.advance(timedelta(days=2))
        escalated = run(lambda: schedule.run_due(db, keys, clock, notifier))
        assert escalated.escalated["Q4 access"] >= 1 and mailbox.messages

        # the campaign owner's page: completion per reviewer, the printable evidence
        owner_page = context.new_page()
        owner_page.goto(site.url + "/sign-in")
        owner_page.fill("input[name=username]", OWNER)
        owner_page.fill("input[name=password]", PASSWORD)
        submit(owner_page, "button[type=submit]")
        owner_page.goto(f"{site.url}/reviews/{view.id}")
        completion = owner_page.locator("#completion").inner_text()
        decided = 2 + (len([i for i in others if i.holder == others[0].holder]) if others else 0)
        assert f"{decided} of {len(items)}" in completion, completion
        submit(owner_page, "#printable")
        report = owner_page.content()
        assert "no longer needs Rally" in report and "Completion per reviewer" in report
        context.close()

    with db.sessions() as session:
        text = "".join(export.csv_chunks(reviews.report_records(session, view.id)))
    rows = list(csv.DictReader(io.StringIO(text)))
    done = {r["item"]: r for r in rows}
    for item in revoke.values():
        row = done[str(item.id)]
        assert (row["decision"], row["outcome"]) == ("revoke", "done"), row
        assert row["outcome_at"] and row["decided_by"].startswith("link:")
