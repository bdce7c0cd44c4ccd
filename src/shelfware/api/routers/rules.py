"""Reclamation rules per software model: every setting (threshold, notify, approval, grace,
active, exclusions of users, domains, groups and service-account patterns, approvers) and the
dry run of what a rule selects now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from shelfware.accounts.roles import Permission
from shelfware.accounts.schemas import Principal
from shelfware.api.auth import allowed
from shelfware.api.deps import ModelName, PageCursor, PageLimit, Ws, next_page
from shelfware.reclamation import rules
from shelfware.reclamation.schemas import DowngradeDryRun, RuleChange, RuleSelection, RuleView

router = APIRouter(prefix="/rules", tags=["rules"])


class RuleChanged(BaseModel):
    rule: RuleView
    changes: dict[str, Any]


@router.get("", response_model=list[RuleView])
def list_rules(ws: Ws, _: Principal = allowed(Permission.RULES_READ)) -> list[RuleView]:
    with ws.read() as session:
        return rules.list_rules(session)


@router.patch("", response_model=RuleChanged)
def set_rule(
    change: RuleChange, ws: Ws, principal: Principal = allowed(Permission.RULES_WRITE)
) -> RuleChanged:
    """Change one software model's rule (``model``); settings left out stay as they are.
    ``exclude_*`` / ``add_approvers`` add to the rule's lists, ``include_*`` /
    ``remove_approvers`` take entries out; ``changes`` says what changed (old, new)."""
    with ws.write(principal.actor) as session:
        rule, changes = rules.set_rule(session, ws.clock, change)
    return RuleChanged(rule=rule, changes=changes)


@router.get("/{model}/dry-run", response_model=list[RuleSelection])
def dry_run(
    model: ModelName,
    request: Request,
    response: Response,
    ws: Ws,
    limit: PageLimit = 1000,
    cursor: PageCursor = None,
    _: Principal = allowed(Permission.RULES_READ),
) -> list[RuleSelection]:
    """The accounts the model's rule selects right now, with the state of any open candidate
    (the same conditions as evaluation), profile by profile, a page at a time
    (``X-Next-Cursor``: pass it as ``cursor`` for the next page; ``X-Total-Selected`` and
    ``X-Total-Kept`` count them all); nothing is written."""
    with ws.read() as session:
        rows, following = rules.dry_run_page(session, ws.clock, model, cursor, limit)
        selected, kept = rules.dry_run_counts(session, ws.clock, model)
    next_page(request, response, following)
    response.headers["X-Total-Selected"] = str(selected)
    response.headers["X-Total-Kept"] = str(kept)
    return rows


@router.get("/{model}/downgrade-dry-run", response_model=DowngradeDryRun)
def downgrade_dry_run(
    model: ModelName, ws: Ws, _: Principal = allowed(Permission.RULES_READ)
) -> DowngradeDryRun:
    """The light users the model's downgrade rule selects right now, the saving per seat, and
    how many seats it skipped for lack of activity-intensity data (never proposed) or found
    idle in the window; nothing is written."""
    with ws.read() as session:
        return rules.downgrade_dry_run(session, ws.clock, model)
