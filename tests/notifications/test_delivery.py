"""Delivery over real servers: SMTP with STARTTLS (certificate verified) and authentication
(aiosmtpd, trustme), and a Slack-compatible chat webhook (a local HTTP server) that only ever
gets summaries."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shelfware.notifications.email import BadAddress, DeliveryError, send_email
from shelfware.notifications.service import Message, Notifier
from shelfware.notifications.templates import TemplateProblem, Templates
from shelfware.sandbox.server import serve_in_thread
from shelfware.settings import Settings
from tests.reclamation.conftest import free_port

PASSWORD = "mail-relay-pw-123"
CONTEXT = {
    "candidate_id": 7,
    "name": "Ada <Lovelace>",
    "username": "ada",
    "email": "ada@corp.test",
    "app": "Broadcom Rally Unlimited",
    "profile": "rally",
    "last_activity": "2026-08-01",
    "inactive_days": 111,
    "deadline": "2026-11-27",
    "saving": "360.00",
    "keep_url": "http://127.0.0.1:8000/answer/K",
    "release_url": "http://127.0.0.1:8000/answer/R",
}


class Relay:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == PASSWORD.encode()
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.fixture
def tls_relay(tmp_path: Path) -> Iterator[tuple[Relay, Settings]]:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    relay = Relay()
    port = free_port()
    controller = Controller(
        relay,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context,
        require_starttls=True,
        authenticator=relay.authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    settings = Settings(
        home=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=True,
        smtp_ca_file=ca_file,
        smtp_username="shelfware",
        smtp_password=PASSWORD,  # type: ignore[arg-type]
        mail_from="it@corp.test",
    )
    yield relay, settings
    controller.stop()


def test_email_goes_over_starttls_with_auth(tls_relay: tuple[Relay, Settings]) -> None:
    relay, settings = tls_relay
    Notifier(settings).send(Message("notice", "ada@corp.test", CONTEXT))
    [message] = relay.messages
    assert relay.logins == ["shelfware"]
    assert message["From"] == "it@corp.test" and message["To"] == "ada@corp.test"
    assert message["Subject"] == "Do you still need your Broadcom Rally Unlimited seat?"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert CONTEXT["keep_url"] in text and CONTEXT["release_url"] in text
    assert "Ada <Lovelace>" in text and "Ada &lt;Lovelace&gt;" in html  # HTML is escaped
    assert f'href="{CONTEXT["keep_url"]}"' in html


def test_a_wrong_password_or_an_untrusted_certificate_fails_cleanly(
    tls_relay: tuple[Relay, Settings],
) -> None:
    relay, settings = tls_relay
    wrong = settings.model_copy(update={"smtp_password": SecretStr("nope")})
    with pytest.raises(DeliveryError, match="SMTPAuthenticationError") as failed:
        send_email(wrong, "ada@corp.test", "s", "t")
    assert PASSWORD not in str(failed.value) and "nope" not in str(failed.value)
    untrusted = settings.model_copy(update={"smtp_ca_file": None})
    with pytest.raises(DeliveryError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        send_email(untrusted, "ada@corp.test", "s", "t")
    plain = settings.model_copy(update={"smtp_starttls": False})
    with pytest.raises(DeliveryError):  # the relay requires STARTTLS before anything else
        send_email(plain, "ada@corp.test", "s", "t")
    assert relay.messages == []


@pytest.fixture
def webhook() -> Iterator[tuple[list[Any], str, Any]]:
    received: list[Any] = []
    fail = {"status": 200}

    async def hook(request: Request) -> JSONResponse:
        received.append(await request.json())
        return JSONResponse({"ok": fail["status"] == 200}, fail["status"])

    with serve_in_thread(
        Starlette(routes=[Route("/hooks/T0/B0/secret", hook, methods=["POST"])])
    ) as server:
        yield received, f"{server.url}/hooks/T0/B0/secret", fail


def test_the_chat_webhook_gets_summaries_never_a_persons_message_or_link(  # type: ignore[no-untyped-def]
    webhook, tls_relay: tuple[Relay, Settings]
) -> None:
    """Before: every person's message, with its keep / release buttons, was posted to the
    shared webhook. Now the person's message goes by email only; the webhook gets counts."""
    received, url, fail = webhook
    relay, mail = tls_relay
    notifier = Notifier(mail.model_copy(update={"chat_webhook_url": SecretStr(url)}))
    buttons = {"Keep my seat": CONTEXT["keep_url"], "Release it": CONTEXT["release_url"]}
    sent = notifier.send(Message("notice", "ada@corp.test", CONTEXT, buttons))
    assert sent.channels == ("email",) and received == []
    assert len(relay.messages) == 1

    assert notifier.announce("asked", {"Broadcom <Rally> & co": 12, "Asana": 1}) == []
    texts = [p["text"] for p in received]
    assert texts == [
        "1 person was asked about idle seats in *Asana*: their keep / release links went to "
        "each of them directly.",
        "12 people were asked about idle seats in *Broadcom &lt;Rally&gt; &amp; co*: their "
        "keep / release links went to each of them directly.",
    ]
    for payload in received:
        assert "/answer/" not in json.dumps(payload)
        assert [b["type"] for b in payload["blocks"]] == ["section"]  # no buttons

    fail["status"] = 500
    [problem] = notifier.announce("reminded", {"Asana": 2})
    assert "HTTP 500" in problem and "secret" not in problem  # the webhook URL is a secret


def test_only_a_webhook_reaches_nobody(tmp_path: Path) -> None:
    notifier = Notifier(Settings(home=tmp_path, chat_webhook_url="http://127.0.0.1:9/x"))  # type: ignore[arg-type]
    assert not notifier.configured
    with pytest.raises(DeliveryError, match="only gets summaries"):
        notifier.send(Message("notice", "ada@corp.test", CONTEXT))


HOSTILE_ADDRESSES = [
    "ada@corp.test\r\nBcc: evil@x.com",
    "ada@corp.test\nBcc: evil@x.com",
    "ada@corp.test, evil@x.com",
    "ada@corp.test;evil@x.com",
    "<evil@x.com>",
    "Ada <evil@x.com>",
    '"evil@x.com"@corp.test',
    "evil@[127.0.0.1]",
    " ada@corp.test",
    "",
]


@pytest.mark.parametrize("hostile", HOSTILE_ADDRESSES)
def test_anything_but_one_address_is_refused_before_smtp(
    tls_relay: tuple[Relay, Settings], hostile: str
) -> None:
    """Before: the To header was the vendor's text joined by commas, and SMTP took its
    recipients from it (a comma mailed a second address; CR/LF raised ValueError)."""
    relay, settings = tls_relay
    with pytest.raises(BadAddress, match="no valid email address") as refused:
        Notifier(settings).send(Message("notice", hostile, CONTEXT))
    assert "evil" not in str(refused.value) and "\n" not in str(refused.value)
    with pytest.raises(BadAddress):
        send_email(settings, hostile, "s", "t")
    assert relay.messages == [] and relay.logins == []


def test_one_message_names_one_recipient(tls_relay: tuple[Relay, Settings]) -> None:
    relay, settings = tls_relay
    send_email(settings, "Ada.Lovelace@Corp.TEST", "a\r\nBcc: evil@x.com", "t")
    [message] = relay.messages
    assert message["To"] == "Ada.Lovelace@corp.test"
    assert message["Bcc"] is None and message["Subject"] == "a Bcc: evil@x.com"


def test_chat_templates_escape_mrkdwn_in_every_vendor_value(tmp_path: Path) -> None:
    """Before: a display name ``<!channel>`` pinged everyone and ``<https://evil|Keep my
    seat>`` became a link in the chat text."""
    hostile = dict(
        CONTEXT,
        name="<!channel> & <https://evil.test|Keep my seat>",
        username="<@U123>",
        app="A > B",
        email="x@corp.test",
    )
    for message in ("notice", "reminder", "approval"):
        chat = Templates().render(message, hostile).chat
        assert "<" not in chat and ">" not in chat, chat
        assert "&lt;!channel&gt; &amp; &lt;https://evil.test|Keep my seat&gt;" in chat
    assert "&lt;@U123&gt;" in Templates().render("notice", hostile).chat


def test_no_channel_configured_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="SHELFWARE_SMTP_HOST"):
        Notifier(Settings(home=tmp_path)).send(Message("notice", ["a@b.c"], CONTEXT))


def test_admins_override_templates_in_the_data_directory(tmp_path: Path) -> None:
    (tmp_path / "notice.subject.txt").write_text("[IT] {{ app }}: still needed?\n")
    rendered = Templates(tmp_path).render("notice", CONTEXT)
    assert rendered.subject == "[IT] Broadcom Rally Unlimited: still needed?"
    assert CONTEXT["keep_url"] in rendered.text  # the other parts stay the packaged ones


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("{{ app ", "notice.txt"),  # syntax error
        ("{{ nobody }}", "nobody"),  # unknown variable
        ("{{ app.__class__.__mro__ }}", "unsafe"),  # the sandbox refuses internals
    ],
)
def test_broken_or_unsafe_templates_are_refused(tmp_path: Path, source: str, words: str) -> None:
    (tmp_path / "notice.txt").write_text(source)
    with pytest.raises(TemplateProblem, match=r"notice\.txt") as refused:
        Templates(tmp_path).render("notice", CONTEXT)
    assert words in str(refused.value)
