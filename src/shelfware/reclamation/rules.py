"""Reclamation rules: one per software model, listed and changed here (with an audit event)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, Select, and_, case, func, not_, select
from sqlalchemy.orm import Session

from shelfware.audit import service as audit
from shelfware.kit import keyset
from shelfware.kit.clock import Clock
from shelfware.licensing.pricing import day_of, seat_prices
from shelfware.licensing.service import find_model
from shelfware.models import (
    IntegrationProfile,
    Justification,
    ReclamationRule,
    RemovalCandidate,
    SoftwareModel,
    Subscription,
    is_open_candidate,
)
from shelfware.models.reclamation import RuleKind
from shelfware.profiles.service import ensure_default_rule
from shelfware.reclamation import directory_port, downgrade, evaluation, keeps
from shelfware.reclamation.schemas import (
    Approver,
    DowngradeDryRun,
    Excluded,
    RuleChange,
    RulePreview,
    RuleSelection,
    RuleView,
)

SETTINGS = (
    "threshold_days",
    "notify",
    "auto_reclaim_days",
    "approval_required",
    "exclude_admins",
    "new_account_grace",
    "active",
    "keep_days",
    "max_active_days",
    "max_events",
    "window_days",
)


def rule_view(rule: ReclamationRule, model: SoftwareModel) -> RuleView:
    return RuleView(
        id=rule.id,
        software_model=model.display_name,
        threshold_days=rule.threshold_days,
        notify=rule.notify,
        auto_reclaim_days=rule.auto_reclaim_days,
        approval_required=rule.approval_required,
        exclude_admins=rule.exclude_admins,
        excluded_users=[str(u) for u in rule.excluded_users],
        excluded_domains=[str(d) for d in rule.excluded_domains],
        excluded_groups=[str(g) for g in rule.excluded_groups],
        service_account_patterns=[str(p) for p in rule.service_account_patterns],
        approvers=[str(a) for a in rule.approvers],
        new_account_grace=rule.new_account_grace,
        active=rule.active,
        keep_days=rule.keep_days,
        updated_at=rule.updated_at,
        kind=rule.kind,
        target_model=rule.target_model.display_name if rule.target_model else None,
        max_active_days=rule.max_active_days,
        max_events=rule.max_events,
        window_days=rule.window_days,
    )


def list_rules(session: Session) -> list[RuleView]:
    return [
        rule_view(rule, model)
        for rule, model in session.execute(
            select(ReclamationRule, SoftwareModel)
            .join(SoftwareModel, SoftwareModel.id == ReclamationRule.software_model_id)
            .order_by(ReclamationRule.id)
        )
    ]


def set_rule(session: Session, clock: Clock, change: RuleChange) -> tuple[RuleView, dict[str, Any]]:
    """Apply ``change`` to the model's rule (created with the defaults if missing).

    Returns the rule as it now is and what changed (setting -> [old, new]); an audit event
    ``rule.set`` records the changes when there are any.
    """
    model = find_model(session, change.model)
    rule = ensure_default_rule(session, clock, model, change.kind)
    changes: dict[str, Any] = {}
    if change.to_model is not None:
        target = find_model(session, change.to_model)
        if (target.publisher, target.product) != (model.publisher, model.product):
            raise downgrade.DowngradeRuleError(
                f"{target.display_name} is not an edition of {model.publisher} "
                f"{model.product}: a downgrade moves seats between editions of one app"
            )
        if target.id != rule.target_model_id:
            old = rule.target_model.display_name if rule.target_model else None
            rule.target_model_id = target.id
            rule.target_model = target
            changes["target_model"] = [old, target.display_name]
    for name in SETTINGS:
        new = getattr(change, name)
        old = getattr(rule, name)
        if new is not None and new != old:
            setattr(rule, name, new)
            changes[name] = [old, new]
    for name in change.clear:  # a threshold no longer used
        if name not in changes and getattr(rule, name) is not None:
            changes[name] = [getattr(rule, name), None]
            setattr(rule, name, None)
    for column, add, remove in (
        ("excluded_users", change.exclude_users, change.include_users),
        ("excluded_domains", change.exclude_domains, change.include_domains),
        ("excluded_groups", change.exclude_groups, change.include_groups),
        ("service_account_patterns", change.exclude_patterns, change.include_patterns),
        ("approvers", change.add_approvers, change.remove_approvers),
    ):
        old_list = sorted(str(v) for v in getattr(rule, column) or [])
        new_list = sorted({*old_list, *add} - set(remove))
        if new_list != old_list:
            setattr(rule, column, new_list)
            changes[column] = [old_list, new_list]
    if rule.kind == RuleKind.DOWNGRADE:
        downgrade.check_rule(rule)  # nothing is written when it cannot select anything
    if changes:
        rule.updated_at = clock.now()
        audit.record(
            session,
            clock,
            action="rule.set",
            object_type="rule",
            object_id=rule.id,
            model=model.display_name,
            kind=rule.kind,
            changes=changes,
        )
    session.flush()
    return rule_view(rule, model), changes


def _find_rule(session: Session, model: SoftwareModel, kind: str) -> ReclamationRule:
    rule = session.scalar(
        select(ReclamationRule).where(
            ReclamationRule.software_model_id == model.id, ReclamationRule.kind == kind
        )
    )
    if rule is None:
        what = "downgrade" if kind == RuleKind.DOWNGRADE else "reclamation"
        raise LookupError(f"software model {model.display_name!r} has no {what} rule")
    return rule


def downgrade_dry_run(session: Session, clock: Clock, model_name: str) -> DowngradeDryRun:
    """What the model's downgrade rule selects right now, per profile holding the model, and
    how many seats it could not judge (no activity-intensity data) or found idle. Nothing is
    written."""
    model = find_model(session, model_name)
    rule = _find_rule(session, model, RuleKind.DOWNGRADE)
    now = clock.now()
    profiles = [
        (
            profile,
            evaluation.exclusion_condition(
                rule,
                profile.credential_owner_external_id,
                directory_port.group_members(session, rule.excluded_groups),
            ),
            evaluation.person_left(),
        )
        for profile in _profiles_holding(session, model.id)
    ]
    prices = seat_prices(session, [model.id, rule.target_model_id or model.id], on=day_of(now))
    return downgrade.preview(session, now, model.display_name, rule, prices, profiles)


def preview_downgrade(session: Session, clock: Clock, change: RuleChange) -> DowngradeDryRun:
    """What the model's downgrade rule would select right now with ``change`` applied (the
    rule is created with the defaults when the model has none yet): the dry run, with the
    settings the change would alter. Made inside a savepoint that is rolled back: nothing is
    written."""
    if change.kind != "downgrade":
        raise ValueError("preview_downgrade previews a downgrade rule: kind downgrade")
    nested = session.begin_nested()
    try:
        _, changes = set_rule(session, clock, change)
        found = downgrade_dry_run(session, clock, change.model)
    finally:
        nested.rollback()
    return found.model_copy(update={"changed": sorted(changes)})


def rule_of(session: Session, clock: Clock, model_name: str, kind: str) -> RuleView:
    """The model's rule of ``kind`` as it is, or as a new one would start (the defaults,
    nothing written: a face shows it to be filled in)."""
    model = find_model(session, model_name)
    nested = session.begin_nested()
    try:
        return rule_view(ensure_default_rule(session, clock, model, kind), model)
    finally:
        nested.rollback()


def editions_of(session: Session, model_name: str) -> list[str]:
    """The other editions of the model's app: where a downgrade rule may move its seats."""
    model = find_model(session, model_name)
    return [
        other.display_name
        for other in session.scalars(
            select(SoftwareModel)
            .where(
                SoftwareModel.publisher == model.publisher,
                SoftwareModel.product == model.product,
                SoftwareModel.id != model.id,
            )
            .order_by(SoftwareModel.edition)
        )
    ]


def _profiles_holding(session: Session, model_id: int) -> list[IntegrationProfile]:
    return list(
        session.scalars(
            select(IntegrationProfile)
            .where(
                IntegrationProfile.id.in_(
                    select(Subscription.profile_id).where(
                        Subscription.software_model_id == model_id
                    )
                )
            )
            .order_by(IntegrationProfile.name)
        )
    )


# A dry run lists profile by profile (by name), each by account: its pages are keyset pages
# (kit.keyset) of ix_subscription_model_profile_page, and its counts one COUNT per profile.
DRY_RUN_CURSOR = "rule-dry-run"
DRY_RUN_PAGE = 200  # accounts a page of the rule's preview shows


@dataclass(frozen=True)
class _Scope:
    """Who a model's rule selects in one profile (the same conditions as evaluation)."""

    profile: str
    profile_id: int
    where: ColumnElement[bool]


def _scopes(session: Session, clock: Clock, model_name: str, first: str = "") -> Iterator[_Scope]:
    """The profiles holding the model from ``first`` on, by name, with what the rule selects
    there: read lazily, so a page stops asking once it is full."""
    model = find_model(session, model_name)
    rule = _find_rule(session, model, RuleKind.REMOVE)
    idle = evaluation.idle_condition(evaluation.idle_cutoff(clock.now(), rule), rule)
    for profile in _profiles_holding(session, model.id):
        if profile.name < first:
            continue
        excluded = evaluation.exclusion_condition(
            rule,
            profile.credential_owner_external_id,
            directory_port.group_members(session, rule.excluded_groups),
        )
        where = and_(
            Subscription.software_model_id == model.id,
            Subscription.profile_id == profile.id,
            evaluation.holds_seat(),
            idle,
            not_(excluded),
        )
        yield _Scope(profile.name, profile.id, where)


def _selection(now: datetime, profile: str, sub: Subscription, state: str | None) -> RuleSelection:
    since = sub.last_activity_at or sub.created_in_app_at or sub.first_seen_at
    kept_until = keeps.kept_until_now(now, sub.kept_until)
    return RuleSelection(
        profile=profile,
        external_id=sub.external_id,
        username=sub.username,
        email=sub.email,
        justification=(
            Justification.NEVER_USED if sub.last_activity_at is None else Justification.LOW_USAGE
        ).value,
        inactive_days=(now - since).days if since else None,
        open_candidate=state,
        selected=kept_until is None,
        kept_until=kept_until,
    )


def _selected(scope: _Scope) -> Select[Any]:
    open_state = (
        select(RemovalCandidate.state)
        .where(RemovalCandidate.subscription_id == Subscription.id, is_open_candidate())
        .limit(1)
        .scalar_subquery()
    )
    return select(Subscription, open_state).where(scope.where).order_by(Subscription.external_id)


def dry_run(session: Session, clock: Clock, model_name: str) -> list[RuleSelection]:
    """What the model's rule selects right now (the same conditions as evaluation), per
    profile holding the model; seats kept by their user or an approver are listed too, with
    ``kept_until`` and ``selected`` false. Nothing is written. All of them: the faces read
    :func:`dry_run_page` instead."""
    now = clock.now()
    return [
        _selection(now, scope.profile, sub, state)
        for scope in _scopes(session, clock, model_name)
        for sub, state in session.execute(_selected(scope))
    ]


def dry_run_page(
    session: Session,
    clock: Clock,
    model_name: str,
    cursor: str | None = None,
    limit: int = DRY_RUN_PAGE,
) -> tuple[list[RuleSelection], str | None]:
    """A page of :func:`dry_run` (same order) and the next page's cursor (None: the last)."""
    after = keyset.decode(DRY_RUN_CURSOR, cursor, (str, str)) if cursor else None
    names: dict[int, str] = {}

    def statements() -> Iterator[Select[Any]]:
        for scope in _scopes(session, clock, model_name, str(after[0]) if after else ""):
            names[scope.profile_id] = scope.profile
            statement = _selected(scope)
            if after is not None and scope.profile == after[0]:
                statement = statement.where(Subscription.external_id > after[1])
            yield statement

    now = clock.now()
    rows = [
        _selection(now, names[sub.profile_id], sub, state)
        for sub, state in keyset.read(session, statements(), limit)
    ]
    return keyset.cut(rows, limit, DRY_RUN_CURSOR, lambda r: [r.profile, r.external_id])


def dry_run_counts(session: Session, clock: Clock, model_name: str) -> tuple[int, int]:
    """How many accounts the model's rule selects right now and how many more it would but
    for a keep in force: exact, one COUNT per profile, whatever the page shown."""
    now = clock.now()
    kept = Subscription.kept_until > now
    selected = kept_total = 0
    for scope in _scopes(session, clock, model_name):
        found = session.execute(
            select(func.count(), func.coalesce(func.sum(case((kept, 1), else_=0)), 0)).where(
                scope.where
            )
        ).one()
        selected += int(found[0]) - int(found[1])
        kept_total += int(found[1])
    return selected, kept_total


LISTS = {
    # the rule's list -> (what adds to it, what takes out of it) in RuleChange
    "excluded_users": ("exclude_users", "include_users"),
    "excluded_domains": ("exclude_domains", "include_domains"),
    "excluded_groups": ("exclude_groups", "include_groups"),
    "service_account_patterns": ("exclude_patterns", "include_patterns"),
    "approvers": ("add_approvers", "remove_approvers"),
}
_ENTRIES = TypeAdapter(list[Excluded])
_APPROVERS = TypeAdapter(list[Approver])


def change_to(
    current: RuleView, settings: Mapping[str, Any], lists: Mapping[str, Sequence[str]]
) -> RuleChange:
    """The change that makes ``current`` have these ``settings`` and exactly these ``lists``
    (a face showing the whole rule in one form sends it whole): each list's entries are
    validated as the rule stores them, then compared with what it holds."""
    fields: dict[str, Any] = {"model": current.software_model, "kind": current.kind, **settings}
    for column, (add, remove) in LISTS.items():
        if column not in lists:
            continue
        adapter = _APPROVERS if column == "approvers" else _ENTRIES
        try:
            wanted = set(adapter.validate_python([v for v in lists[column] if v.strip()]))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = column.replace("_", " ")
            raise ValueError(f"{where}: {first.get('input')!r}: {first.get('msg')}") from None
        held = set(getattr(current, column))
        fields[add] = sorted(wanted - held)
        fields[remove] = sorted(held - wanted)
    return RuleChange.model_validate(fields)


def preview(
    session: Session,
    clock: Clock,
    change: RuleChange,
    cursor: str | None = None,
    limit: int = DRY_RUN_PAGE,
) -> RulePreview:
    """What the model's rule would select right now with ``change`` applied: a page of the
    dry run's accounts (``cursor``: after the previous page), how many in all, and what their
    seats cost a year (counted in SQL, exact whatever the page). The change is made inside a
    savepoint that is rolled back: nothing is written."""
    nested = session.begin_nested()
    try:
        _, changes = set_rule(session, clock, change)
        rows, following = dry_run_page(session, clock, change.model, cursor, limit)
        selected, kept = dry_run_counts(session, clock, change.model)
        model = find_model(session, change.model)
        price = seat_prices(session, [model.id], on=day_of(clock.now())).get(model.id)
    finally:
        nested.rollback()
    annual: dict[str, float] = {}
    if price is not None and price.annual is not None and selected:
        annual[price.currency] = float(round(price.annual * selected, 2))
    return RulePreview(
        accounts=rows,
        selected=selected,
        kept=kept,
        annual=annual,
        unpriced=selected if not annual else 0,
        changed=sorted(changes),
        next_cursor=following,
    )
