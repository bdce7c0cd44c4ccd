"""Access review campaigns: every seat in scope attested by a reviewer, with the evidence.

A campaign snapshots the seats in scope when it starts, in one ``INSERT ... SELECT`` (later
syncs do not change what is under review). Each item goes to a reviewer: the holder's
manager from the directory, else the model's owner (the first approver of the model's rule),
else the campaign's owner; never to the holder themselves. A reviewer sees and decides only
their own items: keep, revoke (a reason is required) or reassign; a revoke becomes a removal
candidate (``ready``, no notice to the user: the reclaim run and its cap carry it out) or, for
an app without a reclaim API, a task for a person; its outcome shows in the report. Every
decision is in the audit trail; a closed campaign changes no more.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Table,
    and_,
    case,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session, aliased

from shelfware.accounts.schemas import Principal
from shelfware.audit import service as audit
from shelfware.connectors.registry import connector_class
from shelfware.kit import keyset
from shelfware.kit.addresses import is_email
from shelfware.kit.clock import Clock, utc
from shelfware.kit.csv_output import sql_iso_instant, sql_safe_cell
from shelfware.kit.db import UTCDateTime, rowcount, whole_days_between
from shelfware.kit.streaming import cursor_chunks
from shelfware.kit.text import strip_unstorable
from shelfware.licensing.entitlements import LicensingNotFound, find_model
from shelfware.licensing.pricing import day_of, seat_prices
from shelfware.models import (
    CLOSED_STATES,
    ApiToken,
    CandidateState,
    Decision,
    IntegrationProfile,
    Justification,
    Person,
    ReclamationRule,
    RemovalCandidate,
    ReviewCampaign,
    ReviewItem,
    RuleKind,
    SoftwareModel,
    Subscription,
    User,
    is_open_candidate,
)
from shelfware.models.person import LEFT_STATUSES
from shelfware.profiles import service as profiles
from shelfware.profiles.service import ProfileNotFound
from shelfware.reclamation import directory_port, states
from shelfware.reclamation.evaluation import GROUP_TASK, MANUAL_REVOCATION
from shelfware.reviews.schemas import (
    CampaignCreate,
    CampaignView,
    ItemView,
    Policy,
    ReviewerProgress,
    ScopeKind,
)

S = Subscription.__table__.c
P = Person.__table__.c
M = SoftwareModel.__table__.c
I = ReviewItem.__table__.c  # noqa: E741
ITEMS = cast(Table, ReviewItem.__table__)
RC = RemovalCandidate


class ReviewError(ValueError):
    """A review request was refused; the message says why and what to do."""


class ReviewNotFound(ReviewError, LookupError):
    """No such campaign or item (or not one of the asker's)."""


class NotYourItem(ReviewError, PermissionError):
    """The item is another reviewer's, or the asker's own seat."""


class CampaignClosed(ReviewError):
    """The campaign is closed: nothing in it changes any more."""


# --------------------------------------------------------------------------- who is who


def normal_email(text: str | None) -> str | None:
    value = (text or "").strip().lower()
    return value if is_email(value) else None


def reviewer_of(session: Session, principal: Principal) -> str | None:
    """The email a principal reviews as: a user's name when it is an email; a token's
    owner's (a token without an owner, the local operator's, reviews as nobody)."""
    if principal.kind == "user":
        return normal_email(principal.name)
    owner = session.scalar(
        select(User.username)
        .join(ApiToken, ApiToken.owner_id == User.id)
        .where(ApiToken.id == principal.id)
    )
    return normal_email(owner)


def _owner_email(text: str | None, creator: str | None) -> str:
    for value in (text, creator):
        found = normal_email(value)
        if found:
            return found
    if text:
        raise ReviewError(f"the campaign owner {text!r} is not an email address")
    raise ReviewError(
        "a campaign needs an owner (an email): the last step of its escalations; name one"
    )


# --------------------------------------------------------------------------- creation


@dataclass(frozen=True)
class _Scope:
    kind: ScopeKind
    value: str  # as stored (a model's display name, a profile's name, a department)
    where: ColumnElement[bool]


def parse_scope(session: Session, text: str) -> _Scope:
    """``model=...``, ``profile=...`` or ``department=...``: the seats a campaign reviews."""
    kind_text, sep, value = text.partition("=")
    value = value.strip()
    try:
        kind = ScopeKind(kind_text.strip().lower())
    except ValueError:
        kind = None
    if not sep or kind is None or not value:
        raise ReviewError(
            f"scope {text!r}: use model=PUBLISHER PRODUCT EDITION, profile=NAME or department=NAME"
        )
    if kind is ScopeKind.MODEL:
        try:
            model = find_model(session, value)
        except LicensingNotFound as exc:
            raise ReviewError(f"scope: {exc}") from None
        return _Scope(kind, model.display_name, S.software_model_id == model.id)
    if kind is ScopeKind.PROFILE:
        try:
            profile = profiles.get_profile(session, value)
        except ProfileNotFound as exc:
            raise ReviewError(f"scope: {exc}") from None
        return _Scope(kind, profile.name, S.profile_id == profile.id)
    department = func.coalesce(P.department_override, P.department, S.department)
    return _Scope(kind, value, func.lower(department) == value.lower())


def _policy(text: str) -> tuple[Policy, str | None]:
    value = text.strip()
    if value.lower() in (Policy.MANAGER, Policy.OWNER):
        return Policy(value.lower()), None
    email = normal_email(value)
    if email is None:
        raise ReviewError(
            f"reviewer {text!r}: use manager (the holder's manager), owner (the model's owner) "
            "or one person's email address"
        )
    return Policy.EMAIL, email


def model_owners(session: Session) -> dict[int, str]:
    """Each model's owner: the first approver (an email) of its removal rule."""
    owners = {}
    for model_id, approvers in session.execute(
        select(ReclamationRule.software_model_id, ReclamationRule.approvers).where(
            ReclamationRule.kind == RuleKind.REMOVE
        )
    ):
        for approver in approvers or []:
            email = normal_email(str(approver))
            if email:
                owners[model_id] = email
                break
    return owners


def _managers() -> Any:
    """SQL: (person id, their manager's email) as the identity provider names the manager by
    id, else login, else email, among the same provider's people who have not left (the
    directory's rule, `directory.service.manager_email`), for every person at once."""
    person, boss = aliased(Person), aliased(Person)
    ref = person.idp_manager_id
    levels = []
    for level, matches in enumerate(
        (
            boss.idp_user_id == ref,
            func.lower(boss.idp_login) == func.lower(ref),
            boss.email == func.lower(func.trim(ref)),
        )
    ):
        levels.append(
            select(person.id.label("person_id"), func.min(boss.email).label("email"))
            .join(boss, and_(boss.idp_profile_id == person.idp_profile_id, matches))
            .where(
                person.idp_manager_id.is_not(None),
                boss.id != person.id,
                func.coalesce(boss.idp_status, "").not_in(LEFT_STATUSES),
            )
            .group_by(person.id)
            .subquery(f"manager_{level}")
        )
    return levels


def _first_not_holder(holder: ColumnElement[Any], *choices: ColumnElement[Any]) -> Any:
    """SQL: the first choice that is an email and not the holder's own (NULL: none is)."""
    return case(
        *[(and_(c.is_not(None), c != func.coalesce(holder, "")), c) for c in choices],
        else_=null(),
    )


def _email_sql(value: str | None) -> ColumnElement[Any]:
    return literal(value) if value is not None else null()


def create_campaign(
    session: Session,
    clock: Clock,
    data: CampaignCreate,
    *,
    actor: str | None = None,
    creator_email: str | None = None,
) -> CampaignView:
    """Start a campaign: snapshot the seats in scope (one ``INSERT ... SELECT``, whatever their
    number) and assign each to its reviewer. Refused, with nothing written, for a name in use,
    an unknown scope, a due date not in the future or a bad reviewer or owner."""
    now = clock.now()
    name = strip_unstorable(data.name).strip()
    if not name or not name.isprintable():
        raise ReviewError("the campaign name is empty or has control characters")
    if session.scalar(select(ReviewCampaign.id).where(ReviewCampaign.name == name)):
        raise ReviewError(f"a campaign named {name!r} exists: choose another name")
    due = utc(data.due)
    if due <= now:
        raise ReviewError(f"the due date {due:%Y-%m-%d %H:%M} UTC has passed: give a later one")
    scope = parse_scope(session, data.scope)
    policy, reviewer_email = _policy(data.reviewer)
    owner = _owner_email(data.owner, creator_email)
    campaign = ReviewCampaign(
        name=name,
        scope_kind=scope.kind.value,
        scope_value=scope.value,
        reviewer_policy=policy.value,
        reviewer_email=reviewer_email,
        owner=owner,
        created_by=(actor or audit.current_actor())[:200],
        created_at=now,
        due_at=due,
        recurrence=data.recurrence.value if data.recurrence else None,
        next_start_at=_next_quarter(now) if data.recurrence else None,
        series=name if data.recurrence else None,
    )
    session.add(campaign)
    session.flush()
    _snapshot(session, campaign, scope, now)
    view = campaign_view(session, campaign.id)
    audit.record(
        session,
        clock,
        action="review.campaign_created",
        object_type="review_campaign",
        object_id=campaign.id,
        actor=actor,
        name=name,
        scope=f"{scope.kind.value}={scope.value}",
        reviewer=data.reviewer,
        owner=owner,
        due=due.isoformat(),
        items=view.items,
    )
    return view


def _snapshot(session: Session, campaign: ReviewCampaign, scope: _Scope, now: datetime) -> int:
    dialect = session.get_bind().dialect.name
    now_sql = literal(now, UTCDateTime())
    holder = func.coalesce(P.email, func.lower(S.email))
    m0, m1, m2 = _managers()
    manager = func.coalesce(m0.c.email, m1.c.email, m2.c.email)
    owners = model_owners(session)
    model_owner = (
        case({k: literal(v) for k, v in owners.items()}, value=S.software_model_id, else_=null())
        if owners
        else null()
    )
    campaign_owner = literal(campaign.owner)
    order: tuple[Any, ...]
    if campaign.reviewer_policy == Policy.MANAGER:
        order = (manager, model_owner, campaign_owner)
    elif campaign.reviewer_policy == Policy.OWNER:
        order = (model_owner, campaign_owner, manager)
    else:
        order = (_email_sql(campaign.reviewer_email), manager, model_owner, campaign_owner)
    reviewer = _first_not_holder(holder, *order)
    prices = {
        mid: price.annual
        for mid, price in seat_prices(session, on=day_of(now)).items()
        if price.annual is not None
    }
    cost = (
        case({k: literal(v) for k, v in prices.items()}, value=S.software_model_id, else_=null())
        if prices
        else null()
    )
    since = func.coalesce(S.last_activity_at, S.created_in_app_at, S.first_seen_at)
    selection = (
        select(
            literal(campaign.id),
            S.id,
            S.profile_id,
            S.software_model_id,
            S.person_id,
            holder,
            S.username,
            M.publisher.concat(" ").concat(M.product).concat(" ").concat(M.edition),
            S.edition,
            S.last_activity_at,
            whole_days_between(dialect, now_sql, since),
            cost,
            reviewer,
            reviewer,
        )
        .select_from(Subscription)
        .join(SoftwareModel, SoftwareModel.id == S.software_model_id)
        .outerjoin(Person, Person.id == S.person_id)
        .outerjoin(m0, m0.c.person_id == S.person_id)
        .outerjoin(m1, m1.c.person_id == S.person_id)
        .outerjoin(m2, m2.c.person_id == S.person_id)
        .where(scope.where, S.active.is_(True), S.gone_at.is_(None))
    )
    columns = [
        I.campaign_id,
        I.subscription_id,
        I.profile_id,
        I.software_model_id,
        I.person_id,
        I.holder,
        I.username,
        I.app,
        I.edition,
        I.last_activity_at,
        I.idle_days,
        I.annual_cost,
        I.reviewer,
        I.first_reviewer,
    ]
    return rowcount(session.execute(insert(ITEMS).from_select(columns, selection)))


def _next_quarter(now: datetime) -> datetime:
    """The first instant of the next calendar quarter (UTC)."""
    now = utc(now)
    month = (now.month - 1) // 3 * 3 + 4
    year = now.year + (month > 12)
    month = month - 12 if month > 12 else month
    return now.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


# --------------------------------------------------------------------------- reading


def get_campaign(session: Session, ref: str | int) -> ReviewCampaign:
    """A campaign by id or name."""
    text = str(ref).strip()
    found = None
    if text.isdigit() and len(text) < 19:
        found = session.get(ReviewCampaign, int(text))
    if found is None:
        found = session.scalar(select(ReviewCampaign).where(ReviewCampaign.name == text))
    if found is None:
        raise ReviewNotFound(
            f"no review campaign {text!r}: `reviews list` shows them (by id or name)"
        )
    return found


def _counts(session: Session, campaign_ids: Sequence[int]) -> dict[int, tuple[int, int, int]]:
    rows = session.execute(
        select(
            I.campaign_id,
            func.count(),
            func.count(I.decision),
            func.count(case((I.reviewer.is_(None), 1))),
        )
        .where(I.campaign_id.in_(list(campaign_ids)))
        .group_by(I.campaign_id)
    )
    return {cid: (int(n), int(d), int(u)) for cid, n, d, u in rows}


def _view(campaign: ReviewCampaign, counts: tuple[int, int, int]) -> CampaignView:
    return CampaignView(
        id=campaign.id,
        name=campaign.name,
        scope=f"{campaign.scope_kind}={campaign.scope_value}",
        reviewer_policy=campaign.reviewer_policy,
        reviewer_email=campaign.reviewer_email,
        owner=campaign.owner,
        created_by=campaign.created_by,
        created_at=campaign.created_at,
        due_at=campaign.due_at,
        closed_at=campaign.closed_at,
        recurrence=campaign.recurrence,
        next_start_at=campaign.next_start_at,
        items=counts[0],
        decided=counts[1],
        unassigned=counts[2],
    )


def campaign_view(session: Session, ref: str | int) -> CampaignView:
    campaign = get_campaign(session, ref)
    return _view(campaign, _counts(session, [campaign.id]).get(campaign.id, (0, 0, 0)))


def list_campaigns(session: Session) -> list[CampaignView]:
    campaigns = session.scalars(select(ReviewCampaign).order_by(ReviewCampaign.id.desc())).all()
    counts = _counts(session, [c.id for c in campaigns])
    return [_view(c, counts.get(c.id, (0, 0, 0))) for c in campaigns]


def progress(session: Session, ref: str | int) -> list[ReviewerProgress]:
    """Completion per reviewer (unassigned items under None)."""
    campaign = get_campaign(session, ref)
    rows = session.execute(
        select(
            I.reviewer,
            func.count(),
            func.count(I.decision),
            func.count(case((I.decision == Decision.KEEP.value, 1))),
            func.count(case((I.decision == Decision.REVOKE.value, 1))),
        )
        .where(I.campaign_id == campaign.id)
        .group_by(I.reviewer)
        .order_by(I.reviewer)
    )
    return [
        ReviewerProgress(reviewer=r, items=n, decided=d, kept=k, revoked=v)
        for r, n, d, k, v in rows
    ]


_C = RemovalCandidate.__table__.c
_CS = CandidateState


def _outcome_sql() -> tuple[Any, Any, Any]:
    """SQL for (outcome, when, detail) of an item: a revoke's removal candidate, in words
    (``done``: reclaimed when, or the task done when the seat left the app)."""
    revoke = I.decision == Decision.REVOKE.value
    none = or_(I.decision.is_(None), I.decision != Decision.REVOKE.value)
    state = _C.state
    outcome = case(
        (none, literal("")),
        (_C.id.is_(None), case((I.outcome_note.is_not(None), literal("done")), else_="pending")),
        (_C.reclaimed_at.is_not(None), literal("done")),
        (state == _CS.CLOSED_COMPLETE.value, literal("done")),
        (state == _CS.AWAITING_REVOCATION.value, literal("task")),
        (state == _CS.READY.value, literal("pending")),
        (state == _CS.ATTENTION_REQUIRED.value, literal("needs a person")),
        else_=func.replace(state, "closed_", ""),
    )
    at = case(
        (and_(revoke, _C.reclaimed_at.is_not(None)), _C.reclaimed_at),
        (and_(revoke, state.in_(CLOSED_STATES)), _C.closed_at),
        else_=null(),
    )
    detail = case(
        (none, null()),
        (_C.id.is_(None), I.outcome_note),
        (_C.reclaimed_at.is_not(None), literal("reclaimed through the app's API")),
        (state == _CS.CLOSED_COMPLETE.value, literal("task done: the seat is gone from the app")),
        (state == _CS.READY.value, literal("waits for the reclaim run")),
        else_=_C.reason,
    )
    return outcome, at, detail


_OUTCOME, _OUTCOME_AT, _DETAIL = _outcome_sql()
_REPORT_COLUMNS = (
    I.id,
    I.campaign_id,
    I.holder,
    I.username,
    I.app,
    I.edition,
    I.last_activity_at,
    I.idle_days,
    I.annual_cost,
    I.reviewer,
    I.decision,
    I.reason,
    I.decided_at,
    I.decided_by,
    _OUTCOME,
    _OUTCOME_AT,
    _DETAIL,
)


def _items_query(campaign_id: int) -> Select[Any]:
    return (
        select(*_REPORT_COLUMNS)
        .select_from(ITEMS)
        .outerjoin(RemovalCandidate, _C.id == I.candidate_id)
        .where(I.campaign_id == campaign_id)
    )


def _item_view(row: Any) -> ItemView:
    return ItemView(
        id=row[0],
        campaign_id=row[1],
        holder=row[2],
        username=row[3],
        app=row[4],
        edition=row[5],
        last_activity_at=row[6],
        idle_days=row[7],
        annual_cost=None if row[8] is None else float(row[8]),
        reviewer=row[9],
        decision=row[10],
        reason=row[11],
        decided_at=row[12],
        decided_by=row[13],
        outcome=row[14],
        outcome_at=row[15],
        outcome_detail=row[16],
    )


# A reviewer's items, holder by holder (no holder first), then app, then item: the order of
# ix_review_item_reviewer_page (campaign, reviewer, this holder, app, id), so each page of a
# reviewer's items is a range of that index (kit.keyset).
MINE_CURSOR = "review-items"
MINE_PAGE = 200  # items a page of the reviewer's page shows
MINE = (str, str, int)  # the cursor: holder, app, item id
_HOLDER = func.coalesce(I.holder, literal_column("''"))
_MINE_ORDER = (_HOLDER, I.app, I.id)


def _mine(campaign_id: int, reviewer: str, undecided: bool) -> Select[Any]:
    query = _items_query(campaign_id).where(I.reviewer == reviewer, _not_own(reviewer))
    return query.where(I.decision.is_(None)) if undecided else query


def my_items(
    session: Session, ref: str | int, reviewer: str | None, *, undecided: bool = False
) -> list[ItemView]:
    """The items ``reviewer`` reviews in the campaign (never their own seat: assignment and
    reassignment see to it), holder by holder. Nobody: nothing. All of them: the faces read
    :func:`my_items_page` instead."""
    campaign = get_campaign(session, ref)
    if reviewer is None:
        return []
    query = _mine(campaign.id, reviewer, undecided).order_by(*_MINE_ORDER)
    return [_item_view(r) for r in session.execute(query)]


def my_items_page(
    session: Session,
    ref: str | int,
    reviewer: str | None,
    *,
    undecided: bool = False,
    cursor: str | None = None,
    limit: int = MINE_PAGE,
) -> tuple[list[ItemView], str | None]:
    """A page of :func:`my_items` (same order) and the next page's cursor (None: the last)."""
    campaign = get_campaign(session, ref)
    if reviewer is None:
        return [], None
    query = _mine(campaign.id, reviewer, undecided).order_by(*_MINE_ORDER)
    if cursor is not None:
        query = query.where(keyset.after(_MINE_ORDER, keyset.decode(MINE_CURSOR, cursor, MINE)))
    rows = [_item_view(r) for r in keyset.read(session, [query], limit)]
    return keyset.cut(rows, limit, MINE_CURSOR, lambda i: [i.holder or "", i.app, i.id])


def continues(cursor: str | None, item: ItemView) -> bool:
    """Whether ``item``, first of the page after ``cursor``, has the same holder as the last
    item of the previous page (a holder's seats can span two pages)."""
    if cursor is None:
        return False
    return keyset.decode(MINE_CURSOR, cursor, MINE)[0] == (item.holder or "")


def my_counts(session: Session, campaign_id: int, reviewer: str | None) -> tuple[int, int]:
    """How many items ``reviewer`` reviews in the campaign and how many of them are still
    undecided: one COUNT over the reviewer's range of the index, whatever the page."""
    if reviewer is None:
        return 0, 0
    undecided = func.coalesce(func.sum(case((I.decision.is_(None), 1), else_=0)), 0)
    found = session.execute(
        select(func.count(), undecided)
        .select_from(ITEMS)
        .where(I.campaign_id == campaign_id, I.reviewer == reviewer, _not_own(reviewer))
    ).one()
    return int(found[0]), int(found[1])


def unassigned_items(session: Session, ref: str | int, *, limit: int = 500) -> list[ItemView]:
    """The campaign's items nobody reviews yet (the holder was the only candidate reviewer),
    holder by holder, at most ``limit``: the campaign manager gives each to someone."""
    campaign = get_campaign(session, ref)
    query = _items_query(campaign.id).where(I.reviewer.is_(None))
    return [
        _item_view(r)
        for r in session.execute(query.order_by(I.holder, I.app, I.id).limit(max(limit, 0)))
    ]


def _not_own(reviewer: str) -> ColumnElement[bool]:
    return func.coalesce(I.holder, "") != reviewer


def report_rows(session: Session, ref: str | int, *, batch: int = 5000) -> Iterator[ItemView]:
    """Every item of the campaign with its outcome, streamed (bounded memory)."""
    for row in report_tuples(session, ref, batch=batch):
        yield _item_view(row)


REPORT_HEADER = (
    "item",
    "holder",
    "username",
    "app",
    "edition",
    "last_activity_at",
    "idle_days",
    "annual_cost",
    "reviewer",
    "decision",
    "reason",
    "decided_at",
    "decided_by",
    "outcome",
    "outcome_at",
    "outcome_detail",
)


def report_tuples(session: Session, ref: str | int, *, batch: int = 5000) -> Iterator[Any]:
    """The raw rows of the report, in item order, read ``batch`` at a time (a server-side
    cursor on PostgreSQL)."""
    campaign = get_campaign(session, ref)
    query = _items_query(campaign.id).order_by(I.id).execution_options(yield_per=batch)
    yield from session.execute(query)


def report_records(
    session: Session, ref: str | int, *, batch: int = 5000
) -> Iterator[tuple[Any, ...]]:
    """The report in ``REPORT_HEADER`` order as the database writes it (dates as ISO text,
    text cells already neutralised for spreadsheets: ``kit.csv_output.sql_safe_cell``), read
    ``batch`` rows at a time from the driver's cursor (a server-side one on PostgreSQL): no
    per-row work in Python, bounded memory."""
    campaign = get_campaign(session, ref)
    connection = session.connection()
    dialect = connection.dialect
    safe = sql_safe_cell
    query = (
        select(
            I.id,
            safe(I.holder),
            safe(I.username),
            safe(I.app),
            safe(I.edition),
            sql_iso_instant(dialect.name, I.last_activity_at),
            I.idle_days,
            sql_cast(I.annual_cost, Float),
            safe(I.reviewer),
            I.decision,
            safe(I.reason),
            sql_iso_instant(dialect.name, I.decided_at),
            safe(I.decided_by),
            _OUTCOME,
            sql_iso_instant(dialect.name, _OUTCOME_AT),
            safe(_DETAIL),
        )
        .select_from(ITEMS)
        .outerjoin(RemovalCandidate, _C.id == I.candidate_id)
        .where(I.campaign_id == campaign.id)
        .order_by(I.id)
    )
    for rows in cursor_chunks(session, query, batch, name=f"review_report_{campaign.id}"):
        yield from rows


# --------------------------------------------------------------------------- decisions


def _open_campaign(session: Session, ref: str | int) -> ReviewCampaign:
    campaign = get_campaign(session, ref)
    if campaign.closed_at is not None:
        raise CampaignClosed(
            f"campaign {campaign.name!r} closed on {campaign.closed_at:%Y-%m-%d}: its decisions "
            "can no longer change"
        )
    return campaign


def _my_item(
    session: Session, campaign: ReviewCampaign, item_id: int, reviewer: str | None
) -> ReviewItem:
    item = session.get(ReviewItem, item_id)
    if item is None or item.campaign_id != campaign.id:
        raise ReviewNotFound(f"campaign {campaign.name!r} has no item {item_id}")
    if reviewer is None or item.reviewer != reviewer:
        raise NotYourItem(f"item {item_id} is not yours to review")
    if (item.holder or "") == reviewer:
        raise NotYourItem(f"item {item_id} is your own seat: someone else reviews it")
    return item


def _clean_reason(text: str | None) -> str | None:
    value = " ".join(strip_unstorable(text or "").split())
    return value or None


def decide(
    session: Session,
    clock: Clock,
    ref: str | int,
    item_id: int,
    reviewer: str | None,
    decision: str,
    *,
    reason: str | None = None,
    to: str | None = None,
    actor: str | None = None,
) -> ItemView:
    """The reviewer's decision on one of their items: keep, revoke (``reason`` required:
    the seat becomes a removal candidate or a task) or reassign (``to`` another reviewer).
    A revoke is final; a keep may become a revoke until the campaign closes. Audited."""
    campaign = _open_campaign(session, ref)
    item = _my_item(session, campaign, item_id, reviewer)
    _apply(session, clock, campaign, item, decision, reason, to, actor or f"reviewer:{reviewer}")
    return _one(session, item.id)


def decide_for_holder(
    session: Session,
    clock: Clock,
    ref: str | int,
    holder: str,
    reviewer: str | None,
    decision: str,
    *,
    reason: str | None = None,
    to: str | None = None,
    actor: str | None = None,
) -> list[ItemView]:
    """One decision on every undecided item of one holder the reviewer reviews (bulk)."""
    campaign = _open_campaign(session, ref)
    who = normal_email(holder)
    ids = list(
        session.scalars(
            select(I.id).where(
                I.campaign_id == campaign.id,
                I.holder == who,
                I.reviewer == reviewer,
                I.decision.is_(None),
            )
        )
    )
    if not ids or reviewer is None:
        raise ReviewNotFound(f"you have no undecided item of {holder!r} in {campaign.name!r}")
    done = []
    for item_id in ids:
        item = _my_item(session, campaign, item_id, reviewer)
        _apply(
            session, clock, campaign, item, decision, reason, to, actor or f"reviewer:{reviewer}"
        )
        done.append(item.id)
    return [_one(session, i) for i in done]


def _one(session: Session, item_id: int) -> ItemView:
    session.flush()
    return _item_view(session.execute(_items_query_by_id(item_id)).one())


def _items_query_by_id(item_id: int) -> Select[Any]:
    return (
        select(*_REPORT_COLUMNS)
        .select_from(ITEMS)
        .outerjoin(RemovalCandidate, _C.id == I.candidate_id)
        .where(I.id == item_id)
    )


def _apply(
    session: Session,
    clock: Clock,
    campaign: ReviewCampaign,
    item: ReviewItem,
    decision: str,
    reason: str | None,
    to: str | None,
    actor: str,
) -> None:
    now = clock.now()
    why = _clean_reason(reason)
    if item.decision == Decision.REVOKE.value:
        raise ReviewError(f"item {item.id} was revoked on {item.decided_at:%Y-%m-%d}: that stands")
    if decision == "reassign":
        new = normal_email(to)
        if new is None:
            raise ReviewError("reassign needs the other reviewer's email address (to)")
        if new == (item.holder or ""):
            raise ReviewError("a seat's holder never reviews their own seat: name someone else")
        if new == item.reviewer:
            raise ReviewError(f"{new} already reviews item {item.id}")
        old, item.reviewer = item.reviewer, new
        item.decision = item.decided_at = item.decided_by = None
        _audit(session, clock, item, "reassigned", actor, reviewer_was=old, to=new, reason=why)
        return
    if decision == Decision.KEEP.value:
        item.decision, item.reason = Decision.KEEP.value, why
    elif decision == Decision.REVOKE.value:
        if why is None:
            raise ReviewError("a revoke needs a reason: it is the evidence of the review")
        item.decision, item.reason = Decision.REVOKE.value, why
        _revoke(session, clock, campaign, item, actor)
    else:
        raise ReviewError(f"decision {decision!r}: use keep, revoke or reassign")
    item.decided_at, item.decided_by = now, actor[:200]
    _audit(session, clock, item, decision, actor, reason=why, candidate=item.candidate_id)


def _audit(
    session: Session, clock: Clock, item: ReviewItem, what: str, actor: str, **detail: Any
) -> None:
    audit.record(
        session,
        clock,
        action=f"review.{what}",
        object_type="review_item",
        object_id=item.id,
        actor=actor,
        campaign=item.campaign_id,
        holder=item.holder,
        app=item.app,
        **detail,
    )


def _revoke(
    session: Session, clock: Clock, campaign: ReviewCampaign, item: ReviewItem, actor: str
) -> None:
    """The seat becomes a removal candidate: ``ready`` (no notice to the user; the reclaim
    run carries it out under the cap), a task for a person where the app has no reclaim API
    (or its reclaim process is off), or ``attention_required`` for a seat held through a
    group. An open candidate already being revoked is linked instead."""
    now = clock.now()
    sub = session.get(Subscription, item.subscription_id) if item.subscription_id else None
    if sub is None or not sub.holds_seat:
        item.outcome_note = "the seat was already gone when it was revoked"
        return
    existing = session.scalar(
        select(RemovalCandidate).where(RC.subscription_id == sub.id, is_open_candidate())
    )
    if existing is not None:
        if existing.state == CandidateState.AWAITING_REVOCATION.value:
            item.candidate_id = existing.id
            return
        states.move(
            session,
            clock,
            existing,
            CandidateState.CLOSED_CANCELED,
            why=f"superseded by a revoke in access review {campaign.name!r}",
            actor=actor,
        )
        session.flush()
    profile = session.get_one(IntegrationProfile, sub.profile_id)
    cls = connector_class(profile.kind)
    can_reclaim = profiles.capabilities_of(cls, profile.options or {}).reclaim
    why = f"revoked in access review {campaign.name!r}: {item.reason}"
    if sub.group_scoped:
        state, reason = (
            CandidateState.ATTENTION_REQUIRED,
            getattr(cls, "group_task", "") or GROUP_TASK,
        )
    elif not (can_reclaim and profile.process_reclaim):
        state = CandidateState.AWAITING_REVOCATION
        reason = getattr(cls, "revocation_task", "") or MANUAL_REVOCATION
    else:
        state, reason = CandidateState.READY, why
    cost = item.annual_cost
    cand = RemovalCandidate(
        subscription_id=sub.id,
        profile_id=sub.profile_id,
        software_model_id=sub.software_model_id,
        rule_id=None,  # no rule: the workflow never sends the user a notice
        state=state.value,
        justification=Justification.ACCESS_REVIEW.value,
        inactive_days=item.idle_days,
        unit_cost=cost,
        potential_savings=cost,
        reason=reason,
        created_at=now,
        updated_at=now,
    )
    session.add(cand)
    session.flush()
    item.candidate_id = cand.id
    audit.record(
        session,
        clock,
        action=f"candidate.{state.value}",
        object_type="candidate",
        object_id=cand.id,
        actor=actor,
        why=why,
        review_item=item.id,
    )


def reassign_by_admin(
    session: Session, clock: Clock, ref: str | int, item_id: int, to: str, *, actor: str
) -> ItemView:
    """A campaign manager gives an item (an unassigned one, say) to another reviewer."""
    campaign = _open_campaign(session, ref)
    item = session.get(ReviewItem, item_id)
    if item is None or item.campaign_id != campaign.id:
        raise ReviewNotFound(f"campaign {campaign.name!r} has no item {item_id}")
    _apply(session, clock, campaign, item, "reassign", None, to, actor)
    return _one(session, item.id)


def close_campaign(
    session: Session, clock: Clock, ref: str | int, *, actor: str | None = None
) -> CampaignView:
    """Close the campaign: its decisions can no longer change (undecided items stay so, in
    the report). Audited."""
    campaign = _open_campaign(session, ref)
    campaign.closed_at = clock.now()
    view = campaign_view(session, campaign.id)
    audit.record(
        session,
        clock,
        action="review.campaign_closed",
        object_type="review_campaign",
        object_id=campaign.id,
        actor=actor,
        items=view.items,
        decided=view.decided,
    )
    return view


# --------------------------------------------------------------------------- escalation


def escalate(
    session: Session, clock: Clock, campaign: ReviewCampaign, *, to_owner: bool
) -> dict[str, int]:
    """Undecided items go to their reviewer's manager (``to_owner``: to the campaign's
    owner), never to the holder; returns {new reviewer: items}. Each move is audited."""
    undecided = session.execute(
        select(I.reviewer, I.holder)
        .where(I.campaign_id == campaign.id, I.decision.is_(None))
        .group_by(I.reviewer, I.holder)
    ).all()
    bosses: dict[str | None, str | None] = {}
    moved: dict[str, int] = {}
    for reviewer, holder in undecided:
        if to_owner:
            new = campaign.owner
        else:
            if reviewer not in bosses:
                bosses[reviewer] = _manager_of_email(session, reviewer)
            new = bosses[reviewer] or campaign.owner
        if new == reviewer or new == (holder or ""):
            continue
        changed = rowcount(
            session.execute(
                update(ITEMS)
                .where(
                    I.campaign_id == campaign.id,
                    I.decision.is_(None),
                    I.reviewer.is_(None) if reviewer is None else I.reviewer == reviewer,
                    I.holder.is_(None) if holder is None else I.holder == holder,
                )
                .values(reviewer=new)
            )
        )
        moved[new] = moved.get(new, 0) + changed
        audit.record(
            session,
            clock,
            action="review.escalated",
            object_type="review_campaign",
            object_id=campaign.id,
            actor=states.SYSTEM,
            reviewer_was=reviewer,
            to=new,
            holder=holder,
            items=changed,
        )
    return moved


def _manager_of_email(session: Session, email: str | None) -> str | None:
    if email is None:
        return None
    person_id = session.scalar(select(Person.id).where(Person.email == email))
    return directory_port.manager_email(session, person_id)


def undecided_by_reviewer(session: Session, campaign_id: int) -> dict[str, int]:
    rows = session.execute(
        select(I.reviewer, func.count())
        .where(I.campaign_id == campaign_id, I.decision.is_(None), I.reviewer.is_not(None))
        .group_by(I.reviewer)
    )
    return {str(r): int(n) for r, n in rows}


def ready_revokes(session: Session) -> list[int]:
    """Removal candidates of revokes that wait for the reclaim run."""
    return list(
        session.scalars(
            select(RC.id)
            .join(ITEMS, I.candidate_id == RC.id)
            .where(RC.state == CandidateState.READY.value)
            .order_by(RC.id)
        )
    )


def next_in_series(session: Session, clock: Clock, campaign: ReviewCampaign) -> CampaignView | None:
    """Start the next campaign of a quarterly series (same scope, reviewers and owner; due
    as long after its start as this one was); the series moves on to the one started."""
    now = clock.now()
    start = campaign.next_start_at or now
    year, quarter = start.year, (start.month - 1) // 3 + 1
    name = f"{campaign.series or campaign.name} {year}-Q{quarter}"
    campaign.next_start_at = None
    if session.scalar(select(ReviewCampaign.id).where(ReviewCampaign.name == name)):
        return None
    length = campaign.due_at - campaign.created_at
    data = CampaignCreate(
        name=name,
        scope=f"{campaign.scope_kind}={campaign.scope_value}",
        due=now + max(length, timedelta(days=1)),
        reviewer=campaign.reviewer_email or campaign.reviewer_policy,
        owner=campaign.owner,
        recurrence=campaign.recurrence,  # type: ignore[arg-type]
    )
    view = create_campaign(session, clock, data, actor=states.SYSTEM)
    created = session.get_one(ReviewCampaign, view.id)
    created.series = campaign.series or campaign.name
    return view


def open_series_due(session: Session, now: datetime) -> list[ReviewCampaign]:
    return list(
        session.scalars(
            select(ReviewCampaign)
            .where(ReviewCampaign.next_start_at.is_not(None), ReviewCampaign.next_start_at <= now)
            .order_by(ReviewCampaign.id)
        )
    )


def open_campaigns(session: Session) -> list[ReviewCampaign]:
    return list(
        session.scalars(
            select(ReviewCampaign)
            .where(ReviewCampaign.closed_at.is_(None))
            .order_by(ReviewCampaign.id)
        )
    )


def campaigns_for_reviewer(
    session: Session, reviewer: str | None
) -> list[tuple[CampaignView, int, int]]:
    """The campaigns where ``reviewer`` has items: (campaign, undecided, items), open first."""
    if reviewer is None:
        return []
    rows = session.execute(
        select(I.campaign_id, func.count(), func.count(case((I.decision.is_(None), 1))))
        .where(I.reviewer == reviewer, _not_own(reviewer))
        .group_by(I.campaign_id)
    ).all()
    found = []
    for campaign_id, items, undecided in rows:
        campaign = session.get_one(ReviewCampaign, campaign_id)
        found.append((_view(campaign, (items, items - undecided, 0)), int(undecided), int(items)))
    return sorted(found, key=lambda c: (c[0].closed_at is not None, c[0].due_at))
