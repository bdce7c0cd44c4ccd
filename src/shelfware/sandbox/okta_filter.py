"""Okta's filter expressions: ``status eq "ACTIVE" and lastUpdated gt "2025-01-01T00:00:00Z"``.

Grammar: ``term (and|or term)*`` with ``and`` binding tighter than ``or``; a term is ``(expr)``
or a comparison ``attribute op "value"`` (op one of ``eq, ne, gt, ge, lt, le, sw``) or
``attribute pr``. There is no ``not``, as in Okta's filters.
Strings compare case-insensitively; dates (values that parse as ISO 8601) compare as instants.
Each endpoint passes the attributes it allows; anything else raises :class:`FilterError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

Getter = Callable[[Any], Iterable[Any]]  # the values of an attribute on a record (any may match)
Predicate = Callable[[Any], bool]

_TOKEN = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|([A-Za-z_][\w.]*))')
_OPS = {"eq", "ne", "gt", "ge", "lt", "le", "sw", "pr"}


class FilterError(ValueError):
    """A filter Okta would reject."""


def parse_time(text: str) -> datetime:
    """An ISO 8601 instant (``Z`` or an offset); raises ValueError when it is not one."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return value


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FilterError(f"unexpected text at position {pos}: {text[pos : pos + 20]!r}")
        if m.group(1):
            out.append(("(", "("))
        elif m.group(2):
            out.append((")", ")"))
        elif m.group(3) is not None:
            out.append(("str", m.group(3).replace('\\"', '"')))
        else:
            out.append(("word", m.group(4)))
        pos = m.end()
    return out


def _compare(op: str, actual: Any, wanted: str) -> bool:
    if actual is None:
        return False
    if isinstance(actual, datetime):
        left: Any = actual
        right: Any = parse_time(wanted)
    else:
        left, right = str(actual).lower(), wanted.lower()
    if op == "sw":
        return isinstance(left, str) and left.startswith(right)
    return bool(
        {
            "eq": left == right,
            "ne": left != right,
            "gt": left > right,
            "ge": left >= right,
            "lt": left < right,
            "le": left <= right,
        }[op]
    )


def compile_filter(
    text: str, attributes: dict[str, Getter], dates: frozenset[str] = frozenset()
) -> Predicate:
    """Compile a filter over the given attributes (``dates``: those holding instants)."""
    tokens = _tokens(text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise FilterError("the filter ends too early")
        pos += 1
        return tokens[pos - 1]

    def word(tok: tuple[str, str] | None, *values: str) -> bool:
        return tok is not None and tok[0] == "word" and tok[1].lower() in values

    def expr() -> Predicate:
        parts = [conj()]
        while word(peek(), "or"):
            take()
            parts.append(conj())
        return parts[0] if len(parts) == 1 else lambda r: any(p(r) for p in parts)

    def conj() -> Predicate:
        parts = [term()]
        while word(peek(), "and"):
            take()
            parts.append(term())
        return parts[0] if len(parts) == 1 else lambda r: all(p(r) for p in parts)

    def term() -> Predicate:
        kind, value = take()
        if kind == "(":
            inner = expr()
            if take()[0] != ")":
                raise FilterError("missing ')'")
            return inner
        if kind != "word":
            raise FilterError(f"expected an attribute, got {value!r}")
        getter = attributes.get(value)
        if getter is None:
            raise FilterError(f"unsupported attribute {value!r}")
        kind, op = take()
        op = op.lower()
        if kind != "word" or op not in _OPS:
            raise FilterError(f"unsupported operator {op!r} after {value!r}")
        if op == "pr":
            return lambda r: any(v not in (None, "") for v in getter(r))
        kind, wanted = take()
        if kind != "str":
            raise FilterError(f'the value after "{value} {op}" must be a quoted string')
        if value in dates:
            try:
                parse_time(wanted)
            except ValueError:
                raise FilterError(f"{wanted!r} is not an ISO 8601 date") from None
        return lambda r: any(_compare(op, v, wanted) for v in getter(r))

    if not tokens:
        raise FilterError("empty filter")
    predicate = expr()
    if pos != len(tokens):
        raise FilterError(f"unexpected {tokens[pos][1]!r}")
    return predicate
