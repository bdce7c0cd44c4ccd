"""Record selection: where in a JSON body the records (and other values) are.

A `JsonPath` is a small, closed subset of JSONPath, enough for every admin API we know and safe
in a declarative spec (no filters, no scripts):

    $                      the body itself
    $.QueryResult.Results  object members (the leading `$.` is optional)
    $['odd key']           bracketed member names
    $.data[0]              a list index
    $.data[*].user         every element of a list

`find` returns the value a path points to (or `MISSING`); a path with `[*]` returns a list of
the values it reaches. `RecordSelector` turns a body into its list of records and says clearly
when the body does not have the expected shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

_WILDCARD: Final = object()
_TOKEN = re.compile(
    r"""\.(?P<name>[A-Za-z_$@][\w$@-]*)     # .name
      | \[\s*(?P<index>-?\d+)\s*\]           # [0]
      | \[\s*(?P<star>\*)\s*\]               # [*]
      | \.(?P<dotstar>\*)                    # .*
      | \[\s*'(?P<single>(?:[^'\\]|\\.)*)'\s*\]   # ['key']
      | \[\s*"(?P<double>(?:[^"\\]|\\.)*)"\s*\]   # ["key"]
    """,
    re.VERBOSE,
)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


class PathError(ValueError):
    """A path expression is not in the supported JSONPath subset."""


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A parsed path; build one with `JsonPath.parse`."""

    text: str
    steps: tuple[str | int | object, ...]

    @classmethod
    def parse(cls, text: str) -> JsonPath:
        source = text.strip()
        if not source:
            raise PathError("a path is empty; use '$' for the whole body")
        rest = source[1:] if source.startswith("$") else "." + source
        steps: list[str | int | object] = []
        position = 0
        while position < len(rest):
            match = _TOKEN.match(rest, position)
            if match is None:
                raise PathError(
                    f"path {text!r}: cannot read {rest[position:]!r} (supported: $, .name, "
                    "['name'], [index], [*])"
                )
            if match["name"] is not None:
                steps.append(match["name"])
            elif match["index"] is not None:
                steps.append(int(match["index"]))
            elif match["star"] is not None or match["dotstar"] is not None:
                steps.append(_WILDCARD)
            else:
                quoted = match["single"] if match["single"] is not None else match["double"]
                steps.append(re.sub(r"\\(.)", r"\1", quoted))
            position = match.end()
        return cls(source, tuple(steps))

    @property
    def is_root(self) -> bool:
        return not self.steps

    @property
    def has_wildcard(self) -> bool:
        return any(step is _WILDCARD for step in self.steps)

    def find(self, data: Any) -> Any:
        """The value at this path, `MISSING` if absent; a list of values if it has `[*]`."""
        return _walk(data, self.steps)

    def __str__(self) -> str:
        return self.text


def _walk(data: Any, steps: tuple[str | int | object, ...]) -> Any:
    current = data
    for position, step in enumerate(steps):
        if step is _WILDCARD:
            if isinstance(current, Mapping):
                items = list(current.values())
            elif isinstance(current, list):
                items = current
            else:
                return MISSING
            rest = steps[position + 1 :]
            found = [_walk(item, rest) for item in items]
            return [value for value in found if value is not MISSING]
        if isinstance(step, int):
            if not isinstance(current, list) or not -len(current) <= step < len(current):
                return MISSING
            current = current[step]
        elif isinstance(current, Mapping) and step in current:
            current = current[step]
        else:
            return MISSING
    return current


def path(text: str | JsonPath) -> JsonPath:
    """A `JsonPath` from text (or the path itself)."""
    return text if isinstance(text, JsonPath) else JsonPath.parse(text)


class SelectionError(ValueError):
    """The body does not hold records where the selector looks."""


@dataclass(frozen=True, slots=True)
class RecordSelector:
    """The records of a page: the list at `records` in the body (`$` for a bare array)."""

    records: JsonPath
    allow_missing: bool = False  # a missing list is an empty page (some APIs omit it)

    @classmethod
    def at(cls, text: str, *, allow_missing: bool = False) -> RecordSelector:
        return cls(JsonPath.parse(text), allow_missing)

    def select(self, body: Any) -> list[Any]:
        found = self.records.find(body)
        if found is MISSING or found is None:
            if self.allow_missing:
                return []
            raise SelectionError(f"the response has no {self.records} (expected a list of records)")
        if not isinstance(found, list):
            raise SelectionError(
                f"{self.records} in the response is {type(found).__name__}, not a list of records"
            )
        return found


def integer_at(body: Any, where: JsonPath) -> int | None:
    """An integer count at `where` (e.g. a reported total); None if absent; raises if not one."""
    found = where.find(body)
    if found is MISSING or found is None:
        return None
    if isinstance(found, bool) or not isinstance(found, int | str):
        raise SelectionError(f"{where} in the response is not a count: {found!r}")
    try:
        value = int(found)
    except ValueError:
        raise SelectionError(f"{where} in the response is not a count: {found!r}") from None
    if value < 0:
        raise SelectionError(f"{where} in the response is negative: {value}")
    return value
