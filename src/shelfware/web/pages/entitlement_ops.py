"""Entitlements changed in the browser: import a CSV of them (every row or none, the bad
line named), edit one, end its term. The licensing service's own rules (a vendor-managed
entitlement's seats and term follow the vendor) hold here as in the CLI and the API."""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.licensing import service as licensing
from shelfware.licensing.pricing import day_of
from shelfware.licensing.schemas import EntitlementUpdate
from shelfware.ranges import MAX_ID
from shelfware.web.context import web_context
from shelfware.web.errors import USER_ERRORS, one_line
from shelfware.web.pages.lists import _entitlements_page
from shelfware.web.routing import Refused, page
from shelfware.web.templating import redirect, render

IMPORT_LIMIT = 10 * 1024 * 1024  # an uploaded CSV (serve.py lets this path's body be as big)
FIELDS = (
    "seats",
    "unit_cost",
    "currency",
    "billing_period",
    "term_start",
    "term_end",
    "renewal_date",
    "notice_date",
    "contract_ref",
)


@page("POST", "/entitlements/import", Permission.ENTITLEMENTS_WRITE)
async def entitlements_import(request: Request) -> Response:
    """Every row of the uploaded CSV, or none: the first bad row is named by its line."""
    ctx = web_context(request)
    form = await request.form(max_part_size=IMPORT_LIMIT)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _entitlements_page(request, "Choose a CSV file to import.", status=400)
    data = await upload.read(IMPORT_LIMIT + 1)
    name = upload.filename[:200]
    if len(data) > IMPORT_LIMIT:
        return _entitlements_page(
            request, f"{name} is larger than {IMPORT_LIMIT // (1024 * 1024)} MB.", status=400
        )
    try:
        with ctx.store.db.transaction() as session:
            added = licensing.import_entitlements(session, ctx.clock, data, what=name)
    except USER_ERRORS as exc:
        return _entitlements_page(
            request, f"Nothing imported: {one_line(exc)}. Fix the file and upload it again.", 400
        )
    return redirect(
        request,
        "/entitlements",
        f"Imported {len(added):,} entitlement{'s' if len(added) != 1 else ''} from {name}.",
    )


def _entitlement(request: Request, entitlement_id: int) -> Any:
    ctx = web_context(request)
    if not 1 <= entitlement_id <= MAX_ID:
        raise Refused(404, f"no entitlement {entitlement_id}")
    with ctx.store.db.sessions() as session:
        try:
            return licensing.get_entitlement(session, entitlement_id, day_of(ctx.clock.now()))
        except LookupError as exc:
            raise Refused(404, one_line(exc)) from None


def _page(request: Request, entitlement_id: int, error: str | None = None) -> Response:
    return render(
        request,
        "entitlement.html",
        {
            "e": _entitlement(request, entitlement_id),
            "today": day_of(web_context(request).clock.now()),
            "error": error,
        },
        status=400 if error else 200,
    )


@page("GET", "/entitlements/{entitlement_id}", Permission.ENTITLEMENTS_READ)
async def entitlement_detail(request: Request, entitlement_id: int) -> Response:
    return _page(request, entitlement_id)


@page("POST", "/entitlements/{entitlement_id}", Permission.ENTITLEMENTS_WRITE)
async def entitlement_edit(request: Request, entitlement_id: int) -> Response:
    ctx = web_context(request)
    _entitlement(request, entitlement_id)
    form = await request.form()
    given = {
        name: value.strip()
        for name in FIELDS
        if isinstance(value := form.get(name), str) and value.strip()
    }
    try:
        change = EntitlementUpdate.model_validate({"id": entitlement_id, **given})
        with ctx.store.db.transaction() as session:
            edited = licensing.edit_entitlement(session, ctx.clock, change)
    except USER_ERRORS as exc:
        return _page(request, entitlement_id, one_line(exc))
    return redirect(
        request,
        f"/entitlements/{entitlement_id}",
        f"Saved entitlement {edited.id} of {edited.software_model}.",
    )


@page("POST", "/entitlements/{entitlement_id}/end", Permission.ENTITLEMENTS_WRITE)
async def entitlement_end(request: Request, entitlement_id: int) -> Response:
    """End the term on the day given (the last day it counts)."""
    ctx = web_context(request)
    _entitlement(request, entitlement_id)
    form = await request.form()
    text = str(form.get("on") or "").strip()
    try:
        on = date.fromisoformat(text) if text else day_of(ctx.clock.now())
    except ValueError:
        return _page(request, entitlement_id, f"{text[:20]!r} is not a date (YYYY-MM-DD).")
    try:
        with ctx.store.db.transaction() as session:
            ended = licensing.end_entitlement(session, ctx.clock, entitlement_id, on)
    except USER_ERRORS as exc:
        return _page(request, entitlement_id, one_line(exc))
    return redirect(
        request,
        "/entitlements",
        f"Entitlement {ended.id} of {ended.software_model} ends on {on:%Y-%m-%d}.",
    )
