"""Subscriptions (keyset paging at a million rows), people, entitlements and renewals, runs."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.licensing import service as licensing
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.overview import lists
from shelfware.overview.service import upcoming_renewals
from shelfware.subscriptions.paging import SubscriptionFilter, page_subscriptions, software_models
from shelfware.web.context import web_context
from shelfware.web.errors import USER_ERRORS, one_line
from shelfware.web.routing import Refused, page
from shelfware.web.templating import redirect, render


def _filter(request: Request) -> SubscriptionFilter:
    q = request.query_params
    raw = {
        "profile": q.get("profile") or None,
        "model": q.get("model") or None,
        "stale": q.get("stale") == "on",
        "admin": {"yes": True, "no": False}.get(q.get("admin", "")),
        "search": q.get("search") or None,
        "after": q.get("after") or 0,
    }
    try:
        return SubscriptionFilter.model_validate(raw)
    except ValidationError as exc:
        raise Refused(400, one_line(exc)) from None


@page("GET", "/subscriptions", Permission.SUBSCRIPTIONS_READ)
async def subscriptions(request: Request) -> Response:
    ctx = web_context(request)
    wanted = _filter(request)
    with ctx.store.db.sessions() as session:
        try:
            found = page_subscriptions(session, wanted, ctx.clock.now())
        except USER_ERRORS as exc:
            raise Refused(400, one_line(exc)) from None
        models = software_models(session)
    rows_only = request.headers.get("hx-request") == "true" and wanted.after > 0
    query = {k: v for k, v in request.query_params.items() if k != "after"}
    return render(
        request,
        "subscription_rows.html" if rows_only else "subscriptions.html",
        {"page": found, "wanted": wanted, "models": models, "query": query},
    )


@page("GET", "/people", Permission.PEOPLE_READ)
async def people(request: Request) -> Response:
    ctx = web_context(request)
    after = request.query_params.get("after", "0")
    search = request.query_params.get("search") or None
    if not after.isdigit() or len(after) > 19 or (search and len(search) > 200):
        raise Refused(400, "after: must be a record id; search: at most 200 characters")
    with ctx.store.db.sessions() as session:
        rows, next_after = lists.list_people(session, after=int(after), search=search)
    return render(
        request, "people.html", {"people": rows, "next_after": next_after, "search": search}
    )


@page("GET", "/runs", Permission.RUNS_READ)
async def runs(request: Request) -> Response:
    ctx = web_context(request)
    profile = request.query_params.get("profile") or None
    with ctx.store.db.sessions() as session:
        try:
            rows = lists.list_runs(session, profile=profile)
        except USER_ERRORS as exc:
            raise Refused(404, one_line(exc)) from None
    return render(request, "runs.html", {"runs": rows, "profile": profile})


def _entitlements_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    ctx = web_context(request)
    with ctx.store.db.sessions() as session:
        rows = lists.list_entitlements(session)
        renewals = upcoming_renewals(session, ctx.clock.now())
        models = software_models(session)
    return render(
        request,
        "entitlements.html",
        {"entitlements": rows, "renewals": renewals, "models": models, "error": error},
        status=status,
    )


@page("GET", "/entitlements", Permission.ENTITLEMENTS_READ)
async def entitlements(request: Request) -> Response:
    return _entitlements_page(request)


@page("POST", "/entitlements", Permission.ENTITLEMENTS_WRITE)
async def entitlement_add(request: Request) -> Response:
    ctx = web_context(request)
    form = await request.form()
    fields = {
        k: v.strip()
        for k, v in form.items()
        if isinstance(v, str) and v.strip() and k != "csrf_token"
    }
    try:
        data = EntitlementCreate.model_validate(fields)
        with ctx.store.db.transaction() as session:
            added = licensing.add_entitlement(session, ctx.clock, data)
    except USER_ERRORS as exc:
        return _entitlements_page(request, one_line(exc), status=400)
    return redirect(
        request, "/entitlements", f"Added {added.seats:,} seats of {added.software_model}."
    )
