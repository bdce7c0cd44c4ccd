"""Rule evaluation, set-based: subscriptions -> removal candidates.

For each active rule of a software model a profile holds seats of, one ``INSERT ... SELECT``
creates the new candidates (never for a seat its user or an approver chose to keep: keeps.py),
one ``UPDATE`` cancels those whose account became active (or is now excluded), and one
``UPDATE`` closes those whose seat is gone. Nothing is loaded row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    SelectBase,
    Table,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from shelfware.kit.clock import Clock, FrozenClock
from shelfware.kit.db import UTCDateTime, whole_days_between
from shelfware.licensing.pricing import SeatPrice, day_of, seat_prices
from shelfware.models import (
    CandidateAction,
    CandidateState,
    IntegrationProfile,
    Justification,
    Person,
    ReclamationRule,
    RemovalCandidate,
    SoftwareModel,
    Subscription,
    is_open_candidate,
)
from shelfware.models.person import LEFT_STATUSES
from shelfware.reclamation import directory_port, downgrade, keeps, rules_delta, states
from shelfware.reclamation.candidate_rows import (
    first_state,
    insert_candidates,
)

S = Subscription.__table__.c
C = RemovalCandidate.__table__.c
# ``__table__`` is typed as a FromClause; DML needs to know it is a Table.
REMOVAL_CANDIDATES: Table = cast(Table, RemovalCandidate.__table__)


# Seats granted through a group in the identity provider cannot be reclaimed per account.
GROUP_TASK = "assigned through a group: remove from the group in Okta"
LEFT_REASON = "left the organisation: {status} in the identity provider"

MANUAL_REVOCATION = (
    "reclaim is manual here: remove this account's seat in the app; the next sync closes the "
    "candidate once the seat is gone"
)


@dataclass
class EvaluationResult:
    created: int = 0
    canceled: int = 0
    closed: int = 0


REMOVE = CandidateAction.REMOVE.value


def idle_cutoff(now: datetime, rule: ReclamationRule) -> datetime:
    return now - timedelta(days=rule.threshold_days)


def _since() -> ColumnElement[Any]:
    """When an account started to exist for us: created in the app, else first seen."""
    return func.coalesce(S.created_in_app_at, S.first_seen_at)


def idle_condition(cutoff: datetime, rule: ReclamationRule) -> ColumnElement[bool]:
    """Idle longer than the threshold; never-used accounts count once past the grace period."""
    cut = literal(cutoff, UTCDateTime())
    never_used: ColumnElement[bool] = S.last_activity_at.is_(None)
    if rule.new_account_grace:
        never_used = and_(never_used, _since() <= cut)
    return or_(and_(S.last_activity_at.is_not(None), S.last_activity_at < cut), never_used)


def glob_to_like(pattern: str) -> str:
    """A glob (``*`` any run, ``?`` one character) as a LIKE pattern escaped with ``\\``."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def exclusion_condition(
    rule: ReclamationRule,
    owner_external_id: str | None,
    group_members: SelectBase | None = None,
) -> ColumnElement[bool]:
    """True for accounts the rule must never select (``group_members``: a query of the
    normalised emails of the people in the rule's excluded identity-provider groups)."""
    # a role or status the connector did not know is never guessed into a candidate
    parts: list[ColumnElement[bool]] = [S.unrecognised.is_not(None)]
    if rule.exclude_admins:
        parts.append(S.admin.is_(True))
    if owner_external_id is not None:
        parts.append(S.external_id == owner_external_id)
    users = [str(u).strip().lower() for u in rule.excluded_users or [] if str(u).strip()]
    named: list[list[str] | SelectBase] = [users] if users else []
    if group_members is not None:
        named.append(group_members)
    for names in named:
        parts.append(func.lower(func.coalesce(S.username, "")).in_(names))
        parts.append(func.lower(func.coalesce(S.email, "")).in_(names))
    for domain in rule.excluded_domains or []:
        domain = str(domain).strip().lower().lstrip("@")
        if domain:
            parts.append(func.lower(func.coalesce(S.email, "")).like(f"%@{domain}"))
    for pattern in rule.service_account_patterns or []:
        like = glob_to_like(str(pattern).strip().lower())
        for column in (S.username, S.email):
            parts.append(func.lower(func.coalesce(column, "")).like(like, escape="\\"))
    return or_(*parts) if parts else false()


def holds_seat() -> ColumnElement[bool]:
    return and_(S.active.is_(True), S.gone_at.is_(None))


def _left_status() -> Any:
    """The identity-provider status of the account's person when they left, else NULL."""
    P = Person.__table__.c
    return (
        select(P.idp_status)
        .where(P.id == S.person_id, P.idp_status.in_(LEFT_STATUSES))
        .scalar_subquery()
    )


def person_left() -> ColumnElement[bool]:
    """The account's person left the organisation (deprovisioned or suspended in the IdP)."""
    P = Person.__table__.c
    return exists().where(P.id == S.person_id, P.idp_status.in_(LEFT_STATUSES))


def evaluate_profile(
    session: Session,
    profile: IntegrationProfile,
    now: datetime | Clock,
    *,
    can_reclaim: bool,
    revocation_task: str = "",
    group_task: str = GROUP_TASK,
    can_downgrade: bool = False,
    full: bool = False,
) -> EvaluationResult:
    """Create, cancel and close the profile's candidates from its current subscriptions.

    Where reclaim is manual (no API, or the profile's reclaim process off) candidates are tasks
    for a person (`awaiting_revocation`) whose reason says what to do: `revocation_task`.
    Downgrade rules (``downgrade.py``) run after the removal rules: a seat idle enough to be
    removed is never proposed for a cheaper edition; where the app cannot change an account's
    edition (`can_downgrade` false) a downgrade is a task for a person.

    Only the seats whose outcome can have changed since the profile's last evaluation are
    looked at (``rules_delta``); `full` looks at all of them."""
    clock = now if not isinstance(now, datetime) else FrozenClock(now)
    now = clock.now()
    result = EvaluationResult()
    dialect = session.get_bind().dialect.name
    # the models the profile holds seats of: an EXISTS per model (a few), not a read of
    # every account of the profile
    M = SoftwareModel.__table__.c
    model_ids = list(
        session.scalars(
            select(M.id).where(
                exists().where(S.software_model_id == M.id, S.profile_id == profile.id)
            )
        )
    )
    if not model_ids:
        return result
    R = ReclamationRule
    # a downgrade rule counts while its edition or its target is held (its open candidates
    # close once their accounts show in the target edition)
    every_rule = session.scalars(
        select(R).where(
            or_(
                R.software_model_id.in_(model_ids),
                and_(R.kind != REMOVE, R.target_model_id.in_(model_ids)),
            )
        )
    ).all()
    rules = [r for r in every_rule if r.kind == REMOVE]
    downgrades = [r for r in every_rule if r.kind != REMOVE]
    priced = {
        *model_ids,
        *(m for r in downgrades for m in (r.software_model_id, r.target_model_id)),
    }
    prices = seat_prices(session, sorted(m for m in priced if m is not None), on=day_of(now))
    # a keep that ran out is forgotten first: its account is then written since (in scope)
    keeps.forget_expired(session, profile.id, now)
    settings = (can_reclaim, revocation_task, group_task, can_downgrade)
    members = {r.id: directory_port.group_members(session, r.excluded_groups) for r in every_rule}
    digest = rules_delta.fingerprint(
        session, profile, model_ids, every_rule, members, prices, settings
    )
    scope = None
    if not full:
        scope = rules_delta.scope(session, profile, now, digest, rules, downgrades=bool(downgrades))
    if scope is not None and not scope:
        rules_delta.finish(session, profile, now, digest, full=False)
        return result
    price: SeatPrice | None
    for model_id, price in prices.items():
        _reprice_open(session, profile, model_id, price.annual, now, scope)
    result.closed = _close_gone(session, clock, profile, scope)
    owner = profile.credential_owner_external_id
    # a person who left loses the seat: a downgrade not yet asked of the app gives way
    result.canceled += states.move_where(
        session,
        clock,
        CandidateState.CLOSED_CANCELED,
        [
            C.profile_id == profile.id,
            C.action != REMOVE,
            is_open_candidate(),
            C.reclaimed_at.is_(None),
            C.subscription_id.in_(
                select(S.id).where(
                    S.profile_id == profile.id, person_left(), rules_delta.within(S.id, scope)
                )
            ),
        ],
        why="left the organisation: the seat is to be removed, not downgraded",
    )
    # Where the profile had no open candidate before this evaluation, the only open ones at
    # the per-rule cancel below are the leavers' created next, which it keeps: skip it (a
    # first sync's evaluation; one remove rule per model, so no rule cancels another's).
    had_open = bool(
        session.scalar(select(exists().where(C.profile_id == profile.id, is_open_candidate())))
    )
    result.created += _create_leavers(
        session,
        dialect,
        profile,
        now,
        rules,
        prices,
        can_reclaim,
        revocation_task or MANUAL_REVOCATION,
        group_task,
        scope,
    )
    for rule in rules:
        cutoff = idle_cutoff(now, rule)
        in_scope = and_(
            S.profile_id == profile.id,
            S.software_model_id == rule.software_model_id,
            rules_delta.within(S.id, scope),
        )
        excluded = exclusion_condition(rule, owner, members[rule.id])
        if had_open:
            result.canceled += _cancel_no_longer_idle(
                session, clock, in_scope, idle_condition(cutoff, rule), excluded, rule
            )
        if not rule.active or not profile.process_activity:
            # Without activity data idleness is unknown: select nothing.
            continue
        price = prices.get(rule.software_model_id)
        result.created += _create(
            session,
            dialect,
            profile,
            rule,
            now,
            cutoff,
            in_scope,
            excluded,
            price.annual if price else None,
            can_reclaim,
            revocation_task or MANUAL_REVOCATION,
            group_task,
        )
    for rule in downgrades:
        if rule.target_model_id is None:
            continue
        found = downgrade.evaluate(
            session,
            clock,
            profile,
            rule,
            prices,
            exclusion_condition(rule, owner, members[rule.id]),
            can_downgrade=can_downgrade,
            leaving=person_left(),
        )
        result.created += found.created
        result.canceled += found.canceled
        result.closed += found.closed
    rules_delta.finish(session, profile, now, digest, full=scope is None)
    return result


def _create(
    session: Session,
    dialect: str,
    profile: IntegrationProfile,
    rule: ReclamationRule,
    now: datetime,
    cutoff: datetime,
    in_scope: ColumnElement[bool],
    excluded: ColumnElement[bool],
    annual_price: Decimal | None,
    can_reclaim: bool,
    revocation_task: str,
    group_task: str = GROUP_TASK,
) -> int:
    now_sql = literal(now, UTCDateTime())
    has_open = exists().where(C.subscription_id == S.id, is_open_candidate())
    reason: ColumnElement[Any] = null()
    if not (can_reclaim and profile.process_reclaim):
        state: ColumnElement[Any] = literal(CandidateState.AWAITING_REVOCATION.value)
        reason = literal(revocation_task)
    else:
        state = first_state(rule)
        reason = case((S.group_scoped.is_(True), literal(group_task)), else_=null())
    justification = case(
        (S.last_activity_at.is_(None), literal(Justification.NEVER_USED.value)),
        else_=literal(Justification.LOW_USAGE.value),
    )
    inactive_days = whole_days_between(
        dialect, now_sql, func.coalesce(S.last_activity_at, _since())
    )
    price = literal(annual_price) if annual_price is not None else null()
    selection = select(
        S.id,
        literal(profile.id),
        S.software_model_id,
        literal(rule.id),
        state,
        justification,
        inactive_days,
        price,
        price,
        reason,
        now_sql,
        now_sql,
        false(),  # rules_dirty: written by the evaluation itself, not since it
    ).where(
        in_scope,
        holds_seat(),
        idle_condition(cutoff, rule),
        not_(excluded),
        not_(has_open),
        keeps.not_kept(now),
    )
    return insert_candidates(session, selection, ("rules_dirty",))


def _create_leavers(
    session: Session,
    dialect: str,
    profile: IntegrationProfile,
    now: datetime,
    rules: Any,
    prices: dict[int, SeatPrice],
    can_reclaim: bool,
    revocation_task: str,
    group_task: str = GROUP_TASK,
    scope: rules_delta.Scope = None,
) -> int:
    """Seats of people who left the organisation: candidates whatever their activity (and
    whatever the rules' thresholds), never the credential's own account nor a seat kept by its
    user or an approver (a keep is a person's decision: it holds). Open candidates of
    such seats (idle before the person left) now say they left."""
    within = rules_delta.within(S.id, scope)
    leaving = select(S.id).where(S.profile_id == profile.id, person_left(), within)
    session.execute(
        update(REMOVAL_CANDIDATES)
        .where(
            C.profile_id == profile.id,
            is_open_candidate(),
            C.reclaimed_at.is_(None),
            C.justification != Justification.LEFT_ORGANISATION.value,
            C.action == REMOVE,
            C.subscription_id.in_(leaving),
        )
        .values(justification=Justification.LEFT_ORGANISATION.value, updated_at=now)
    )
    now_sql = literal(now, UTCDateTime())
    has_open = exists().where(C.subscription_id == S.id, is_open_candidate())
    left = _left_status()
    if not (can_reclaim and profile.process_reclaim):
        state: ColumnElement[Any] = literal(CandidateState.AWAITING_REVOCATION.value)
        reason: ColumnElement[Any] = literal(revocation_task)
    else:
        state = case(
            (S.group_scoped.is_(True), literal(CandidateState.ATTENTION_REQUIRED.value)),
            else_=literal(CandidateState.READY.value),
        )
        reason = case(
            (S.group_scoped.is_(True), literal(group_task)),
            else_=literal("left the organisation: ")
            .concat(left)
            .concat(literal(" in the identity provider")),
        )
    rule_of = {rule.software_model_id: rule.id for rule in rules}
    price_of = {mid: price.annual for mid, price in prices.items()}
    rule_id = case(rule_of, value=S.software_model_id, else_=null()) if rule_of else null()
    price = (
        case(
            {k: literal(v) for k, v in price_of.items() if v is not None},
            value=S.software_model_id,
            else_=null(),
        )
        if any(v is not None for v in price_of.values())
        else null()
    )
    inactive_days = whole_days_between(
        dialect, now_sql, func.coalesce(S.last_activity_at, _since())
    )
    conditions = [
        S.profile_id == profile.id,
        holds_seat(),
        person_left(),
        not_(has_open),
        keeps.not_kept(now),
        S.unrecognised.is_(None),  # an unknown role or status: never guessed
        within,
    ]
    if profile.credential_owner_external_id is not None:
        conditions.append(S.external_id != profile.credential_owner_external_id)
    selection = select(
        S.id,
        literal(profile.id),
        S.software_model_id,
        rule_id,
        state,
        literal(Justification.LEFT_ORGANISATION.value),
        inactive_days,
        price,
        price,
        reason,
        now_sql,
        now_sql,
        false(),  # rules_dirty: written by the evaluation itself, not since it
    ).where(*conditions)
    return insert_candidates(session, selection, ("rules_dirty",))


def _reprice_open(
    session: Session,
    profile: IntegrationProfile,
    model_id: int,
    annual_price: Decimal | None,
    now: datetime,
    scope: rules_delta.Scope = None,
) -> None:
    """Open candidates carry the model's current seat price (entitlements change)."""
    session.execute(
        update(REMOVAL_CANDIDATES)
        .where(
            C.profile_id == profile.id,
            C.software_model_id == model_id,
            C.action == REMOVE,
            is_open_candidate(),
            C.unit_cost.is_distinct_from(annual_price),
            rules_delta.within(C.subscription_id, scope),
        )
        .values(unit_cost=annual_price, potential_savings=annual_price, updated_at=now)
    )


def _cancel_no_longer_idle(
    session: Session,
    clock: Clock,
    in_scope: ColumnElement[bool],
    idle: ColumnElement[bool],
    excluded: ColumnElement[bool],
    rule: ReclamationRule,
) -> int:
    """Open, not-yet-reclaimed candidates whose account is active again or now excluded."""
    still_wanted = or_(
        and_(idle, not_(excluded), true() if rule.active else false()), person_left()
    )
    no_longer = select(S.id).where(in_scope, holds_seat(), not_(still_wanted))
    return states.move_where(
        session,
        clock,
        CandidateState.CLOSED_CANCELED,
        [
            is_open_candidate(),
            C.action == REMOVE,
            C.reclaimed_at.is_(None),
            C.subscription_id.in_(no_longer),
            # a reviewer's revoke is a person's decision, not the rule's selection
            C.justification != Justification.ACCESS_REVIEW.value,
        ],
        why="the account is active again, or no longer selected by the rule",
    )


def _close_gone(
    session: Session,
    clock: Clock,
    profile: IntegrationProfile,
    scope: rules_delta.Scope = None,
) -> int:
    """Open candidates whose seat is gone: complete (the saving realised) when we reclaimed it
    or a person was asked to revoke it; skipped when it vanished by other means (a downgrade
    whose seat is gone is skipped: it was never moved)."""
    gone = select(S.id).where(
        S.profile_id == profile.id, not_(holds_seat()), rules_delta.within(S.id, scope)
    )
    open_gone = [C.profile_id == profile.id, is_open_candidate(), C.subscription_id.in_(gone)]
    complete = states.move_where(
        session,
        clock,
        CandidateState.CLOSED_COMPLETE,
        [*open_gone, C.action == REMOVE, C.state == CandidateState.AWAITING_REVOCATION.value],
        why="the seat is no longer held in the app",
        values={"realised_saving": C.unit_cost},
    )
    return complete + states.move_where(
        session,
        clock,
        CandidateState.CLOSED_SKIPPED,
        open_gone,
        why="the account vanished or was disabled by other means",
    )
