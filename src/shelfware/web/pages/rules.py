"""Reclamation rules: every rule's settings and lists, changed in one form, with a live dry
run (who the rule would select now, how many, what their seats cost) of the form as it
stands, before it is saved."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.kit.asgi import quote_segment
from shelfware.reclamation import rules
from shelfware.reclamation.schemas import RuleChange, RuleView
from shelfware.web.context import web_context
from shelfware.web.errors import USER_ERRORS, one_line
from shelfware.web.routing import Refused, SegmentName, page
from shelfware.web.templating import redirect, render

NUMBERS = ("threshold_days", "auto_reclaim_days", "keep_days")
SWITCHES = ("notify", "approval_required", "exclude_admins", "new_account_grace", "active")
LABELS = {
    "threshold_days": "Idle days before a seat is a candidate",
    "auto_reclaim_days": "Days after the notice before the reclaim",
    "keep_days": "Days a kept seat is left alone",
    "notify": "Notify the user first",
    "approval_required": "A 'keep' needs an approver",
    "exclude_admins": "Never select admins",
    "new_account_grace": "Grace for new accounts",
    "active": "Active",
    "excluded_users": "Users left out (user name or email)",
    "excluded_domains": "Email domains left out",
    "excluded_groups": "Identity-provider groups left out",
    "service_account_patterns": "Service accounts left out (patterns such as svc-*)",
    "approvers": "Approvers (emails deciding a 'keep' when there is no manager)",
}


@page("GET", "/rules", Permission.RULES_READ)
async def rule_list(request: Request) -> Response:
    ctx = web_context(request)
    with ctx.store.db.sessions() as session:
        # the removal rules; a model's downgrade rule is set from the CLI or the API
        found = [r for r in rules.list_rules(session) if r.kind == "remove"]
    return render(request, "rules.html", {"rules": found})


def _current(request: Request, model: str) -> RuleView:
    with web_context(request).store.db.sessions() as session:
        for rule in rules.list_rules(session):
            if rule.kind == "remove" and model in (rule.software_model, str(rule.id)):
                return rule
    raise Refused(404, f"no reclamation rule for the software model {model!r}")


def _change(current: RuleView, given: FormData | QueryParams) -> RuleChange:
    """The form, whole, as the change that makes the rule say what it says."""
    settings: dict[str, Any] = {name: given.get(name) == "on" for name in SWITCHES}
    for name in NUMBERS:
        text = str(given.get(name) or "").strip()
        if not text:
            raise ValueError(f"{LABELS[name]}: give a number of days")
        if not text.isdigit():
            raise ValueError(f"{LABELS[name]}: {text[:20]!r} is not a whole number of days")
        settings[name] = int(text)
    lists = {
        column: [
            entry.strip()
            for line in str(given.get(column) or "").splitlines()
            for entry in line.split(",")
        ]
        for column in rules.LISTS
    }
    return rules.change_to(current, settings, lists)


def _page(
    request: Request, current: RuleView, error: str | None = None, status: int = 200
) -> Response:
    return render(
        request,
        "rule.html",
        {
            "rule": current,
            "labels": LABELS,
            "numbers": NUMBERS,
            "switches": SWITCHES,
            "lists": list(rules.LISTS),
            "error": error,
        },
        status=status,
    )


@page("GET", "/rules/{model}", Permission.RULES_READ)
async def rule_detail(request: Request, model: SegmentName) -> Response:
    return _page(request, _current(request, model))


@page("GET", "/rules/{model}/preview", Permission.RULES_READ)
async def rule_preview(request: Request, model: SegmentName) -> Response:
    """The dry run of the form as it stands (htmx swaps it under the form): nothing saved."""
    ctx = web_context(request)
    current = _current(request, model)
    given = request.query_params
    try:
        # a form it may not change (read only: disabled fields are not sent): the rule as saved
        change = (
            _change(current, given)
            if "threshold_days" in given
            else RuleChange(model=current.software_model)
        )
        with ctx.store.db.sessions() as session:
            found = rules.preview(session, ctx.clock, change)
    except USER_ERRORS as exc:
        return render(request, "rule_preview.html", {"error": one_line(exc)})
    return render(request, "rule_preview.html", {"preview": found, "rule": current})


@page("POST", "/rules/{model}", Permission.RULES_WRITE)
async def rule_save(request: Request, model: SegmentName) -> Response:
    ctx = web_context(request)
    current = _current(request, model)
    form = await request.form()
    try:
        change = _change(current, form)
        with ctx.store.db.transaction() as session:
            saved, changes = rules.set_rule(session, ctx.clock, change)
    except USER_ERRORS as exc:
        return _page(request, current, one_line(exc), status=400)
    said = (
        "nothing changed"
        if not changes
        else "changed " + ", ".join(LABELS.get(n, n).lower() for n in changes)
    )
    return redirect(
        request,
        f"/rules/{quote_segment(saved.software_model)}",
        f"Rule for {saved.software_model}: {said}. It applies at the next sync.",
    )
