"""Email addresses from untrusted text: exactly one address, or a clear refusal.

``parse_email`` accepts one bare address (``local@domain``) and nothing else: no display
name, no angle brackets, no list, no quoted local part, no domain literal, no control
character, no blank around it. What comes back is the normalised address (the domain in
lower case, IDNA domains in their Unicode form) to hand to a mail library as ONE recipient:
never paste untrusted text into a header.

Syntax only (`email-validator`, no DNS lookup). Special-use domains (``.local``,
``.localhost``, ``.invalid``, ``.onion``, ``.arpa``) are refused; ``.test`` is accepted
(test and demo organisations use it) and so are dotless intranet domains.
"""

from __future__ import annotations

from collections.abc import Iterable

from email_validator import EmailNotValidError, validate_email

MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit, minus the brackets


class EmailAddressError(ValueError):
    """Not exactly one valid email address; the message says why (never echoes the text)."""


def parse_email(text: object) -> str:
    """The one address ``text`` holds, normalised; raises EmailAddressError otherwise."""
    if not isinstance(text, str) or not text:
        raise EmailAddressError("no email address")
    if len(text) > MAX_EMAIL_LENGTH:
        raise EmailAddressError(f"longer than {MAX_EMAIL_LENGTH} characters")
    try:
        checked = validate_email(
            text,
            check_deliverability=False,  # syntax only: no DNS from a workflow step
            test_environment=True,  # accept the reserved .test names of test organisations
            globally_deliverable=False,  # intranet domains are fine
            allow_display_name=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_empty_local=False,
        )
    except EmailNotValidError as exc:
        # email-validator names bad characters by code point (U+000A), never raw
        raise EmailAddressError(str(exc)) from None
    return str(checked.normalized)


def is_email(text: object) -> bool:
    try:
        parse_email(text)
    except EmailAddressError:
        return False
    return True


def parse_emails(texts: Iterable[object]) -> tuple[list[str], list[str]]:
    """Each text as one address: (the valid ones, normalised and without repeats; why each
    other one was refused)."""
    valid: list[str] = []
    refused: list[str] = []
    for text in texts:
        try:
            address = parse_email(text)
        except EmailAddressError as exc:
            refused.append(str(exc))
            continue
        if address not in valid:
            valid.append(address)
    return valid, refused
