"""Text from outside (vendor APIs): made storable once, and shown safely anywhere.

`Cleaner` makes one record's values fit the store before they are staged: control characters
(C0 including NUL, DEL, C1) and lone surrogates removed (PostgreSQL refuses NUL and invalid
UTF-8, and no name, login or address needs them), text longer than its column cut to the
column's length, and instants outside 1970..2999 dropped (read as "unknown"). It counts what it
changed per field and kind (``display_name.truncated``), so a run can say what it cleaned.

`shown` is for terminals and one-line messages: every character that is not printable
(escape sequences, C0/C1 controls, bidirectional overrides, zero-width characters, line
separators) is written as a Python escape (``\\x1b``, ``\\u202e``) instead of being sent.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

# Characters never stored: C0 controls (NUL, ESC, CR, LF, TAB...), DEL, C1 controls, and lone
# surrogates (not encodable as UTF-8).
UNSTORABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)  # exclusive: 2999-12-31T23:59:59.999999 is the last

CONTROL = "control"
TRUNCATED = "truncated"
OUT_OF_RANGE = "out_of_range"


def strip_unstorable(value: str) -> str:
    """``value`` without control characters and lone surrogates."""
    return UNSTORABLE.sub("", value)


def in_range(value: datetime) -> bool:
    """Whether an aware instant is within 1970-01-01 .. 2999-12-31 (UTC)."""
    return EARLIEST <= value < LATEST


class Cleaner:
    """Cleans values field by field and counts what it changed (``counts["email.control"]``)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def text(self, name: str, value: str | None, limit: int | None = None) -> str | None:
        """``value`` without control characters, cut to ``limit`` characters; empty is None.

        The common case (printable and short enough) costs one C-level check."""
        if value is None:
            return None
        if value.isprintable() and (limit is None or len(value) <= limit):
            return value
        if UNSTORABLE.search(value) is not None:
            value = UNSTORABLE.sub("", value)
            self.counts[f"{name}.{CONTROL}"] += 1
        if limit is not None and len(value) > limit:
            value = value[:limit]
            self.counts[f"{name}.{TRUNCATED}"] += 1
        return value or None

    def instant(self, name: str, value: datetime | None) -> datetime | None:
        """``value``, or None when it lies outside 1970..2999 (a vendor's "never" or garbage)."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if in_range(value):
            return value
        self.counts[f"{name}.{OUT_OF_RANGE}"] += 1
        return None

    def usable_key(self, name: str, value: str, limit: int | None = None) -> bool:
        """Whether an identifier can be stored as it is (it is never changed: it addresses the
        object at the vendor). False, counted as ``NAME.unusable``, when it holds a control
        character or is longer than ``limit``."""
        if value.isprintable() and (limit is None or len(value) <= limit):
            return True
        if UNSTORABLE.search(value) is None and (limit is None or len(value) <= limit):
            return True
        self.counts[f"{name}.unusable"] += 1
        return False

    def merge(self, other: Counter[str] | dict[str, int]) -> None:
        self.counts.update(other)

    def as_dict(self) -> dict[str, int]:
        """The counts, sorted by key (what a run record stores)."""
        return {key: self.counts[key] for key in sorted(self.counts) if self.counts[key]}


# --------------------------------------------------------------------------- showing text

_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def shown(value: str) -> str:
    """``value`` safe for a terminal: every non-printable character (controls, escape
    sequences, bidirectional overrides, zero-width and line-separator characters) as an escape.
    Plain spaces stay; other spacing characters are escaped too (they can hide text)."""
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else _escape(c) for c in value)
