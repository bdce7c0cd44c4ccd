"""Listing the accounts that hold seats, the people behind them, and the entitlements.
Services never commit: the caller owns the session."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from shelfware.kit import keyset
from shelfware.kit.clock import utc
from shelfware.kit.csv_output import sql_csv_cells
from shelfware.kit.db import UTCDateTime
from shelfware.kit.keyset import CursorError as CursorError
from shelfware.licensing.service import LicensingError, find_model
from shelfware.models import (
    IntegrationProfile,
    Person,
    ReclamationRule,
    SoftwareModel,
    Subscription,
)
from shelfware.profiles.service import DEFAULT_THRESHOLD_DAYS, get_profile
from shelfware.ranges import MAX_DATE, MAX_ID, MAX_NAME, MIN_DATE
from shelfware.subscriptions.schemas import (
    PeoplePage,
    PersonView,
    SubscriptionPage,
    SubscriptionPageQuery,
    SubscriptionQuery,
    SubscriptionSort,
    SubscriptionView,
)

S = Subscription.__table__.c


def _joined() -> Select[Subscription, str, SoftwareModel]:
    return (
        select(Subscription, IntegrationProfile.name, SoftwareModel)
        .join(IntegrationProfile, IntegrationProfile.id == Subscription.profile_id)
        .join(SoftwareModel, SoftwareModel.id == Subscription.software_model_id)
    )


def _views(rows: Iterable[Any]) -> list[SubscriptionView]:
    return [
        SubscriptionView(
            id=sub.id,
            profile=profile,
            external_id=sub.external_id,
            username=sub.username,
            email=sub.email,
            display_name=sub.display_name,
            software_model=model.display_name,
            edition=sub.edition,
            active=sub.active,
            admin=sub.admin,
            created_in_app_at=sub.created_in_app_at,
            last_activity_at=sub.last_activity_at,
            person_id=sub.person_id,
            gone_at=sub.gone_at,
            kept_until=sub.kept_until,
        )
        for sub, profile, model in rows
    ]


SEARCHED = (Subscription.username, Subscription.email)


class SearchError(ValueError):
    """A search text no stored value can start with (NUL, a lone surrogate, too long)."""


def starts_with(dialect: str, expression: Any, prefix: str) -> ColumnElement[bool]:
    """``expression`` starts with ``prefix``, in a form the expression's index serves:
    ``LIKE 'p%'`` on PostgreSQL (text_pattern_ops), a range on SQLite. A prefix with NUL
    (which PostgreSQL refuses in a string) is a ``SearchError`` on both stores."""
    if not keyset.storable(prefix) or len(prefix) > MAX_NAME:
        raise SearchError(
            f"search: 1..{MAX_NAME} characters without NUL (got {len(prefix):,} characters)"
            if len(prefix) > MAX_NAME
            else "search: must not contain NUL or unpaired surrogates"
        )
    if dialect == "postgresql":
        escaped = prefix.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        return expression.like(escaped + "%", escape="\\")  # type: ignore[no-any-return]
    return and_(expression >= prefix, expression < prefix + "\U0010ffff")


def _holds_seat() -> ColumnElement[bool]:
    return and_(Subscription.active.is_(True), Subscription.gone_at.is_(None))


def list_subscriptions(session: Session, query: SubscriptionQuery) -> list[SubscriptionView]:
    """Accounts that currently hold a seat (every account with ``all``), by profile then id.

    An unknown profile name raises ``ProfileNotFound`` rather than returning nothing.
    """
    stmt = _joined().order_by(IntegrationProfile.name, Subscription.id)
    if query.profile is not None:
        stmt = stmt.where(Subscription.profile_id == get_profile(session, query.profile).id)
    if not query.all:
        stmt = stmt.where(_holds_seat())
    return _views(session.execute(stmt))


def _instant(value: datetime) -> Any:
    return literal(value, UTCDateTime())


def stale_condition(session: Session, now: datetime) -> Any:
    """SQL true for a seat idle past its model's rule threshold (never-used accounts count
    once past the grace period), as ``licensing.count_stale`` defines stale."""
    thresholds = dict(
        session.execute(
            select(ReclamationRule.software_model_id, ReclamationRule.threshold_days).where(
                ReclamationRule.kind == "remove"
            )
        ).all()
    )
    cut: Any = _instant(now - timedelta(days=DEFAULT_THRESHOLD_DAYS))
    if thresholds:
        cut = case(
            *[
                (S.software_model_id == model_id, _instant(now - timedelta(days=days)))
                for model_id, days in thresholds.items()
            ],
            else_=cut,
        )
    last = S.last_activity_at
    since = func.coalesce(S.created_in_app_at, S.first_seen_at)
    return or_(and_(last.is_not(None), last < cut), and_(last.is_(None), since <= cut))


# --- keyset paging -------------------------------------------------------------------------


def encode_cursor(sort: str, descending: bool, value: Any, last_id: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([sort, descending, value, last_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, descending: bool) -> tuple[Any, int]:
    """(sort value, id) of the last row of the previous page. Anything but what
    :func:`encode_cursor` made (a sort value with NUL, an id beyond a BIGINT...) is a
    ``CursorError``: it never reaches the database."""
    refused = CursorError("cursor is not one this listing handed out")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parsed = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, RecursionError):
        raise refused from None
    if not isinstance(parsed, list) or len(parsed) != 4:
        raise refused
    got_sort, got_desc, value, last_id = parsed
    if got_sort != sort or got_desc is not descending:
        raise CursorError("cursor belongs to another sort order: start again without it")
    if type(last_id) is not int or not 0 <= last_id <= MAX_ID:
        raise refused
    if value is not None and not (isinstance(value, str) and keyset.storable(value)):
        raise refused
    return value, last_id


def keyset_page(
    session: Session,
    stmt: Any,
    column: Any,
    id_column: Any,
    *,
    descending: bool,
    after: tuple[Any, int] | None,
    limit: int,
) -> list[Any]:
    """Up to ``limit + 1`` rows after ``after`` = (sort value, id) in the order: NULLs first
    (by id), then by value and id; all reversed when ``descending``. The NULLs and the values
    are read as two segments so that a plain ``(column, id)`` index serves every page on
    SQLite and PostgreSQL alike (their NULL orders differ)."""
    by_id = [id_column.desc() if descending else id_column.asc()]
    by_value = [column.desc(), *by_id] if descending else [column.asc(), *by_id]
    nullable = column is not id_column
    is_null, not_null = column.is_(None), column.is_not(None)
    if after is None:
        plan = [(not_null, by_value)]
        if nullable:
            plan.insert(len(plan) if descending else 0, (is_null, by_id))
    elif after[0] is None:  # the previous page ended among the NULLs
        beyond_id = id_column < after[1] if descending else id_column > after[1]
        plan = [(and_(is_null, beyond_id) if nullable else beyond_id, by_id)]
        if not descending and nullable:
            plan.append((not_null, by_value))
    else:
        value, last_id = after
        beyond = (
            or_(column < value, and_(column == value, id_column < last_id))
            if descending
            else or_(column > value, and_(column == value, id_column > last_id))
        )
        plan = [(and_(not_null, beyond), by_value)]
        if descending and nullable:
            plan.append((is_null, by_id))
    return keyset.read(session, (stmt.where(w).order_by(*order) for w, order in plan), limit)


def _sort_value(sort: SubscriptionSort, text: str | None) -> Any:
    if text is None or sort is not SubscriptionSort.LAST_ACTIVITY:
        return text
    try:
        value = utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError):  # an offset can push year 1 or 9999 out of range
        raise CursorError("cursor is not one this listing handed out") from None
    if not MIN_DATE <= value.date() <= MAX_DATE:
        raise CursorError("cursor is not one this listing handed out")
    return value


def _filtered(session: Session, query: SubscriptionPageQuery, stmt: Any) -> Any:
    """``stmt`` narrowed to the subscriptions ``query``'s filters select (not its paging)."""
    if query.profile is not None:
        stmt = stmt.where(Subscription.profile_id == get_profile(session, query.profile).id)
    if query.model is not None:
        try:
            model_id = find_model(session, query.model).id
        except LicensingError as exc:
            raise LookupError(str(exc)) from None
        stmt = stmt.where(Subscription.software_model_id == model_id)
    if not query.all:
        stmt = stmt.where(_holds_seat())
    if query.admin is not None:
        stmt = stmt.where(Subscription.admin.is_(query.admin))
    if query.q:
        dialect = session.get_bind().dialect.name
        stmt = stmt.where(
            or_(*(starts_with(dialect, func.lower(c), query.q.lower()) for c in SEARCHED))
        )
    if query.idle_since is not None:
        stmt = stmt.where(
            or_(
                Subscription.last_activity_at.is_(None),
                Subscription.last_activity_at < query.idle_since,
            )
        )
    if query.stale_at is not None:
        stmt = stmt.where(stale_condition(session, utc(query.stale_at)))
    return stmt


def page_subscriptions(session: Session, query: SubscriptionPageQuery) -> SubscriptionPage:
    """One page of subscriptions; pass ``next_cursor`` back for the next one."""
    stmt = _filtered(session, query, _joined())
    after = None
    if query.cursor:
        text, last_id = decode_cursor(query.cursor, query.sort.value, query.descending)
        after = (_sort_value(query.sort, text), last_id)
    column = getattr(Subscription, query.sort.value)
    rows = keyset_page(
        session,
        stmt,
        column,
        Subscription.id,
        descending=query.descending,
        after=after,
        limit=query.limit,
    )
    items = _views(rows[: query.limit])
    next_cursor = None
    if len(rows) > query.limit:
        last = items[-1]
        value = None if query.sort is SubscriptionSort.ID else getattr(last, query.sort.value)
        next_cursor = encode_cursor(query.sort.value, query.descending, value, last.id)
    return SubscriptionPage(items=items, next_cursor=next_cursor)


EXPORT_COLUMNS = (
    "id",
    "profile",
    "external_id",
    "username",
    "email",
    "display_name",
    "software_model",
    "edition",
    "active",
    "admin",
    "created_in_app_at",
    "last_activity_at",
    "person_id",
    "gone_at",
    "kept_until",
)


def export_statement(session: Session, query: SubscriptionPageQuery) -> Any:
    """Every subscription ``query``'s filters select (its cursor and limit aside), by id, in
    the order of ``EXPORT_COLUMNS``, each cell written by the database ready for a spreadsheet
    (``kit.csv_output.sql_csv_cells``: text neutralised, instants in ISO 8601): run it with
    ``yield_per`` so that a million rows stream through flat memory. Building it checks the
    filters (an unknown profile or model raises here, before anything is sent)."""
    M = SoftwareModel.__table__.c
    model_name = type_coerce(
        M.publisher.concat(" ").concat(M.product).concat(" ").concat(M.edition), String
    )
    stmt = (
        select(
            *sql_csv_cells(
                session.get_bind().dialect.name,
                S.id,
                IntegrationProfile.__table__.c.name,
                S.external_id,
                S.username,
                S.email,
                S.display_name,
                model_name,
                S.edition,
                S.active,
                S.admin,
                S.created_in_app_at,
                S.last_activity_at,
                S.person_id,
                S.gone_at,
                S.kept_until,
            )
        )
        .select_from(Subscription.__table__)
        .join(IntegrationProfile, IntegrationProfile.id == S.profile_id)
        .join(SoftwareModel, SoftwareModel.id == S.software_model_id)
    )
    return _filtered(session, query, stmt).order_by(S.id)


# --- people and entitlements ---------------------------------------------------------------


def page_people(
    session: Session, *, q: str | None = None, cursor: str | None = None, limit: int = 50
) -> PeoplePage:
    """People by id, each with the number of seats their accounts hold."""
    stmt = select(Person)
    if q:
        stmt = stmt.where(starts_with(session.get_bind().dialect.name, Person.email, q.lower()))
    after = None
    if cursor:
        _, last_id = decode_cursor(cursor, "id", False)
        after = (None, last_id)
    rows = keyset_page(
        session, stmt, Person.id, Person.id, descending=False, after=after, limit=limit
    )
    people: Sequence[Person] = [row[0] for row in rows[:limit]]
    held = session.execute(
        select(Subscription.person_id, func.count())
        .where(Subscription.person_id.in_([p.id for p in people]), _holds_seat())
        .group_by(Subscription.person_id)
    )
    counts = {person_id: count for person_id, count in held if person_id is not None}
    items = [
        PersonView(
            id=p.id,
            email=p.email,
            display_name=p.display_name,
            created_at=p.created_at,
            subscriptions=counts.get(p.id, 0),
        )
        for p in people
    ]
    next_cursor = encode_cursor("id", False, None, items[-1].id) if len(rows) > limit else None
    return PeoplePage(items=items, next_cursor=next_cursor)


def get_person(session: Session, person_id: int) -> tuple[PersonView, list[SubscriptionView]]:
    person = session.get(Person, person_id)
    if person is None:
        raise LookupError(f"no person with id {person_id}")
    subs = _views(
        session.execute(
            _joined().where(Subscription.person_id == person_id).order_by(Subscription.id)
        )
    )
    held = sum(1 for s in subs if s.active and s.gone_at is None)
    view = PersonView(
        id=person.id,
        email=person.email,
        display_name=person.display_name,
        created_at=person.created_at,
        subscriptions=held,
    )
    return view, subs
