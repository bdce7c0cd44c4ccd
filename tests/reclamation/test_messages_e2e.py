"""Messages to people, end to end: a real SMTP server (aiosmtpd), the Slack sandbox over real
HTTP (its Web API, as slack-sdk calls it), and a chat webhook receiver on loopback.

- an address that is not exactly one valid address never reaches SMTP: its candidate needs a
  person ("no valid email address") and everyone else is mailed exactly once, one address
  per message (before: CR/LF stopped the whole step with a ValueError, a comma mailed the
  attacker's second address);
- one failed delivery never stops the step, and is reported per candidate;
- keep / release links reach only their person (a Slack DM each); the shared webhook gets a
  summary without links (before: every person's links were posted there);
- vendor values are mrkdwn-escaped in Slack texts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shelfware.models import AuditEvent, RemovalCandidate, Subscription
from shelfware.notifications.service import Notifier
from shelfware.sandbox.server import serve_in_thread
from shelfware.sandbox.slack import SlackSandbox, SlackWorkspace, create_slack_app, token_for
from tests.reclamation.conftest import Mailbox, World, follow
from tests.reclamation.test_cli import shelfware

pytestmark = pytest.mark.store

HOSTILE = [
    "ada@corp.test\r\nBcc: evil1@evil.test",
    "ada@corp.test, evil2@evil.test",
    "<evil3@evil.test>",
    "Ada <evil4@evil.test>",
    "ada@corp.test;evil5@evil.test",
]
ANSWER = re.compile(r"/answer/")


def set_email(world: World, cand_id: int, email: str | None, name: str | None = None) -> None:
    """What a vendor sync would have stored for the account."""
    with world.db.transaction() as s:
        sub = s.get_one(Subscription, s.get_one(RemovalCandidate, cand_id).subscription_id)
        sub.email = email
        if name is not None:
            sub.display_name = name


def assert_one_address_per_message(mailbox: Mailbox) -> None:
    for rcpts, message in mailbox.messages:
        assert len(rcpts) == 1, rcpts
        assert "evil" not in rcpts[0]
        assert message["To"] == rcpts[0] or message["To"].lower() == rcpts[0].lower()
        assert message["Cc"] is None and message["Bcc"] is None


def audit_why(world: World, cand_id: int, action: str) -> list[str]:
    with world.db.sessions() as s:
        return [
            str(e.detail.get("why"))
            for e in s.scalars(
                select(AuditEvent).where(
                    AuditEvent.object_type == "candidate",
                    AuditEvent.object_id == str(cand_id),
                    AuditEvent.action == action,
                )
            )
        ]


async def test_hostile_addresses_set_their_candidate_aside_and_everyone_else_is_mailed_once(
    world: World,
) -> None:
    ready = [c for c in world.candidates("ready") if c["email"]]
    assert len(ready) > len(HOSTILE) + 3
    hostile = {c["id"]: h for c, h in zip(ready, HOSTILE, strict=False)}
    for cand_id, address in hostile.items():
        set_email(world, cand_id, address)
    others = [c for c in ready if c["id"] not in hostile]

    report = await world.advance()

    assert_one_address_per_message(world.mailbox)
    assert not any("evil" in r for rcpts, _ in world.mailbox.messages for r in rcpts)
    for cand_id in hostile:
        held = world.candidate(cand_id)
        assert held.state == "attention_required"
        assert held.reason is not None and held.reason.startswith("no valid email address")
        assert "evil" not in held.reason and "\n" not in held.reason
        assert cand_id in report.needs_person and cand_id not in report.notified
        assert report.delivery_failed[cand_id].startswith("no valid email address")
        assert audit_why(world, cand_id, "candidate.attention_required")
    for cand in others:
        assert len(world.mailbox.to(cand["email"])) == 1, cand["email"]
        assert world.candidate(cand["id"]).state == "awaiting_user"
    assert sorted(report.notified) == sorted(c["id"] for c in others)
    assert len(world.mailbox.messages) == len(others)

    # The next step does not ask them again, nor anyone twice.
    again = await world.advance()
    assert again.notified == [] and again.delivery_failed == {}
    assert len(world.mailbox.messages) == len(others)


async def test_a_manager_address_from_the_directory_is_one_address_or_nobody(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A "keep" goes to the manager; a manager "address" with a comma named a second,
    attacker-chosen approver (the approver field was split on commas)."""
    from shelfware.directory import service as directory

    cand = next(c for c in world.candidates("ready") if c["email"])
    monkeypatch.setattr(
        directory, "manager_email", lambda s, pid: "boss@corp.test, evil@evil.test", raising=False
    )
    await world.advance()
    answered = follow(world.mailbox.links(cand["email"])["keep"])
    assert answered.status_code == 200
    assert "evil" not in answered.text and "boss@corp.test" not in answered.text
    held = world.candidate(cand["id"])
    assert held.state == "attention_required" and held.answer == "keep"
    assert held.reason is not None and "no valid email address" in held.reason
    report = await world.advance()
    assert report.approvals_requested == []
    assert world.mailbox.to("evil@evil.test") == [] and world.mailbox.to("boss@corp.test") == []


async def test_an_approver_list_is_mailed_one_message_per_approver(world: World) -> None:
    cand = next(c for c in world.candidates("ready") if c["email"])
    await world.advance()
    follow(world.mailbox.links(cand["email"])["keep"])
    with world.db.transaction() as s:  # an approver list from before addresses were checked
        s.get_one(RemovalCandidate, cand["id"]).approver = "boss@corp.test, lead@corp.test, <x>"
    report = await world.advance()
    assert report.approvals_requested == [cand["id"]]
    assert len(world.mailbox.to("boss@corp.test")) == 1
    assert len(world.mailbox.to("lead@corp.test")) == 1
    assert_one_address_per_message(world.mailbox)


class RefusingMailbox(Mailbox):
    """An SMTP server that refuses some recipients (550), as a relay does for a gone mailbox."""

    refuse: set[str] = set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    from tests.reclamation.conftest import free_port

    box = RefusingMailbox(free_port())
    box.refuse = set()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


def test_one_failed_delivery_does_not_stop_the_step_and_is_reported(
    world: World, tmp_path: Path
) -> None:
    ready = [c for c in world.candidates("ready") if c["email"]]
    refused, bad = ready[0], ready[1]
    assert isinstance(world.mailbox, RefusingMailbox)
    world.mailbox.refuse = {refused["email"]}
    set_email(world, bad["id"], "x@corp.test\nBcc: evil@evil.test")

    ran = shelfware(world, tmp_path, "candidates", "advance", "--json")
    assert ran.code == 1, ran  # something was not delivered: the step says so
    report = json.loads(ran.stdout)
    failed = report["delivery_failed"]
    assert set(failed) == {str(refused["id"]), str(bad["id"])}
    assert "SMTPRecipientsRefused" in failed[str(refused["id"])]
    assert failed[str(bad["id"])].startswith("no valid email address")
    assert sorted(report["notified"]) == sorted(c["id"] for c in ready[2:])
    assert world.candidate(refused["id"]).state == "ready"  # asked again at the next step
    assert world.candidate(bad["id"]).state == "attention_required"
    for cand in ready[2:]:
        assert len(world.mailbox.to(cand["email"])) == 1

    table = shelfware(world, tmp_path, "candidates", "advance")
    assert table.code == 1
    assert f"candidate {refused['id']}: not delivered" in table.stderr
    assert "1 not delivered" in table.stdout


# Slack ----------------------------------------------------------------------------------


@dataclass
class Chat:
    slack: SlackSandbox
    hook: list[dict[str, Any]]
    settings_update: dict[str, Any]

    def notifier(self, world: World, **more: Any) -> Notifier:
        update = {**self.settings_update, **more}
        return Notifier(world.notifier.settings.model_copy(update=update))


@pytest.fixture
def chat(world: World) -> Iterator[Chat]:
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> JSONResponse:
        received.append(await request.json())
        return JSONResponse({"ok": True})

    workspace = SlackWorkspace({}, token_for(42))
    app = create_slack_app(workspace, window_seconds=1, limits={"users.lookupByEmail": 6})
    state: SlackSandbox = app.state.slack
    for cand in world.candidates("ready"):
        if cand["email"]:
            state.add_member(cand["email"])
    state.add_member("boss@corp.test", "The Boss")
    hooks = Starlette(routes=[Route("/services/T0/B0/s3cr3t", hook, methods=["POST"])])
    with serve_in_thread(app) as slack_server, serve_in_thread(hooks) as hook_server:
        yield Chat(
            state,
            received,
            {
                "slack_bot_token": SecretStr(workspace.api_key),
                "slack_api_url": f"{slack_server.url}/api/",
                "chat_webhook_url": SecretStr(f"{hook_server.url}/services/T0/B0/s3cr3t"),
            },
        )


async def test_each_person_gets_only_their_links_in_a_dm_and_the_webhook_none(
    world: World, chat: Chat
) -> None:
    ready = [c for c in world.candidates("ready") if c["email"]]
    world.notifier = chat.notifier(world)
    report = await world.advance()
    assert sorted(report.notified) == sorted(c["id"] for c in ready)
    assert report.delivery_failed == {}

    seen_links: set[str] = set()
    for cand in ready:
        [dm] = chat.slack.messages_to(cand["email"])
        member = chat.slack.by_email(cand["email"])
        assert member is not None and dm.members == (member.id,)  # a DM with them alone
        buttons = dm.buttons()
        assert buttons == {
            "Keep my seat": world.mailbox.links(cand["email"])["keep"],
            "Release it": world.mailbox.links(cand["email"])["release"],
        }
        assert not seen_links & set(buttons.values())
        seen_links |= set(buttons.values())
    assert len(chat.slack.messages) == len(ready)
    # the lookups went past the (shrunk) Tier 3 limit: 429s were waited out, nobody lost
    assert "users.lookupByEmail" in chat.slack.rate_limited

    # the shared channel: one summary, no link, no person
    assert [p["text"] for p in chat.hook] == [
        f"{len(ready)} people were asked about idle seats in *Broadcom Rally Unlimited*: "
        "their keep / release links went to each of them directly."
    ]
    everything = json.dumps(chat.hook)
    assert not ANSWER.search(everything)
    assert not any(c["email"] in everything for c in ready)

    # A "keep" by the Slack button works like the email's; the approver gets a DM too.
    kept = ready[0]
    assert (
        follow(chat.slack.messages_to(kept["email"])[0].buttons()["Keep my seat"]).status_code
        == 200
    )
    asked = await world.advance()
    assert asked.approvals_requested == [kept["id"]]
    [approval] = chat.slack.messages_to("boss@corp.test")
    assert f"candidates approve {kept['id']}" in approval.text and approval.buttons() == {}
    assert not ANSWER.search(json.dumps(chat.hook))


async def test_slack_texts_escape_vendor_values(world: World, chat: Chat) -> None:
    cand, long = [c for c in world.candidates("ready") if c["email"]][:2]
    set_email(
        world, cand["id"], cand["email"], name="<!channel> <https://evil.test|Keep my seat> &"
    )
    set_email(world, long["id"], long["email"], name="&" * 300)  # the column's most: x5 escaped
    world.notifier = chat.notifier(world, smtp_host=None)  # Slack only
    report = await world.advance()
    assert report.delivery_failed == {}
    [huge] = chat.slack.messages_to(long["email"])
    assert len(huge.blocks[0]["text"]["text"]) <= 3000 and huge.buttons()
    [dm] = chat.slack.messages_to(cand["email"])
    expected = "&lt;!channel&gt; &lt;https://evil.test|Keep my seat&gt; &amp;"
    assert expected in dm.text and "<!channel>" not in dm.text
    assert dm.blocks[0]["text"]["text"] == dm.text
    assert "<https://evil" not in json.dumps(dm.blocks)


async def test_slack_failures_are_per_person(world: World, chat: Chat) -> None:
    ready = [c for c in world.candidates("ready") if c["email"]]
    stranger, slow = ready[0], ready[1]
    set_email(world, stranger["id"], "stranger@corp.test")  # no Slack account
    world.notifier = chat.notifier(world, smtp_host=None)  # Slack only
    chat.slack.limits["users.lookupByEmail"] = 1000
    report = await world.advance()
    assert (
        "no Slack user has this email address (users_not_found)"
        in report.delivery_failed[stranger["id"]]
    )
    assert world.candidate(stranger["id"]).state == "ready"
    assert set(report.notified) == {c["id"] for c in ready[1:]}
    assert slow["id"] in report.notified

    # A long Retry-After is not waited out: that message fails, the step goes on.
    set_email(world, stranger["id"], stranger["email"])
    chat.slack.force_rate_limit(1, retry_after=600)
    report = await world.advance()
    assert "ratelimited" in report.delivery_failed[stranger["id"]]
    report = await world.advance()  # the next step gets through
    assert report.notified == [stranger["id"]]
    for payload in chat.hook:
        assert not ANSWER.search(json.dumps(payload))


async def test_email_and_slack_together_one_failing_channel_is_noted(
    world: World, chat: Chat
) -> None:
    cand = next(c for c in world.candidates("ready") if c["email"])
    only_mail = "not-on-slack@corp.test"
    set_email(world, cand["id"], only_mail)
    world.notifier = chat.notifier(world)
    report = await world.advance()
    assert cand["id"] in report.notified and cand["id"] not in report.delivery_failed
    assert len(world.mailbox.to(only_mail)) == 1 and chat.slack.messages_to(only_mail) == []
    [why] = audit_why(world, cand["id"], "candidate.awaiting_user")
    assert "by email" in why and "users_not_found" in why
    assert chat.slack.token not in json.dumps(report.delivery_failed) + why
