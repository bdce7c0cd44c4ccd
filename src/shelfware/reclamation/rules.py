"""Reclamation rules: one per software model, listed and changed here (with an audit event)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shelfware.audit import service as audit
from shelfware.kit.clock import Clock
from shelfware.licensing.service import find_model
from shelfware.models import ReclamationRule, SoftwareModel
from shelfware.profiles.service import ensure_default_rule
from shelfware.reclamation.schemas import RuleChange, RuleView

SETTINGS = (
    "threshold_days",
    "notify",
    "auto_reclaim_days",
    "approval_required",
    "exclude_admins",
    "new_account_grace",
    "active",
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
        new_account_grace=rule.new_account_grace,
        active=rule.active,
        updated_at=rule.updated_at,
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
    rule = ensure_default_rule(session, clock, model)
    changes: dict[str, Any] = {}
    for name in SETTINGS:
        new = getattr(change, name)
        old = getattr(rule, name)
        if new is not None and new != old:
            setattr(rule, name, new)
            changes[name] = [old, new]
    for column, add, remove in (
        ("excluded_users", change.exclude_users, change.include_users),
        ("excluded_domains", change.exclude_domains, change.include_domains),
    ):
        old_list = sorted(str(v) for v in getattr(rule, column))
        new_list = sorted({*old_list, *add} - set(remove))
        if new_list != old_list:
            setattr(rule, column, new_list)
            changes[column] = [old_list, new_list]
    if changes:
        rule.updated_at = clock.now()
        audit.record(
            session,
            clock,
            action="rule.set",
            object_type="rule",
            object_id=rule.id,
            model=model.display_name,
            changes=changes,
        )
    session.flush()
    return rule_view(rule, model), changes
