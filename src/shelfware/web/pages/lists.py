"""Subscriptions (keyset paging at a million rows), people, entitlements and renewals, runs."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.jobs import service as jobs
from shelfware.licensing import service as licensing
from shelfware.licensing.schemas import EntitlementCreate, EntitlementView
from shelfware.licensing.service import list_entitlements
from shelfware.overview.lists import model_choices
from shelfware.overview.service import upcoming_renewals
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import RunView
from shelfware.store import Store
from shelfware.subscriptions.schemas import PersonView, SubscriptionPageQuery
from shelfware.subscriptions.service import (
    EXPORT_COLUMNS,
    export_statement,
    page_people,
    page_subscriptions,
)
from shelfware.web import exports
from shelfware.web.context import web_context
from shelfware.web.errors import USER_ERRORS, one_line
from shelfware.web.routing import Refused, page
from shelfware.web.templating import redirect, render


def _query(request: Request) -> SubscriptionPageQuery:
    q = request.query_params
    raw = {
        "profile": q.get("profile") or None,
        "model": q.get("model") or None,
        "admin": {"yes": True, "no": False}.get(q.get("admin", "")),
        "q": q.get("search") or None,
        "cursor": q.get("cursor") or None,
        "stale_at": web_context(request).clock.now() if q.get("stale") == "on" else None,
    }
    try:
        return SubscriptionPageQuery.model_validate(raw)
    except ValidationError as exc:
        raise Refused(400, one_line(exc)) from None


@page("GET", "/subscriptions", Permission.SUBSCRIPTIONS_READ)
async def subscriptions(request: Request) -> Response:
    ctx = web_context(request)
    wanted = _query(request)
    if exports.wants_csv(request):
        with ctx.store.db.sessions() as session:
            try:
                statement = export_statement(session, wanted)
            except USER_ERRORS as exc:
                raise Refused(400, one_line(exc)) from None
        return exports.csv_of_cells("subscriptions", EXPORT_COLUMNS, ctx.store.db, statement)
    with ctx.store.db.sessions() as session:
        try:
            found = page_subscriptions(session, wanted)
        except USER_ERRORS as exc:
            raise Refused(400, one_line(exc)) from None
        models = model_choices(session)
    more_only = request.headers.get("hx-request") == "true" and wanted.cursor is not None
    query = {k: v for k, v in request.query_params.items() if k != "cursor"}
    return render(
        request,
        "subscription_rows.html" if more_only else "subscriptions.html",
        {
            "page": found,
            "wanted": wanted,
            "models": models,
            "query": query,
            "csv_url": exports.csv_url(request),
        },
    )


@page("GET", "/people", Permission.PEOPLE_READ)
async def people(request: Request) -> Response:
    ctx = web_context(request)
    cursor = request.query_params.get("cursor") or None
    search = request.query_params.get("search") or None
    if (cursor and len(cursor) > 1000) or (search and len(search) > 200):
        raise Refused(400, "cursor: at most 1000 characters; search: at most 200")
    if exports.wants_csv(request):
        return _people_csv(ctx.store, search)
    with ctx.store.db.sessions() as session:
        try:
            found = page_people(session, q=search, cursor=cursor)
        except USER_ERRORS as exc:
            raise Refused(400, one_line(exc)) from None
    return render(
        request,
        "people.html",
        {"page": found, "search": search, "csv_url": exports.csv_url(request)},
    )


def _people_csv(store: Store, search: str | None) -> Response:
    fields = exports.fields_of(PersonView)
    with store.db.sessions() as session:
        try:
            page_people(session, q=search, limit=1)  # a bad search: a 400 before any byte
        except USER_ERRORS as exc:
            raise Refused(400, one_line(exc)) from None

    def fetch(session: Any, cursor: str | None) -> tuple[list[PersonView], str | None]:
        found = page_people(session, q=search, cursor=cursor, limit=exports.CHUNK_ROWS)
        return found.items, found.next_cursor

    rows = exports.views(exports.paged(store.db, fetch), fields)
    return exports.csv_download("people", fields, rows)


@page("GET", "/runs", Permission.RUNS_READ)
async def runs(request: Request) -> Response:
    ctx = web_context(request)
    name = request.query_params.get("profile") or None
    with ctx.store.db.sessions() as session:
        try:
            profile = profiles.get_profile(session, name) if name else None
            rows = profiles.list_runs(session, profile, limit=100)
        except USER_ERRORS as exc:
            raise Refused(404, one_line(exc)) from None
        queued = jobs.queued_syncs(session, name)
    if exports.wants_csv(request):
        return _runs_csv(ctx.store, name)
    return render(
        request,
        "runs.html",
        {"runs": rows, "queued": queued, "profile": name, "csv_url": exports.csv_url(request)},
    )


def _runs_csv(store: Store, name: str | None) -> Response:
    """Every run of the profile (every profile's), newest first, a page per short read."""
    fields = exports.fields_of(RunView)

    def fetch(session: Any, before: int | None) -> tuple[list[RunView], int | None]:
        profile = profiles.get_profile(session, name) if name else None
        found = profiles.list_runs(session, profile, before_id=before, limit=exports.CHUNK_ROWS)
        return found, (found[-1].id if len(found) == exports.CHUNK_ROWS else None)

    return exports.csv_download(
        "runs", fields, exports.views(exports.paged(store.db, fetch), fields)
    )


def _entitlements_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    ctx = web_context(request)
    if error is None and exports.wants_csv(request):
        fields = exports.fields_of(EntitlementView)
        with ctx.store.db.sessions() as session:
            every = list_entitlements(session, ctx.clock.now().date())
        return exports.csv_download("entitlements", fields, exports.views(every, fields))
    with ctx.store.db.sessions() as session:
        rows = list_entitlements(session, ctx.clock.now().date())
        renewals = upcoming_renewals(session, ctx.clock.now())
        models = model_choices(session)
    return render(
        request,
        "entitlements.html",
        {
            "entitlements": rows,
            "renewals": renewals,
            "models": models,
            "error": error,
            "csv_url": exports.csv_url(request),
        },
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
