"""Sending one message through every configured channel (email, chat webhook)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shelfware.notifications.chat import chat_payload, post_webhook
from shelfware.notifications.email import DeliveryError, send_email
from shelfware.notifications.templates import Rendered, Templates
from shelfware.settings import Settings

__all__ = ["DeliveryError", "Message", "Notifier"]


@dataclass(frozen=True)
class Message:
    template: str  # notice | reminder | approval
    to: list[str]
    context: dict[str, Any]
    buttons: dict[str, str] = field(default_factory=dict)  # chat: label -> url


class Notifier:
    """Renders a message from the templates and hands it to email and/or the chat webhook."""

    def __init__(
        self,
        settings: Settings,
        *,
        email: Callable[..., str] = send_email,
        chat: Callable[[str, dict[str, Any]], None] = post_webhook,
    ) -> None:
        self.settings = settings
        self.templates = Templates(settings.templates_dir)
        self._email = email
        self._chat = chat

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host or self.settings.chat_webhook_url)

    def render(self, message: Message) -> Rendered:
        return self.templates.render(message.template, message.context)

    def send(self, message: Message) -> list[str]:
        """Send by every configured channel; returns the channels used. Raises DeliveryError
        when no channel is configured or a channel fails."""
        if not self.configured:
            raise DeliveryError(
                "no notification channel configured: set SHELFWARE_SMTP_HOST or "
                "SHELFWARE_CHAT_WEBHOOK_URL"
            )
        rendered = self.render(message)
        used = []
        if self.settings.smtp_host and message.to:
            self._email(self.settings, message.to, rendered.subject, rendered.text, rendered.html)
            used.append("email")
        if self.settings.chat_webhook_url:
            url = self.settings.chat_webhook_url.get_secret_value()
            self._chat(url, chat_payload(rendered.chat, message.buttons))
            used.append("chat")
        if not used:
            raise DeliveryError("the message has no recipient for the configured channels")
        return used
