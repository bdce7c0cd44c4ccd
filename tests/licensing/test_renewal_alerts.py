"""Renewal alerts end to end: a Rally sandbox synced into the store, an entitlement with an
owner and a notice date, the jobs tick on the injected clock, a real SMTP server (aiosmtpd).
The owner gets one email at 90, 60 and 30 days before the notice date with the renewals
report's figures; never twice for a threshold (a second tick, two concurrent runs, a
restart), and a failed send is sent by the next run."""

from __future__ import annotations

import asyncio
import re
import threading
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import func, select

from shelfware.jobs import queue
from shelfware.jobs.backend import EmbeddedBackend
from shelfware.jobs.runner import JobContext
from shelfware.jobs.tick import tick
from shelfware.licensing.renewals import send_renewal_alerts
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.licensing.service import add_entitlement
from shelfware.models import RenewalAlert
from shelfware.notifications.service import Notifier
from shelfware.reports import service as reports
from shelfware.settings import Settings
from shelfware.sync.service import sync_profile
from tests.helpers import published_rally
from tests.reclamation.conftest import Mailbox, free_port, mailbox  # noqa: F401 (fixture)

pytestmark = pytest.mark.store

MODEL = "Broadcom Rally Unlimited"
OWNER = "owner@corp.test"
NOTICE_IN = 100  # days from the test's start


def settings_for(tmp_path: Any, port: int) -> Settings:
    return Settings(
        home=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        public_url="https://shelfware.corp.test",
        renewal_alert_days="90,60,30",
        renewal_buffer_percent=10,
    )


@pytest.fixture
async def world(db, keys, clock, rally_factory, mailbox, tmp_path):  # type: ignore[no-untyped-def]  # noqa: F811
    sandbox = rally_factory(users=60, seed=11)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    await sync_profile(db, keys, clock, "rally")
    today = clock.now().date()
    with db.transaction() as s:
        ent = add_entitlement(
            s,
            clock,
            EntitlementCreate(
                model=MODEL,
                seats=100,
                unit_cost=30,
                billing_period="monthly",
                notice_date=today + timedelta(days=NOTICE_IN),
                renewal_date=today + timedelta(days=NOTICE_IN + 30),
                contract_ref="RALLY-2027",
                owner=OWNER,
            ),
        )
    ctx = JobContext(db=db, keys=keys, clock=clock, settings=settings_for(tmp_path, mailbox.port))
    return ctx, ent.id


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def figure(text: str, label: str) -> str:
    found = re.search(rf"{re.escape(label)}\s*(\S+)", text)
    assert found, (label, text)
    return found.group(1)


async def test_the_owner_is_mailed_at_90_60_and_30_days_once_each(world, mailbox) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    ctx, _ent_id = world
    backend = EmbeddedBackend(ctx, workers=0)
    # 100 days before the notice date: nothing is due, no job is queued
    assert "renewal-alerts" not in tick(ctx, backend).enqueued
    sent_days = []
    for step, threshold in ((10, 90), (30, 60), (30, 30)):
        ctx.clock.advance(timedelta(days=step))
        assert "renewal-alerts" in tick(ctx, backend).enqueued
        await asyncio.to_thread(backend.drain)
        with ctx.db.sessions() as s:
            job = next(j for j in queue.list_jobs(s) if j.key == "renewal-alerts")
            assert (job.state, job.result) == ("done", {"sent": 1, "failed": {}, "skipped": 0})
        assert len(mailbox.to(OWNER)) == len(sent_days) + 1
        sent_days.append(threshold)
        # an hour on, the tick finds nothing due: the alert was sent
        ctx.clock.advance(timedelta(hours=1))
        assert "renewal-alerts" not in tick(ctx, backend).enqueued
        await asyncio.to_thread(backend.drain)
    # to the notice date and past it: no more
    ctx.clock.advance(timedelta(days=29))
    assert "renewal-alerts" not in tick(ctx, backend).enqueued
    ctx.clock.advance(timedelta(days=5))
    assert "renewal-alerts" not in tick(ctx, backend).enqueued
    messages = mailbox.to(OWNER)
    assert len(messages) == 3
    assert [
        f"sent {t} days before" in body(m) for m, t in zip(messages, sent_days, strict=True)
    ] == [True] * 3
    with ctx.db.sessions() as s:
        rows = s.scalars(select(RenewalAlert).order_by(RenewalAlert.threshold_days)).all()
        assert [(r.threshold_days, r.state, r.attempts) for r in rows] == [
            (30, "sent", 1),
            (60, "sent", 1),
            (90, "sent", 1),
        ]


async def test_the_message_has_the_renewals_report_figures(world, mailbox) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    ctx, ent_id = world
    ctx.clock.advance(timedelta(days=NOTICE_IN - 90))
    notifier = Notifier(ctx.settings)
    report = await asyncio.to_thread(send_renewal_alerts, ctx.db, ctx.clock, notifier, "w1")
    assert report.sent == [(ent_id, 90)]
    [message] = mailbox.to(OWNER)
    assert message["To"] == OWNER
    assert "Rally" in message["Subject"] and "90 days" in message["Subject"]
    text = body(message)
    with ctx.db.sessions() as s:
        [row] = [
            r
            for r in reports.renewals(s, ctx.clock.now(), 365, buffer_percent=10).rows
            if r.entitlement_id == ent_id
        ]
    assert row.model_used > row.model_stale > 0  # the sandbox has active and idle users
    assert figure(text, "Seats owned (this contract):") == "100"
    assert figure(text, "Used:") == str(row.model_used)
    assert figure(text, "Stale (idle past the rule):") == str(row.model_stale)
    assert figure(text, "Utilisation:") == f"{row.utilisation_percent:.1f}%"
    # used minus stale plus 10%, rounded up
    active = row.model_used - row.model_stale
    assert figure(text, "+ 10%):") == str(row.recommended_seats) == str(-(-active * 11 // 10))
    assert figure(text, "Renew this contract with:") == str(row.right_size_seats)
    saving = (100 - row.right_size_seats) * 360
    assert figure(text, "(USD/year):") == f"{saving:,.2f}"
    assert row.renewal_saving == saving
    assert f"https://shelfware.corp.test/entitlements#entitlement-{ent_id}" in text
    assert message.get_body(("html",)) is not None


async def test_concurrent_runs_and_ticks_send_once(world, mailbox) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    ctx, _ent_id = world
    ctx.clock.advance(timedelta(days=NOTICE_IN - 60))  # 60 days: the 60-day alert is due
    notifier = Notifier(ctx.settings)
    barrier = threading.Barrier(4)
    results: list[Any] = []

    def run(worker: str) -> None:
        barrier.wait()
        results.append(send_renewal_alerts(ctx.db, ctx.clock, notifier, worker))

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(r.sent) for r in results) == 1
    assert len(mailbox.to(OWNER)) == 1
    # two ticks at once (two processes): the lease lets one queue, the job sends nothing new
    backends = [EmbeddedBackend(ctx, workers=0) for _ in range(2)]
    ticks: list[Any] = []
    tick_barrier = threading.Barrier(2)

    def ticking(i: int) -> None:
        tick_barrier.wait()
        ticks.append(tick(ctx, backends[i], holder=f"process-{i}"))

    threads = [threading.Thread(target=ticking, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for t in ticks if t.held_by is not None) == 1
    assert all("renewal-alerts" not in t.enqueued for t in ticks)  # sent: nothing due
    # a restart (new notifier, new worker name) sends nothing either
    again = send_renewal_alerts(ctx.db, ctx.clock, Notifier(ctx.settings), "after-restart")
    assert again.sent == [] and len(mailbox.to(OWNER)) == 1
    with ctx.db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(RenewalAlert)) == 1


async def test_a_failed_send_is_sent_by_the_next_run(world, mailbox, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    ctx, ent_id = world
    ctx.clock.advance(timedelta(days=NOTICE_IN - 30))
    down = Notifier(settings_for(tmp_path, free_port()))  # nothing listens there
    failed = await asyncio.to_thread(send_renewal_alerts, ctx.db, ctx.clock, down, "w1")
    assert failed.sent == [] and list(failed.failed) == [f"{ent_id}/30"]
    assert mailbox.to(OWNER) == []
    ok = await asyncio.to_thread(
        send_renewal_alerts, ctx.db, ctx.clock, Notifier(ctx.settings), "w2"
    )
    assert ok.sent == [(ent_id, 30)]
    assert len(mailbox.to(OWNER)) == 1
    with ctx.db.sessions() as s:
        row = s.scalars(select(RenewalAlert)).one()
        assert (row.state, row.attempts, row.error) == ("sent", 2, None)


async def test_without_a_channel_nothing_is_claimed_or_queued(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = world
    ctx.clock.advance(timedelta(days=NOTICE_IN - 90))
    quiet = JobContext(db=ctx.db, keys=ctx.keys, clock=ctx.clock, settings=Settings(home=tmp_path))
    assert "renewal-alerts" not in tick(quiet, EmbeddedBackend(quiet, workers=0)).enqueued
    report = send_renewal_alerts(ctx.db, ctx.clock, Notifier(quiet.settings), "w1")
    assert report.sent == [] and "SHELFWARE_SMTP_HOST" in report.failed["*"]
    with ctx.db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(RenewalAlert)) == 0
    # once mail is configured, the alert goes
    sent = send_renewal_alerts(ctx.db, ctx.clock, Notifier(ctx.settings), "w2")
    assert [threshold for _, threshold in sent.sent] == [90]


def test_owner_must_be_one_valid_address() -> None:
    for bad in ("not an address", "a@x.test, b@x.test", "Boss <boss@x.test>"):
        with pytest.raises(ValueError, match="owner: not one valid email address"):
            EntitlementCreate(model="m", seats=1, unit_cost=1, owner=bad)
    assert EntitlementCreate(model="m", seats=1, unit_cost=1, owner="Boss@X.test").owner
