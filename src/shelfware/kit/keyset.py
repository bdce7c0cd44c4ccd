"""Keyset pages: a listing ordered by a few non-NULL columns ending in a unique one is read a
page at a time, each page starting after the last row of the previous one (a range the index
seeks to, never an OFFSET), so a page costs the rows it holds however deep it is.

A cursor names its listing (``kind``) and carries the last row's sort values; anything but what
:func:`encode` made for that listing (another listing's cursor included) is a ``CursorError``
and never reaches the database."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import and_, or_
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

Value = str | int
MAX_ID = 2**63 - 1  # a BIGINT key (the kit imports nothing of shelfware: ranges.MAX_ID)
MAX_TEXT = 2000  # the longest text a cursor carries (ranges.MAX_TEXT)
T = TypeVar("T")


class CursorError(ValueError):
    """A cursor that this listing did not hand out (or for another sort)."""


def encode(kind: str, values: Sequence[Value]) -> str:
    """The cursor of the row whose sort values are ``values`` in listing ``kind``."""
    raw = json.dumps([kind, *values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(kind: str, cursor: str, shape: Sequence[type[Value]]) -> tuple[Value, ...]:
    """The sort values a cursor of listing ``kind`` carries, each of the type ``shape`` says
    (text both stores can compare; integers within a BIGINT)."""
    refused = CursorError("cursor is not one this listing handed out")
    if len(cursor) > 4 * MAX_TEXT:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parsed = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, RecursionError):
        raise refused from None
    if not isinstance(parsed, list) or len(parsed) != len(shape) + 1 or parsed[0] != kind:
        raise refused
    values = tuple(parsed[1:])
    for value, wanted in zip(values, shape, strict=True):
        if type(value) is not wanted:
            raise refused
        if isinstance(value, int) and not -MAX_ID <= value <= MAX_ID:
            raise refused
        if isinstance(value, str) and not storable(value):
            raise refused
    return values


def storable(text: str) -> bool:
    """Text both stores can compare: no NUL (PostgreSQL refuses it), no lone surrogate."""
    if "\x00" in text or len(text) > MAX_TEXT:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def after(columns: Sequence[Any], values: Sequence[Value]) -> ColumnElement[bool]:
    """SQL: the row comes after ``values`` in the ascending order of ``columns`` (none of them
    NULL): ``(c1, c2, ...) > (v1, v2, ...)`` spelt out, led by ``c1 >= v1`` so that an index
    on the columns seeks straight to the page."""
    first, *rest = columns
    beyond: ColumnElement[bool] = columns[-1] > values[-1]
    for column, value in reversed(list(zip(columns[:-1], values[:-1], strict=True))):
        beyond = or_(column > value, and_(column == value, beyond))
    if not rest:
        return beyond
    return and_(first >= values[0], beyond)


def read(session: Session, statements: Iterable[Any], limit: int) -> list[Any]:
    """Up to ``limit + 1`` rows of ``statements`` (each already ordered) read one after the
    other, each with the LIMIT of what is still wanted: the segments of one listing (say,
    one per profile, or the known values then the NULLs). One row more than the page says
    whether there is a next page."""
    rows: list[Any] = []
    them = iter(statements)
    while len(rows) <= limit and (statement := next(them, None)) is not None:
        rows += session.execute(statement.limit(limit + 1 - len(rows))).all()
    return rows


def cut(
    rows: Sequence[T], limit: int, kind: str, key: Callable[[T], Sequence[Value]]
) -> tuple[list[T], str | None]:
    """The page of what :func:`read` found (its first ``limit`` rows) and the cursor of the
    next page, made of ``key`` of the page's last row (None: this is the last page)."""
    shown = list(rows[:limit])
    if len(rows) <= limit:
        return shown, None
    return shown, encode(kind, key(shown[-1]))
