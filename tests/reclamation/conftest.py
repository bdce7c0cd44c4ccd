"""The workflow's world: a Rally sandbox synced into the store, a real SMTP server (aiosmtpd),
the answer page served over real HTTP, and a notifier pointed at both."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.licensing.service import add_entitlement
from shelfware.models import AuditEvent, RemovalCandidate, Subscription
from shelfware.models.reclamation import AnswerLink
from shelfware.notifications.service import Notifier
from shelfware.reclamation import rules, workflow
from shelfware.reclamation.schemas import RuleChange
from shelfware.sandbox.server import serve_in_thread
from shelfware.settings import Settings
from shelfware.sync.service import sync_profile
from shelfware.web import answers
from tests.helpers import published_rally

MODEL = "Broadcom Rally Unlimited"
LINK = re.compile(r"(https?://\S+/answer/\S+)")
# Settings under which the reclaim cap never binds (tests of the workflow, not of the cap).
NO_CAP: dict[str, Any] = {"reclaim_max_percent": 100, "reclaim_max_accounts": 1_000_000}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mailbox:
    """What the SMTP server received."""

    port: int
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.messages if address in rcpt]

    def links(self, address: str, index: int = -1) -> dict[str, str]:
        """The keep/release links of the message (default: the latest) sent to ``address``."""
        body = self.to(address)[index].get_body(("plain",))
        assert body is not None
        found = LINK.findall(body.get_content())
        return {"keep": found[0], "release": found[1]}


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


@dataclass
class World:
    db: Database
    keys: KeyRing
    clock: FrozenClock
    sandbox: Any
    notifier: Notifier
    mailbox: Mailbox
    answer_url: str

    def candidates(self, state: str | None = None) -> list[dict[str, Any]]:
        with self.db.sessions() as s:
            from shelfware.reclamation.service import list_candidates

            return [c.model_dump() for c in list_candidates(s, state=state)]

    def candidate(self, cand_id: int) -> RemovalCandidate:
        with self.db.sessions() as s:
            return s.get_one(RemovalCandidate, cand_id)

    def user(self, cand: dict[str, Any]) -> Any:
        return self.sandbox.org.by_id[int(cand["external_id"])]

    async def advance(self) -> workflow.AdvanceReport:
        return await workflow.advance(self.db, self.keys, self.clock, self.notifier)

    async def sync(self) -> None:
        await sync_profile(self.db, self.keys, self.clock, "rally")

    def snapshot(self) -> tuple[Any, ...]:
        """Every row the workflow writes, to prove a refusal changed nothing."""
        with self.db.sessions() as s:
            cands = [
                tuple(r)
                for r in s.execute(select(RemovalCandidate.__table__).order_by(RemovalCandidate.id))
            ]
            links = [tuple(r) for r in s.execute(select(AnswerLink.__table__))]
            events = s.scalar(select(func.count()).select_from(AuditEvent))
            subs = s.scalar(select(func.count()).select_from(Subscription))
        return cands, sorted(links), events, subs


def follow(url: str) -> httpx.Response:
    """Open a link and press its button, as a person would."""
    page = httpx.get(url)
    if page.status_code != 200:
        return page
    assert "<form" in page.text
    return httpx.post(url, data={"confirm": "yes"})


@pytest.fixture
async def world(db, keys, clock, rally_factory, mailbox, tmp_path) -> Any:  # type: ignore[no-untyped-def]
    sandbox = rally_factory(users=60, seed=11)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    await sync_profile(db, keys, clock, "rally")
    with db.transaction() as s:
        add_entitlement(
            s,
            clock,
            EntitlementCreate(model=MODEL, seats=100, unit_cost=30, billing_period="monthly"),
        )
        rules.set_rule(
            s,
            clock,
            RuleChange(
                model=MODEL,
                notify=True,
                approval_required=True,
                auto_reclaim_days=7,
                add_approvers=["boss@corp.test"],
            ),
        )
    server = serve_in_thread(answers.app(db, keys, clock))
    with server:
        settings = Settings(
            home=tmp_path,
            smtp_host="127.0.0.1",
            smtp_port=mailbox.port,
            smtp_starttls=False,
            public_url=server.url,
            **NO_CAP,
        )
        yield World(db, keys, clock, sandbox, Notifier(settings), mailbox, server.url)
