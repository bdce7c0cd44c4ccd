"""Field mapping for custom specs: a `FieldSpec` read from a raw record, transformed with the
closed list of transforms. A value that does not fit is a `RecordError` naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from shelfware.connectors.custom.spec import FieldSpec
from shelfware.connectors.toolkit.names import normalise_name
from shelfware.connectors.toolkit.records import RecordError, parse_instant
from shelfware.connectors.toolkit.selectors import MISSING, JsonPath

TRANSFORMS = {"lower": str.lower, "upper": str.upper, "trim": str.strip}
_TRUE = frozenset({"true", "yes", "1", "on", "active", "enabled"})
_FALSE = frozenset({"false", "no", "0", "off", "inactive", "disabled"})


@lru_cache(maxsize=1024)
def _path(text: str) -> JsonPath:
    return JsonPath.parse(text)


def raw_value(spec: FieldSpec, record: Any) -> Any:
    """The value before transforms: at `path`, the first present of `coalesce`, or `const`."""
    if spec.const is not None:
        return spec.const
    for text in [spec.path] if spec.path is not None else (spec.coalesce or []):
        found = _path(text).find(record)
        if found is not MISSING and found is not None and found != "":
            return found
    return None


def _map_key(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@lru_cache(maxsize=256)
def _table(items: tuple[tuple[str, str | bool], ...]) -> dict[str, str | bool]:
    """A spec's map keyed by normalised vendor names (case, spaces, hyphens, underscores)."""
    return {normalise_name(k): v for k, v in items}


def mapped(spec: FieldSpec, value: Any) -> str | bool | None:
    """The map's value for a vendor value (None: not in the map)."""
    key = _map_key(value)
    table = spec.map or {}
    if key in table:
        return table[key]
    return _table(tuple(table.items())).get(normalise_name(key))


def text_value(spec: FieldSpec | None, record: Any, name: str) -> str | None:
    if spec is None:
        return None
    value = raw_value(spec, record)
    if spec.map is not None and value is not None:
        found = mapped(spec, value)
        value = (
            found if found is not None else (spec.default if spec.default is not None else value)
        )
    if value is None:
        value = spec.default
    if value is None:
        return None
    if isinstance(value, dict | list):
        raise RecordError(f"field {name} is not a single value: {value!r}")
    text = str(value)
    for transform in spec.transform:
        text = (
            text.lower()
            if transform == "lower"
            else text.upper()
            if transform == "upper"
            else text.strip()
        )
    return text or None


class Unmapped(RecordError):
    """A present value the spec's map does not list (never guessed for admin and active)."""

    def __init__(self, name: str, value: Any) -> None:
        super().__init__(f"field {name}: {value!r} is not in the spec's map")
        self.value = value


def bool_value(spec: FieldSpec | None, record: Any, name: str, default: bool) -> bool:
    """A boolean field; a present value the map does not list raises `Unmapped` (the spec's
    `default` is for absent values only)."""
    if spec is None:
        return default
    value = raw_value(spec, record)
    if spec.map is not None and value is not None:
        found = mapped(spec, value)
        if found is None:
            raise Unmapped(name, value)
        value = found
    if value is None:
        value = spec.default if spec.default is not None else default
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise RecordError(f"field {name} is not a boolean: {value!r}")


def instant_value(spec: FieldSpec | None, record: Any, name: str) -> datetime | None:
    if spec is None:
        return None
    if spec.latest is not None:
        found = [_path(text).find(record) for text in spec.latest]
        parsed = [
            _instant(spec, value, name) for value in found if value not in (MISSING, None, "")
        ]
        return max(parsed) if parsed else None
    value = raw_value(spec, record)
    if value is None:
        return None
    return _instant(spec, value, name)


def _instant(spec: FieldSpec, value: Any, name: str) -> datetime:
    fmt = spec.format or "iso8601"
    try:
        if fmt in ("epoch_seconds", "epoch_millis"):
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            return datetime.fromtimestamp(number / (1000 if fmt == "epoch_millis" else 1), UTC)
        if not isinstance(value, str):
            raise ValueError
        if fmt == "iso8601":
            return parse_instant(value)
        parsed = datetime.strptime(value, fmt)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise RecordError(f"field {name} is not a {fmt} date: {value!r}") from None


def format_instant(value: datetime, fmt: str) -> str:
    """An instant as an activity request's `{cursor.start}` (the spec's cursor_format)."""
    value = value.astimezone(UTC)
    if fmt == "epoch_seconds":
        return str(int(value.timestamp()))
    if fmt == "epoch_millis":
        return str(int(value.timestamp() * 1000))
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
