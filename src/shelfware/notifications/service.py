"""Sending messages: a person's message by their own channels, summaries to the shared chat.

A ``Message`` goes to ONE person, by every personal channel configured: email (SMTP) and a
Slack direct message (a bot token). Its address is parsed first (``kit.addresses``): text
that is not exactly one valid address raises ``BadAddress`` and nothing is sent. The person's
keep / release links travel only there.

The shared chat webhook (``SHELFWARE_CHAT_WEBHOOK_URL``) is a channel many people read: it only
ever gets a summary (``announce``: how many people were asked, reminded... in which app),
never a person's message or link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shelfware.kit.addresses import EmailAddressError, parse_email
from shelfware.notifications.chat import chat_payload, post_webhook
from shelfware.notifications.email import BadAddress, DeliveryError, send_email
from shelfware.notifications.slack import SlackDirect
from shelfware.notifications.templates import Rendered, Templates
from shelfware.settings import Settings

__all__ = ["BadAddress", "Delivery", "DeliveryError", "Message", "Notifier", "checked_address"]


@dataclass(frozen=True)
class Message:
    template: str  # notice | reminder | approval | renewal
    to: str  # one person's email address, as the vendor or directory gave it
    context: dict[str, Any]
    buttons: dict[str, str] = field(default_factory=dict)  # Slack DM: label -> url


@dataclass(frozen=True)
class Delivery:
    """Where one message went: the parsed address, the channels that took it, and what
    failed on the others (the message was delivered when ``channels`` is not empty)."""

    address: str
    channels: tuple[str, ...]
    problems: tuple[str, ...] = ()

    def describe(self) -> str:
        said = f"{self.address} by {' and '.join(self.channels)}"
        return said + (f" ({'; '.join(self.problems)})" if self.problems else "")


def checked_address(text: str | None) -> str:
    """One valid address (normalised), or BadAddress saying "no valid email address"."""
    try:
        return parse_email(text)
    except EmailAddressError as exc:
        raise BadAddress(f"no valid email address: {exc}") from None


class Notifier:
    """Renders a message from the templates and hands it to the person's channels."""

    def __init__(
        self,
        settings: Settings,
        *,
        email: Callable[..., str] = send_email,
        chat: Callable[[str, dict[str, Any]], None] = post_webhook,
        slack: SlackDirect | None = None,
    ) -> None:
        self.settings = settings
        self.templates = Templates(settings.templates_dir)
        self._email = email
        self._chat = chat
        self._slack = slack
        if slack is None and settings.slack_bot_token is not None:
            self._slack = SlackDirect(
                settings.slack_bot_token.get_secret_value(), settings.slack_api_url
            )

    @property
    def channels(self) -> list[str]:
        """The personal channels configured (the chat webhook is not one)."""
        return (["email"] if self.settings.smtp_host else []) + (
            ["slack"] if self._slack is not None else []
        )

    @property
    def configured(self) -> bool:
        """People can be reached (email or Slack direct messages)."""
        return bool(self.channels)

    def render(self, message: Message) -> Rendered:
        return self.templates.render(message.template, message.context)

    def send(self, message: Message) -> Delivery:
        """Send to the one person by each personal channel. Raises BadAddress (nothing sent)
        when ``message.to`` is not exactly one valid address, DeliveryError when no channel
        is configured or none took the message."""
        if not self.configured:
            raise DeliveryError(
                "no channel reaches people: set SHELFWARE_SMTP_HOST (email) or "
                "SHELFWARE_SLACK_BOT_TOKEN (Slack direct messages); the chat webhook only "
                "gets summaries"
            )
        address = checked_address(message.to)
        rendered = self.render(message)
        used: list[str] = []
        problems: list[str] = []
        if self.settings.smtp_host:
            try:
                self._email(self.settings, address, rendered.subject, rendered.text, rendered.html)
                used.append("email")
            except DeliveryError as exc:
                problems.append(str(exc))
        if self._slack is not None:
            try:
                self._slack.send(
                    address, rendered.chat, chat_payload(rendered.chat, message.buttons)["blocks"]
                )
                used.append("slack")
            except DeliveryError as exc:
                problems.append(str(exc))
        if not used:
            raise DeliveryError("; ".join(problems))
        return Delivery(address, tuple(used), tuple(problems))

    def announce(self, event: str, counts: dict[str, int]) -> list[str]:
        """Post a summary per app (``{app: how many}``) to the shared chat webhook, when one
        is configured: counts and app names only, never a link. Returns what failed."""
        if self.settings.chat_webhook_url is None:
            return []
        url = self.settings.chat_webhook_url.get_secret_value()
        failed = []
        for app, count in sorted(counts.items()):
            if count <= 0:
                continue
            text = self.templates.render_chat(
                "summary", {"event": event, "app": app, "count": count}
            )
            try:
                self._chat(url, chat_payload(text, {}))
            except DeliveryError as exc:
                failed.append(f"{event} summary for {app}: {exc}")
        return failed
