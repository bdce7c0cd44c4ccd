"""Reclamation rules per software model."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from shelfware.accounts.roles import Permission
from shelfware.accounts.schemas import Principal
from shelfware.api.auth import allowed
from shelfware.api.deps import Ws
from shelfware.reclamation import rules
from shelfware.reclamation.schemas import RuleChange, RuleView

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
    """Change one software model's rule (``model``); settings left out stay as they are."""
    with ws.write(principal.actor) as session:
        rule, changes = rules.set_rule(session, ws.clock, change)
    return RuleChanged(rule=rule, changes=changes)
