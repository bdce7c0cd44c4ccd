"""Delivery over real servers: SMTP with STARTTLS (certificate verified) and authentication
(aiosmtpd, trustme), and a Slack-compatible chat webhook (a local HTTP server)."""

from __future__ import annotations

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

from shelfware.notifications.email import DeliveryError, send_email
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
    Notifier(settings).send(Message("notice", ["ada@corp.test"], CONTEXT))
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
        send_email(wrong, ["ada@corp.test"], "s", "t")
    assert PASSWORD not in str(failed.value) and "nope" not in str(failed.value)
    untrusted = settings.model_copy(update={"smtp_ca_file": None})
    with pytest.raises(DeliveryError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        send_email(untrusted, ["ada@corp.test"], "s", "t")
    plain = settings.model_copy(update={"smtp_starttls": False})
    with pytest.raises(DeliveryError):  # the relay requires STARTTLS before anything else
        send_email(plain, ["ada@corp.test"], "s", "t")
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


def test_chat_webhook_posts_slack_compatible_json(webhook, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    received, url, fail = webhook
    notifier = Notifier(Settings(home=tmp_path, chat_webhook_url=url))  # type: ignore[arg-type]
    buttons = {"Keep my seat": CONTEXT["keep_url"], "Release it": CONTEXT["release_url"]}
    assert notifier.send(Message("notice", ["ada@corp.test"], CONTEXT, buttons)) == ["chat"]
    [payload] = received
    assert "*Broadcom Rally Unlimited*" in payload["text"] and "ada@corp.test" in payload["text"]
    section, actions = payload["blocks"]
    assert section["text"] == {"type": "mrkdwn", "text": payload["text"]}
    assert [(b["text"]["text"], b["url"]) for b in actions["elements"]] == list(buttons.items())

    fail["status"] = 500
    with pytest.raises(DeliveryError, match="HTTP 500") as failed:
        notifier.send(Message("notice", [], CONTEXT, buttons))
    assert "secret" not in str(failed.value)  # the webhook URL is a secret


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
