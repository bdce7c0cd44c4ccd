"""Email over SMTP: STARTTLS (verified) and authentication when configured."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from shelfware.settings import Settings

SMTP_TIMEOUT_S = 30


class DeliveryError(Exception):
    """A message could not be handed over; the message says to whom and why."""


def send_email(
    settings: Settings, to: list[str], subject: str, text: str, html: str | None = None
) -> str:
    """Send one message; returns its Message-ID."""
    if not settings.smtp_host:
        raise DeliveryError("no SMTP server configured (set SHELFWARE_SMTP_HOST)")
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="shelfware")
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_S) as smtp:
            smtp.ehlo()
            if settings.smtp_starttls:
                context = ssl.create_default_context(
                    cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None
                )
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.smtp_username:
                password = (
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                )
                smtp.login(settings.smtp_username, password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(
            f"email to {', '.join(to)} via {settings.smtp_host}:{settings.smtp_port} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return str(message["Message-ID"])
