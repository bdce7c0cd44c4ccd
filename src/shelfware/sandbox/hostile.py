"""The hostile-vendor fixture (fault ``hostile=1``, Rally sandbox): each value a vendor could
send that once broke a sync, a terminal, a spreadsheet, a chat message or an email, on an idle
account of its own (one account per value), so an end-to-end run shows each is handled.

The accounts are the first enabled users with no admin permission ("Workspace User"); each
is made idle (last login 120 days ago, created 400 days ago) and gets a valid email of its own,
unless its value is the email. ``HOSTILE`` names every value; `apply_hostile` returns which
user got it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .org import Organisation, SyntheticUser

LONG_NAME = "Dr. " + "Very Long Name " * 1333 + "End"  # 20,002 characters
ANSI = "\x1b[31mRed\x1b[0m \x1b]0;pwned\x07\x1b[2J \u202eevil.exe"
CRLF_EMAIL = "victim@example.com\r\nBcc: attacker@evil.example"
TWO_EMAILS = "first@example.com,attacker@evil.example"
YEAR_1500 = datetime(1500, 1, 1, tzinfo=UTC)
YEAR_9999 = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@dataclass(frozen=True)
class Hostile:
    key: str
    what: str
    apply: Callable[[SyntheticUser], None]
    # whether the account keeps a valid address (else it must end "no valid email address")
    valid_email: bool = True


def _set(**values: object) -> Callable[[SyntheticUser], None]:
    def apply(user: SyntheticUser) -> None:
        for name, value in values.items():
            setattr(user, name, value)

    return apply


HOSTILE: tuple[Hostile, ...] = (
    Hostile(
        "nul",
        "NUL in the name",
        _set(display_name="Nul\x00Name", username="nul\x00user@example.com"),
    ),
    Hostile("long_name", "a 20,000-character display name", _set(display_name=LONG_NAME)),
    Hostile("markup", "a username Rich reads as markup", _set(username="[/bold]x")),
    Hostile(
        "slack",
        "Slack mrkdwn: a channel mention and a disguised link",
        _set(username="<!channel>", display_name="<https://evil.example|Keep my seat>"),
    ),
    Hostile(
        "ansi",
        "terminal escape sequences and a bidi override",
        _set(display_name=ANSI, username="ansi\x1b[2J\x1b[H\u202euser@example.com"),
    ),
    Hostile(
        "csv_formula",
        "a CSV formula",
        _set(display_name='=HYPERLINK("https://evil.example","Keep my seat")'),
    ),
    Hostile("csv_at", "a CSV formula with @", _set(display_name="@SUM(1)", username="-2+3")),
    Hostile(
        "year_1500",
        "last activity in the year 1500",
        _set(last_login_date=YEAR_1500, last_active_date=YEAR_1500),
    ),
    Hostile(
        "year_9999",
        "last activity in the year 9999",
        _set(last_login_date=YEAR_9999, last_active_date=None),
    ),
    Hostile(
        "email_crlf",
        "an email with CR/LF and a Bcc header",
        _set(email=CRLF_EMAIL),
        valid_email=False,
    ),
    Hostile(
        "email_two",
        "an email holding two addresses",
        _set(email=TWO_EMAILS),
        valid_email=False,
    ),
    Hostile(
        "url_name",
        "a name with /, ? and #",
        _set(display_name="R&D / Q?A #1", username="a/b?c#d@example.com"),
    ),
)


def apply_hostile(org: Organisation) -> dict[str, SyntheticUser]:
    """Put each hostile value on an idle account of its own; returns key -> user."""
    eligible = [
        u
        for u in org.users[1:]
        if not u.disabled and not u.subscription_admin and u.permission == "Workspace User"
    ]
    if len(eligible) < len(HOSTILE):
        raise ValueError(
            f"fault 'hostile' needs {len(HOSTILE)} enabled non-admin users (Workspace User); "
            f"the organisation has {len(eligible)} (use more users)"
        )
    chosen: dict[str, SyntheticUser] = {}
    for item, user in zip(HOSTILE, eligible, strict=False):
        user.email = user.username  # a valid address of its own
        user.creation_date = org.now - timedelta(days=400)
        user.last_login_date = org.now - timedelta(days=120)
        user.last_active_date = None
        item.apply(user)
        chosen[item.key] = user
    org.by_id = {u.object_id: u for u in org.users}
    return chosen
