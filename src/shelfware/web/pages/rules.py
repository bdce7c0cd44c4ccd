"""Reclamation rules: every rule's settings and lists, changed in one form, with a live dry
run (who the rule would select now, how many, what their seats cost) of the form as it
stands, before it is saved. A model's removal rule (idle seats) is ``/rules/{model}``; its
downgrade rule (light users move to a cheaper edition, issue 19) is
``/rules/{model}/downgrade``, started from the defaults when the model has none yet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.kit.asgi import quote_segment
from shelfware.reclamation import rules
from shelfware.reclamation.schemas import RuleChange, RulePreview, RuleView
from shelfware.web.context import web_context
from shelfware.web.errors import USER_ERRORS, one_line
from shelfware.web.routing import Refused, SegmentName, page
from shelfware.web.templating import redirect, render

NUMBERS = ("threshold_days", "auto_reclaim_days", "keep_days")
# a downgrade rule: light is fewer than N active days and/or N events in the last D days
# (a blank threshold is not used); the idle threshold is the removal rule's
DOWNGRADE_NUMBERS = (
    "window_days",
    "max_active_days",
    "max_events",
    "auto_reclaim_days",
    "keep_days",
)
THRESHOLDS = ("max_active_days", "max_events")
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
    "to_model": "Move light users to the edition",
    "window_days": "Window: the last N days",
    "max_active_days": "Light: fewer than N days with activity (blank: not used)",
    "max_events": "Light: fewer than N activity events (blank: not used)",
    "target_model": "edition to move to",
}
DOWNGRADE: Literal["downgrade"] = "downgrade"


@page("GET", "/rules", Permission.RULES_READ)
async def rule_list(request: Request) -> Response:
    ctx = web_context(request)
    with ctx.store.db.sessions() as session:
        found = rules.list_rules(session)
    return render(
        request,
        "rules.html",
        {
            "rules": [r for r in found if r.kind != DOWNGRADE],
            "downgrades": [r for r in found if r.kind == DOWNGRADE],
        },
    )


def _current(request: Request, model: str) -> RuleView:
    with web_context(request).store.db.sessions() as session:
        for rule in rules.list_rules(session):
            if rule.kind == "remove" and model in (rule.software_model, str(rule.id)):
                return rule
    raise Refused(404, f"no reclamation rule for the software model {model!r}")


def _current_downgrade(request: Request, model: str) -> tuple[RuleView, list[str]]:
    """The model's downgrade rule (the defaults when it has none yet) and the editions it may
    move seats to."""
    ctx = web_context(request)
    removal = _current(request, model)  # a model shelfware knows: it has a removal rule
    with ctx.store.db.sessions() as session:
        found = rules.rule_of(session, ctx.clock, removal.software_model, DOWNGRADE)
        return found, rules.editions_of(session, removal.software_model)


def _whole(given: FormData | QueryParams, name: str) -> int:
    text = str(given.get(name) or "").strip()
    what = "a number of events" if name == "max_events" else "a number of days"
    if not text:
        raise ValueError(f"{LABELS[name]}: give {what}")
    if not text.isdigit() or len(text) > 9:
        raise ValueError(f"{LABELS[name]}: {text[:20]!r} is not {what}")
    return int(text)


def _change(current: RuleView, given: FormData | QueryParams) -> RuleChange:
    """The form, whole, as the change that makes the rule say what it says."""
    settings: dict[str, Any] = {name: given.get(name) == "on" for name in SWITCHES}
    if current.kind == DOWNGRADE:
        for name in DOWNGRADE_NUMBERS:
            if name in THRESHOLDS and not str(given.get(name) or "").strip():
                settings.setdefault("clear", []).append(name)  # blank: not used
            else:
                settings[name] = _whole(given, name)
        target = str(given.get("to_model") or "").strip()
        if not target:
            raise ValueError(f"{LABELS['to_model']}: choose one")
        settings["to_model"] = target
    else:
        for name in NUMBERS:
            settings[name] = _whole(given, name)
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
    request: Request,
    current: RuleView,
    error: str | None = None,
    status: int = 200,
    editions: list[str] | None = None,
) -> Response:
    downgrade = current.kind == DOWNGRADE
    return render(
        request,
        "rule.html",
        {
            "rule": current,
            "labels": LABELS,
            "numbers": DOWNGRADE_NUMBERS if downgrade else NUMBERS,
            "thresholds": THRESHOLDS,
            "switches": SWITCHES,
            "lists": list(rules.LISTS),
            "error": error,
            "downgrade": downgrade,
            "editions": editions or [],
        },
        status=status,
    )


@page("GET", "/rules/{model}", Permission.RULES_READ)
async def rule_detail(request: Request, model: SegmentName) -> Response:
    return _page(request, _current(request, model))


@page("GET", "/rules/{model}/preview", Permission.RULES_READ)
async def rule_preview(request: Request, model: SegmentName) -> Response:
    """The dry run of the form as it stands (htmx swaps it under the form): nothing saved."""
    cursor = request.query_params.get("cursor") or None
    if cursor is not None and len(cursor) > 1000:
        raise Refused(400, "cursor: at most 1000 characters")

    def page_of(session: Any, clock: Any, change: RuleChange) -> RulePreview:
        return rules.preview(session, clock, change, cursor, rules.DRY_RUN_PAGE)

    more_only = cursor is not None and request.headers.get("hx-request") == "true"
    shown_in = "rule_preview_rows.html" if more_only else "rule_preview.html"
    return _preview(
        request, _current(request, model), "threshold_days", page_of, "preview", shown_in
    )


def _preview(
    request: Request,
    current: RuleView,
    field: str,
    dry_run: Callable[..., Any],
    shown_as: str,
    template: str = "rule_preview.html",
) -> Response:
    """A rule form's dry run (``dry_run(session, clock, change)``), shown as ``shown_as`` in
    ``template``; a paged one (a ``next_cursor``) with the address of its next page."""
    ctx = web_context(request)
    given = request.query_params
    try:
        # a form it may not change (read only: disabled fields are not sent): the rule as saved
        change = (
            _change(current, given)
            if field in given
            else RuleChange(
                model=current.software_model,
                kind=DOWNGRADE if current.kind == DOWNGRADE else "remove",
            )
        )
        with ctx.store.db.sessions() as session:
            found = dry_run(session, ctx.clock, change)
    except USER_ERRORS as exc:
        return render(request, "rule_preview.html", {"error": one_line(exc)})
    following = getattr(found, "next_cursor", None)
    more = None
    if following is not None:
        url = request.url.include_query_params(cursor=following)
        more = f"{url.path}?{url.query}"
    return render(request, template, {shown_as: found, "rule": current, "more": more})


@page("POST", "/rules/{model}", Permission.RULES_WRITE)
async def rule_save(request: Request, model: SegmentName) -> Response:
    return await _save(request, _current(request, model))


async def _save(request: Request, current: RuleView, editions: list[str] | None = None) -> Response:
    """Save a rule form (removal or downgrade); the form again with the error, or the rule's
    page saying what changed."""
    ctx = web_context(request)
    form = await request.form()
    try:
        change = _change(current, form)
        with ctx.store.db.transaction() as session:
            saved, changes = rules.set_rule(session, ctx.clock, change)
    except USER_ERRORS as exc:
        return _page(request, current, one_line(exc), status=400, editions=editions)
    return _saved(request, saved, changes)


def _saved(request: Request, saved: RuleView, changes: dict[str, Any]) -> Response:
    said = (
        "nothing changed"
        if not changes
        else "changed " + ", ".join(LABELS.get(n, n).lower() for n in changes)
    )
    what = "Downgrade rule" if saved.kind == DOWNGRADE else "Rule"
    path = f"/rules/{quote_segment(saved.software_model)}"
    return redirect(
        request,
        path + ("/downgrade" if saved.kind == DOWNGRADE else ""),
        f"{what} for {saved.software_model}: {said}. It applies at the next sync.",
    )


@page("GET", "/rules/{model}/downgrade", Permission.RULES_READ)
async def downgrade_detail(request: Request, model: SegmentName) -> Response:
    current, editions = _current_downgrade(request, model)
    return _page(request, current, editions=editions)


@page("GET", "/rules/{model}/downgrade/preview", Permission.RULES_READ)
async def downgrade_preview(request: Request, model: SegmentName) -> Response:
    """The downgrade rule's dry run of the form as it stands (htmx swaps it under the form):
    who would move, how many, the price difference a year, and how many seats are never
    proposed for want of activity-intensity data. Nothing saved."""
    current, _ = _current_downgrade(request, model)
    return _preview(request, current, "window_days", rules.preview_downgrade, "downgrade")


@page("POST", "/rules/{model}/downgrade", Permission.RULES_WRITE)
async def downgrade_save(request: Request, model: SegmentName) -> Response:
    current, editions = _current_downgrade(request, model)
    return await _save(request, current, editions)
