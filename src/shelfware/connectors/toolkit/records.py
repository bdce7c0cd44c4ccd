"""Reading fields of a vendor record strictly: a malformed field is a `RecordError` naming it.

Connectors map raw JSON records to `AccountRecord`s with these helpers; the stream wraps a
`RecordError` with the page it came from, so a bad record fails the download with a message
like "page 3 failed: malformed record: user 123: field CreationDate is not a date: 'x'".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


class RecordError(ValueError):
    """A malformed field in one record."""


def record_of(raw: Any, what: str = "record") -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise RecordError(f"a {what} is not an object: {type(raw).__name__}")
    return raw


def text(raw: Mapping[str, Any], name: str) -> str | None:
    """A text field; empty text is None."""
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"field {name} is not text: {value!r}")
    return value or None


def flag(raw: Mapping[str, Any], name: str, *, required: bool = False) -> bool:
    """A boolean field; absent is False unless `required`."""
    value = raw.get(name)
    if value is None:
        if required:
            raise RecordError(f"field {name} is missing")
        return False
    if not isinstance(value, bool):
        raise RecordError(f"field {name} is not a boolean: {value!r}")
    return value


def identifier(raw: Mapping[str, Any], name: str) -> str:
    """A required id field (text or whole number), as text."""
    value = raw.get(name)
    if value is None or value == "":
        raise RecordError(f"field {name} is missing")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RecordError(f"field {name} is not an id: {value!r}")
    return str(value)


def whole_number(raw: Mapping[str, Any], name: str) -> int:
    """A required whole-number field (e.g. Rally's ObjectID)."""
    value = raw.get(name)
    if value is None:
        raise RecordError(f"field {name} is missing")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RecordError(f"field {name} is not a number: {value!r}")
    try:
        return int(value)
    except ValueError:
        raise RecordError(f"field {name} is not a number: {value!r}") from None


def parse_instant(value: str) -> datetime:
    """An ISO 8601 instant (`2016-05-18T03:59:59.000Z`, offsets, or naive = UTC) as aware UTC."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def instant(raw: Mapping[str, Any], name: str) -> datetime | None:
    """An ISO 8601 date-time field as an aware UTC datetime; absent or empty is None."""
    value = raw.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError(f"field {name} is not a date: {value!r}")
    try:
        return parse_instant(value)
    except ValueError:
        raise RecordError(f"field {name} is not an ISO 8601 date: {value!r}") from None


def latest(*dates: datetime | None) -> datetime | None:
    """The latest of the dates that are present."""
    present = [d for d in dates if d is not None]
    return max(present) if present else None
