"""The reviews' periodic step with a real SMTP server (aiosmtpd) and an injected clock:
one reminder before the due date, escalation to the reviewer's manager on it, then to the
campaign's owner; each once, however many ticks; quarterly campaigns start themselves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.notifications.service import Notifier
from shelfware.reviews import links, schedule
from shelfware.reviews import service as reviews
from shelfware.reviews.schemas import CampaignCreate
from shelfware.settings import Settings
from tests.conftest import NOW
from tests.helpers import wide_cap
from tests.reclamation.conftest import Mailbox, free_port
from tests.reviews.conftest import Org, by_holder

pytestmark = pytest.mark.store
URL = re.compile(r"(https?://\S+/review\?t=\S+)")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


def notifier(tmp_path: Path, mailbox: Mailbox) -> Notifier:
    settings: Settings = wide_cap(
        home=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_starttls=False,
        public_url="http://reviews.test",
    )
    return Notifier(settings)


async def test_reminders_then_escalations_once_each(
    db: Database, keys: KeyRing, clock: FrozenClock, org: Org, mailbox: Mailbox, tmp_path: Path
) -> None:
    with db.transaction() as session:
        campaign = reviews.create_campaign(
            session,
            clock,
            CampaignCreate(
                name="Sales Q4",
                scope="department=Sales",
                due=NOW + timedelta(days=10),
                owner="ciso@acme.test",
            ),
        ).id
    send = notifier(tmp_path, mailbox)
    first = await schedule.run_due(db, keys, clock, send)
    assert first.reminded == {} and mailbox.messages == []  # not yet
    clock.advance(timedelta(days=8))  # two days before the due date
    for _ in range(2):
        await schedule.run_due(db, keys, clock, send)
    reminded = sorted(r for rcpt, _ in mailbox.messages for r in rcpt)
    assert reminded == ["boss@acme.test", "ceo@acme.test", "ciso@acme.test", "owner@acme.test"]
    # the link in the mail opens that reviewer's page, and only theirs
    body = mailbox.to("boss@acme.test")[0].get_body(("plain",))
    assert body is not None
    token = URL.findall(body.get_content())[0].split("t=")[1]
    from urllib.parse import unquote

    link = links.verify(keys, unquote(token), clock.now(), NOW + timedelta(days=10))
    assert (link.campaign_id, link.reviewer) == (campaign, "boss@acme.test")
    with pytest.raises(links.LinkRefused):
        links.verify(keys, unquote(token).replace("Ym9zc", "Y2Vv"), clock.now(), NOW)
    # boss decides one item; the rest escalate on the due date, to boss's manager (ceo)
    with db.transaction() as session:
        ann = by_holder(reviews.report_rows(session, campaign))[("ann@acme.test", "Rally")]
        reviews.decide(session, clock, campaign, ann.id, "boss@acme.test", "keep")
    mailbox.messages.clear()
    clock.advance(timedelta(days=2))
    escalated = await schedule.run_due(db, keys, clock, send)
    again = await schedule.run_due(db, keys, clock, send)
    assert again.escalated == {} and escalated.escalated == {"Sales Q4": 6}
    with db.sessions() as session:
        now = {k: i.reviewer for k, i in by_holder(reviews.report_rows(session, campaign)).items()}
    assert now[("ann@acme.test", "Rally")] == "boss@acme.test"  # decided: stays
    assert now[("ann@acme.test", "Roadmunk")] == "ceo@acme.test"
    # ceo's own manager is nobody: their items (boss's seats) go to the campaign's owner
    assert now[("boss@acme.test", "Rally")] == "ciso@acme.test"
    assert {r for rcpt, _ in mailbox.messages for r in rcpt} >= {"ceo@acme.test"}
    clock.advance(timedelta(days=3))
    last = await schedule.run_due(db, keys, clock, send)
    assert last.escalated == {"Sales Q4": 3}  # ceo's undecided items (ann, bob): to the owner
    with db.sessions() as session:
        mine = reviews.my_items(session, campaign, "ciso@acme.test", undecided=True)
    assert len(mine) == 7 and all(i.holder != "ciso@acme.test" for i in mine)


async def test_quarterly_campaigns_start_themselves_once(
    db: Database, keys: KeyRing, clock: FrozenClock, org: Org, mailbox: Mailbox, tmp_path: Path
) -> None:
    with db.transaction() as session:
        reviews.create_campaign(
            session,
            clock,
            CampaignCreate(
                name="Rally access",
                scope="model=Acme Rally Std",
                due=NOW + timedelta(days=14),
                owner="ciso@acme.test",
                recurrence="quarterly",
            ),
        )
    send = notifier(tmp_path, mailbox)
    assert (await schedule.run_due(db, keys, clock, send)).started == []
    clock.set(NOW.replace(year=2027, month=1, day=1, hour=1))
    started = await schedule.run_due(db, keys, clock, send)
    assert started.started == ["Rally access 2027-Q1"]
    assert (await schedule.run_due(db, keys, clock, send)).started == []
    with db.sessions() as session:
        q1 = reviews.campaign_view(session, "Rally access 2027-Q1")
    assert q1.items == 5 and q1.due_at == clock.now() + timedelta(days=14)
    assert q1.next_start_at is not None and q1.next_start_at.month == 4
