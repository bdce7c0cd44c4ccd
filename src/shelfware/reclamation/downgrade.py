"""Downgrade rules, set-based: light users of edition A -> candidates to move to edition B.

A ``downgrade`` rule on a software model (edition A) names a target model (edition B) and what
"light" is: fewer than ``max_active_days`` days with activity and/or fewer than ``max_events``
activity events in the last ``window_days`` days (each threshold set must hold). Intensity
comes only from event-based activity (audit logs, SSO events, custom event streams), recorded
per account and day (``ActivityDay``) since the profile's ``activity_days_from``:

- a profile whose recorded days do not cover the whole window has no intensity data: none of
  its accounts is proposed (the dry run counts them as ``no_activity_data``);
- an account with no activity at all in the window is idle, not light: removal rules are for
  it (the dry run counts it as ``idle``);
- people who left the organisation lose the seat (a removal), never a downgrade.

The saving of a downgrade is the annual price difference of the two editions
(:func:`shelfware.licensing.pricing.downgrade_saving`). Candidates share the removal
candidates' lifecycle, notices, keeps, approvals and reclaim cap; they carry
``action = "downgrade"`` and the target model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Subquery,
    Table,
    and_,
    case,
    exists,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from shelfware.kit.clock import Clock
from shelfware.kit.db import UTCDateTime, whole_days_between
from shelfware.licensing.pricing import SeatPrice, downgrade_saving
from shelfware.models import (
    ActivityDay,
    CandidateAction,
    CandidateState,
    IntegrationProfile,
    Justification,
    ReclamationRule,
    RemovalCandidate,
    Subscription,
    is_open_candidate,
)
from shelfware.reclamation import keeps, states
from shelfware.reclamation.candidate_rows import first_state, insert_candidates
from shelfware.reclamation.schemas import DowngradeDryRun, DowngradeSelection

S = Subscription.__table__.c
C = RemovalCandidate.__table__.c
D = ActivityDay.__table__.c
CANDIDATES: Table = cast(Table, RemovalCandidate.__table__)
DOWNGRADE = CandidateAction.DOWNGRADE.value

MANUAL_DOWNGRADE = (
    "the edition is changed by hand here: move this account to {target} in the app; the next "
    "sync closes the candidate once it shows the account in {target}"
)


class DowngradeRuleError(ValueError):
    """A downgrade rule that cannot select anything as configured; says what to set."""


def check_rule(rule: ReclamationRule) -> None:
    """A downgrade rule needs a target edition, a window and at least one threshold."""
    if rule.target_model_id is None:
        raise DowngradeRuleError("a downgrade rule needs the edition to move to (--to-model)")
    if rule.target_model_id == rule.software_model_id:
        raise DowngradeRuleError("a downgrade rule cannot move seats to the same edition")
    if not rule.window_days:
        raise DowngradeRuleError("a downgrade rule needs a window (--window-days D)")
    if not rule.max_active_days and not rule.max_events:
        raise DowngradeRuleError(
            "a downgrade rule needs what light use is: --max-active-days N and/or --max-events N"
        )


def window_start(now: datetime, window_days: int) -> date:
    """Days after this one are in the window (today included: ``window_days`` days)."""
    return (now - timedelta(days=window_days)).date()


def intensity(start: date, subscriptions: Any = None) -> Subquery:
    """Per account: days with activity and activity events after ``start``."""
    query = select(
        D.subscription_id.label("subscription_id"),
        func.count().label("active_days"),
        func.sum(D.events).label("events"),
    ).where(D.day > start)
    if subscriptions is not None:
        query = query.where(D.subscription_id.in_(subscriptions))
    return query.group_by(D.subscription_id).subquery("intensity")


def covered(profile: IntegrationProfile, now: datetime, window_days: int) -> bool:
    """The profile's recorded activity days cover the whole window (event-based activity
    only ever records days: an account-field or absent source never does)."""
    since = profile.activity_days_from
    return bool(
        profile.process_activity
        and since is not None
        and since <= now - timedelta(days=window_days)
    )


def light_condition(rule: ReclamationRule, counts: Subquery) -> ColumnElement[bool]:
    """Active in the window, and under every threshold the rule sets."""
    parts: list[ColumnElement[bool]] = [counts.c.active_days >= 1]
    if rule.max_active_days:
        parts.append(counts.c.active_days < rule.max_active_days)
    if rule.max_events:
        parts.append(counts.c.events < rule.max_events)
    return and_(*parts)


def saving_of(
    action: str, model_id: int, target_id: int | None, prices: dict[int, SeatPrice]
) -> Decimal | None:
    """The annual saving of one candidate: the seat's price (remove), or the price difference
    of the two editions (downgrade)."""
    if action == DOWNGRADE:
        return downgrade_saving(prices.get(model_id), prices.get(target_id or 0))
    price = prices.get(model_id)
    return None if price is None else price.annual


@dataclass
class DowngradeResult:
    created: int = 0
    canceled: int = 0
    closed: int = 0


def evaluate(
    session: Session,
    clock: Clock,
    profile: IntegrationProfile,
    rule: ReclamationRule,
    prices: dict[int, SeatPrice],
    excluded: ColumnElement[bool],
    *,
    can_downgrade: bool,
    leaving: ColumnElement[bool],
) -> DowngradeResult:
    """Close, cancel, reprice and create the profile's candidates of one downgrade rule."""
    result = DowngradeResult()
    now = clock.now()
    dialect = session.get_bind().dialect.name
    target = rule.target_model_id
    mine = [C.profile_id == profile.id, C.rule_id == rule.id, C.action == DOWNGRADE]
    # the account now shows in B: done (we asked, or a person was asked), else moved by others
    in_target = select(S.id).where(S.profile_id == profile.id, S.software_model_id == target)
    moved = [*mine, is_open_candidate(), C.subscription_id.in_(in_target)]
    result.closed += states.move_where(
        session,
        clock,
        CandidateState.CLOSED_COMPLETE,
        [*moved, C.state == CandidateState.AWAITING_REVOCATION.value],
        why="the account is now in the target edition",
        values={"realised_saving": C.potential_savings},
    )
    result.closed += states.move_where(
        session,
        clock,
        CandidateState.CLOSED_SKIPPED,
        moved,
        why="the account was moved to the target edition by other means",
    )
    # no longer light (or excluded, the rule off, out of the window's data, left): canceled;
    # one already asked of the app waits for the sync that shows it in B
    if rule.window_days and target is not None:
        counts = intensity(window_start(now, rule.window_days))
        light = (
            select(S.id)
            .join(counts, counts.c.subscription_id == S.id)
            .where(
                S.profile_id == profile.id,
                S.software_model_id == rule.software_model_id,
                light_condition(rule, counts),
            )
        )
    else:
        light = select(S.id).where(literal(False))
    still_wanted = and_(
        literal(bool(rule.active and covered(profile, now, rule.window_days or 0))),
        S.id.in_(light),
        not_(excluded),
        not_(leaving),
    )
    no_longer = select(S.id).where(S.profile_id == profile.id, not_(still_wanted))
    result.canceled += states.move_where(
        session,
        clock,
        CandidateState.CLOSED_CANCELED,
        [*mine, is_open_candidate(), C.reclaimed_at.is_(None), C.subscription_id.in_(no_longer)],
        why="the account is no longer a light user of the edition, or no longer selected",
    )
    saving = saving_of(DOWNGRADE, rule.software_model_id, target, prices)
    price = prices.get(rule.software_model_id)
    unit = price.annual if price is not None else None
    session.execute(
        update(CANDIDATES)
        .where(*mine, is_open_candidate(), C.potential_savings.is_distinct_from(saving))
        .values(unit_cost=unit, potential_savings=saving, updated_at=now)
    )
    if not rule.active or target is None or not covered(profile, now, rule.window_days or 0):
        return result
    result.created = _create(
        session, dialect, profile, rule, now, excluded, leaving, unit, saving, can_downgrade
    )
    return result


def _create(
    session: Session,
    dialect: str,
    profile: IntegrationProfile,
    rule: ReclamationRule,
    now: datetime,
    excluded: ColumnElement[bool],
    leaving: ColumnElement[bool],
    unit: Decimal | None,
    saving: Decimal | None,
    can_downgrade: bool,
) -> int:
    now_sql = literal(now, UTCDateTime())
    counts = intensity(window_start(now, rule.window_days or 0))
    has_open = exists().where(C.subscription_id == S.id, is_open_candidate())
    target_name = rule.target_model.display_name if rule.target_model else "the target edition"
    if not (can_downgrade and profile.process_reclaim):
        state: ColumnElement[Any] = literal(CandidateState.AWAITING_REVOCATION.value)
        reason: ColumnElement[Any] = literal(MANUAL_DOWNGRADE.format(target=target_name))
    else:
        state = first_state(rule)
        reason = case(
            (
                S.group_scoped.is_(True),
                literal("assigned through a group: change the edition in the identity provider"),
            ),
            else_=null(),
        )
    since = func.coalesce(S.last_activity_at, S.created_in_app_at, S.first_seen_at)
    conditions = [
        S.profile_id == profile.id,
        S.software_model_id == rule.software_model_id,
        S.active.is_(True),
        S.gone_at.is_(None),
        light_condition(rule, counts),
        not_(excluded),
        not_(leaving),
        not_(has_open),
        keeps.not_kept(now),
    ]
    selection = (
        select(
            S.id,
            literal(profile.id),
            S.software_model_id,
            literal(rule.id),
            state,
            literal(Justification.LIGHT_USE.value),
            whole_days_between(dialect, now_sql, since),
            literal(unit) if unit is not None else null(),
            literal(saving) if saving is not None else null(),
            reason,
            now_sql,
            now_sql,
            literal(DOWNGRADE),
            literal(rule.target_model_id),
            counts.c.active_days,
        )
        .join(counts, counts.c.subscription_id == S.id)
        .where(*conditions)
    )
    return insert_candidates(session, selection, ("action", "target_model_id", "active_days"))


# --- the dry run ------------------------------------------------------------------------------


def preview(
    session: Session,
    now: datetime,
    model_name: str,
    rule: ReclamationRule,
    prices: dict[int, SeatPrice],
    profiles: list[tuple[IntegrationProfile, ColumnElement[bool], ColumnElement[bool]]],
) -> DowngradeDryRun:
    """The accounts ``rule`` selects now per profile (each with its exclusion and leaver
    conditions); nothing is written."""
    check_rule(rule)
    window = rule.window_days or 0
    per_seat = saving_of(DOWNGRADE, rule.software_model_id, rule.target_model_id, prices)
    selections: list[DowngradeSelection] = []
    no_data = idle = 0
    open_state = (
        select(C.state)
        .where(C.subscription_id == S.id, is_open_candidate())
        .limit(1)
        .scalar_subquery()
    )
    for profile, excluded, leaving in profiles:
        scope = [
            S.profile_id == profile.id,
            S.software_model_id == rule.software_model_id,
            S.active.is_(True),
            S.gone_at.is_(None),
            not_(excluded),
            not_(leaving),
        ]
        if not covered(profile, now, window):
            no_data += int(
                session.scalar(select(func.count()).select_from(Subscription).where(*scope)) or 0
            )
            continue
        counts = intensity(window_start(now, window))
        idle += int(
            session.scalar(
                select(func.count())
                .select_from(Subscription)
                .outerjoin(counts, counts.c.subscription_id == S.id)
                .where(*scope, or_(counts.c.active_days.is_(None), counts.c.active_days < 1))
            )
            or 0
        )
        rows = session.execute(
            select(
                S.external_id,
                S.username,
                S.email,
                S.kept_until,
                counts.c.active_days,
                counts.c.events,
                open_state,
            )
            .join(counts, counts.c.subscription_id == S.id)
            .where(*scope, light_condition(rule, counts))
            .order_by(S.external_id)
        )
        for external_id, username, email, kept, days, events, state in rows:
            kept_until = keeps.kept_until_now(now, kept)
            selections.append(
                DowngradeSelection(
                    profile=profile.name,
                    external_id=external_id,
                    username=username,
                    email=email,
                    active_days=int(days),
                    events=int(events or 0),
                    open_candidate=state,
                    selected=kept_until is None,
                    kept_until=kept_until,
                )
            )
    selected = sum(1 for s in selections if s.selected)
    currency = None if per_seat is None else prices[rule.software_model_id].currency
    return DowngradeDryRun(
        software_model=model_name,
        target_model=rule.target_model.display_name if rule.target_model else "",
        window_days=window,
        annual_saving_per_seat=None if per_seat is None else float(per_seat),
        selections=selections,
        no_activity_data=no_data,
        idle=idle,
        currency=currency,
        annual=(
            {currency: float(round(per_seat * selected, 2))}
            if currency is not None and per_seat is not None and selected
            else {}
        ),
    )
