"""Email over SMTP: STARTTLS (verified) and authentication when configured.

One message, one recipient: the address is parsed (``kit.addresses``) into an
``email.headerregistry.Address`` and handed to SMTP as the only envelope recipient, so no
text from a vendor ever becomes a header or a second recipient.
"""

from __future__ import annotations

import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid

from shelfware.kit.addresses import EmailAddressError, parse_email
from shelfware.settings import Settings

SMTP_TIMEOUT_S = 30


class DeliveryError(Exception):
    """A message could not be handed over; the message says to whom and why."""


class BadAddress(DeliveryError):
    """The recipient is not exactly one valid email address: no message was sent."""


def recipient(text: str) -> Address:
    """``text`` as one address, or BadAddress (the text itself is never echoed)."""
    try:
        address = parse_email(text)
    except EmailAddressError as exc:
        raise BadAddress(f"no valid email address: {exc}") from None
    local, _, domain = address.rpartition("@")
    return Address(username=local, domain=domain)


def send_email(
    settings: Settings, to: str, subject: str, text: str, html: str | None = None
) -> str:
    """Send one message to one address; returns its Message-ID. Raises BadAddress before
    anything is sent when ``to`` is not exactly one valid address, DeliveryError when the
    server refuses or cannot be reached."""
    if not settings.smtp_host:
        raise DeliveryError("no SMTP server configured (set SHELFWARE_SMTP_HOST)")
    address = recipient(to)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = address
    message["Subject"] = " ".join(subject.split())  # one line, whatever it held
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
            # the envelope names the one parsed address, not whatever the headers say
            smtp.send_message(message, to_addrs=[address.addr_spec])
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(
            f"email to {address.addr_spec} via {settings.smtp_host}:{settings.smtp_port} "
            f"failed: {type(exc).__name__}: {exc}"
        ) from exc
    return str(message["Message-ID"])
