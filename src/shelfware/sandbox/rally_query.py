"""The Rally WSAPI query language: a recursive-descent parser and a compiler to predicates.

Grammar (Rally wraps every comparison and every binary AND/OR in its own parentheses)::

    expr       := "(" inner ")"
    inner      := expr ("AND" | "OR") expr | expr | comparison
    comparison := FIELD OP VALUE
    OP         := = | != | > | < | >= | <= | contains | !contains
    VALUE      := "quoted string" | true | false | null | number | bare-word

Field names are case-insensitive. Assumptions (kept here, in one place): string comparisons
are case-insensitive, an empty string equals ``null``, and dates compare as instants given as
ISO 8601 strings (a date without a time is midnight UTC).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

FieldKind = Literal["int", "bool", "str", "date"]
Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]

_TOKEN = re.compile(
    r'\s*(?:(?P<paren>[()])|(?P<string>"(?:[^"\\]|\\.)*")'
    r"|(?P<op>!contains\b|!=|>=|<=|=|>|<)|(?P<word>[^\s()\"=<>!]+))"
)
_OPS = {"=", "!=", ">", "<", ">=", "<=", "contains", "!contains"}
_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}


class QueryError(ValueError):
    """A query Rally would refuse; ``str()`` is the Rally-style error message."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Could not parse: {detail}")


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str
    value: str
    quoted: bool


@dataclass(frozen=True)
class Logical:
    op: Literal["AND", "OR"]
    left: Node
    right: Node


Node = Comparison | Logical


def format_date(value: datetime) -> str:
    """A Rally date: ``2016-05-18T03:59:59.000Z`` (UTC, milliseconds)."""
    v = value.astimezone(UTC)
    return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z"


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QueryError(f'unexpected character at position {pos} in "{text}"')
        kind = m.lastgroup or "word"
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, what: str) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise QueryError(f'expected {what} but reached the end of "{self.text}"')
        self.i += 1
        return tok

    def expect_paren(self, paren: str) -> None:
        kind, value = self.take(f'"{paren}"')
        if (kind, value) != ("paren", paren):
            raise QueryError(f'expected "{paren}" but saw "{value}" in "{self.text}"')

    def expr(self) -> Node:
        self.expect_paren("(")
        tok = self.peek()
        if tok == ("paren", "("):
            node = self.expr()
            nxt = self.peek()
            if nxt is not None and nxt[0] == "word" and nxt[1].upper() in ("AND", "OR"):
                self.i += 1
                node = Logical(nxt[1].upper(), node, self.expr())  # type: ignore[arg-type]
        else:
            node = self.comparison()
        self.expect_paren(")")
        return node

    def comparison(self) -> Comparison:
        kind, name = self.take("an attribute name")
        if kind != "word":
            raise QueryError(f'expected an attribute name but saw "{name}" in "{self.text}"')
        kind, op = self.take("an operator")
        op = op.lower() if kind == "word" else op
        if op not in _OPS:
            raise QueryError(f'unknown operator "{op}" in "{self.text}"')
        kind, value = self.take("a value")
        if kind == "string":
            return Comparison(name, op, value[1:-1].replace('\\"', '"'), True)
        if kind != "word":
            raise QueryError(f'expected a value but saw "{value}" in "{self.text}"')
        return Comparison(name, op, value, False)


def parse_query(text: str) -> Node:
    """Parse a Rally query; raises :class:`QueryError` on bad syntax."""
    parser = _Parser(text)
    node = parser.expr()
    if parser.peek() is not None:
        raise QueryError(f'unexpected "{parser.peek()[1]}" after the end of "{text}"')  # type: ignore[index]
    return node


def _date_value(raw: str) -> str:
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise QueryError(f'"{raw}" is not a valid date') from None
    return format_date(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _compile_comparison(c: Comparison, name: str, kind: FieldKind) -> Predicate:
    op, raw = c.op, c.value
    if not c.quoted and raw.lower() == "null":
        if op not in ("=", "!="):
            raise QueryError(f'cannot use "{op}" with null on "{name}"')
        want_null = op == "="
        return lambda r: (r[name] is None or r[name] == "") is want_null
    if kind == "bool":
        if op not in ("=", "!=") or raw.lower() not in ("true", "false"):
            raise QueryError(f'invalid boolean comparison "{name} {op} {raw}"')
        target = raw.lower() == "true"
        return (lambda r: r[name] is target) if op == "=" else (lambda r: r[name] is not target)
    if op in ("contains", "!contains"):
        if kind != "str":
            raise QueryError(f'"{op}" is not supported on "{name}"')
        needle, negate = raw.casefold(), op == "!contains"
        return lambda r: (needle in (r[name] or "").casefold()) is not negate
    compare = _ORDERING[op]
    value: Any
    if kind == "int":
        try:
            value = int(raw)
        except ValueError:
            raise QueryError(f'"{raw}" is not a valid integer for "{name}"') from None
    elif kind == "date":
        value = _date_value(raw)
    else:
        value = raw.casefold()

        def string_predicate(r: Record) -> bool:
            v = r[name]
            return compare(v.casefold(), value) if v else op == "!="

        return string_predicate
    missing = op == "!="
    return lambda r: missing if r[name] is None else compare(r[name], value)


def compile_query(query: str | Node, fields: Mapping[str, FieldKind], type_name: str) -> Predicate:
    """A predicate over records (dicts keyed by canonical field name) for a query.

    Unknown attributes raise :class:`QueryError`, as Rally does.
    """
    node = parse_query(query) if isinstance(query, str) else query
    by_lower = {name.lower(): name for name in fields}

    def build(n: Node) -> Predicate:
        if isinstance(n, Logical):
            left, right = build(n.left), build(n.right)
            if n.op == "AND":
                return lambda r: left(r) and right(r)
            return lambda r: left(r) or right(r)
        name = by_lower.get(n.field.lower())
        if name is None:
            raise QueryError(f'Could not find attribute "{n.field}" on type {type_name}')
        return _compile_comparison(n, name, fields[name])

    return build(node)
