"""Change a draft or published profile's connection: URL, region, sign-in method (where the
connector takes several), credential, options and processes, then validate it again. Only
the fields a connector kind and its authentication use are shown; a stored secret is never
put back into the form (a blank secret field keeps the stored one; another sign-in method
needs its whole credential)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.kit.asgi import quote_segment
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ConnectionChange, ProfileView
from shelfware.web.context import web_context
from shelfware.web.errors import USER_ERRORS, one_line
from shelfware.web.pages.profiles import (
    _kind,
    _load,
    form_auth,
    form_options,
    form_secrets,
    form_text,
)
from shelfware.web.routing import Refused, SegmentName, page
from shelfware.web.templating import redirect, render


@page("GET", "/profiles/new/credential", Permission.PROFILES_WRITE)
async def credential_fields(request: Request) -> Response:
    """The credential's fields for the kind and authentication chosen (htmx swaps them into
    the new-profile form when the authentication changes)."""
    kind = _kind(request.query_params.get("kind"))
    try:
        auth = form_auth(request.query_params.get("auth") or None, kind)
    except ValueError as exc:
        raise Refused(400, one_line(exc)) from None
    context: dict[str, Any] = {"kind": kind, "auth": auth, "form": {}, "editing": False}
    return render(request, "_auth_fields.html", context)


def _shown(view: ProfileView) -> dict[str, str]:
    """What the form shows of the profile: never a secret."""
    return {
        "url": view.url,
        "region": view.region or "",
        "username": view.username or "",
        "options": "\n".join(
            f"{k}={v}" for k, v in view.options.items() if isinstance(v, str | int | float)
        ),
    }


AUTH_NAMES = {"api-token": "API token", "basic": "User name and password", "oauth": "OAuth"}


def _page(
    request: Request, view: ProfileView, form: dict[str, Any], error: str | None = None
) -> Response:
    kind = _kind(view.kind)
    if kind is None:
        raise Refused(404, f"the connector kind {view.kind!r} is not installed")
    methods = profiles.auth_methods(view.kind)
    auth = str(form.get("auth") or view.auth)
    return render(
        request,
        "profile_edit.html",
        {
            "profile": view,
            "kind": kind,
            "form": form,
            "error": error,
            # the method picker only where there is a choice (and the profile's is one)
            "methods": methods if len(methods) > 1 and view.auth in methods else (),
            "auth_names": AUTH_NAMES,
            "auth": auth if auth in methods else view.auth,
        },
        status=400 if error else 200,
    )


@page("GET", "/profiles/{name}/edit/credential", Permission.PROFILES_WRITE)
async def edit_credential_fields(request: Request, name: SegmentName) -> Response:
    """The credential's fields for the sign-in method chosen on the edit form (htmx swaps
    them in): the profile's own method keeps what is stored when left blank; another one
    needs its whole credential."""
    view, _ = _load(request, name)
    auth = request.query_params.get("auth") or view.auth
    if auth not in profiles.auth_methods(view.kind):
        raise Refused(400, f"a {view.kind} profile does not sign in with {auth[:20]!r}")
    context: dict[str, Any] = {
        "kind": _kind(view.kind),
        "auth": auth,
        "form": _shown(view) if auth == view.auth else {},
        "editing": auth == view.auth,
    }
    return render(request, "_auth_fields.html", context)


@page("GET", "/profiles/{name}/edit", Permission.PROFILES_WRITE)
async def profile_edit(request: Request, name: SegmentName) -> Response:
    view, _ = _load(request, name)
    return _page(request, view, _shown(view))


def _change(view: ProfileView, form: FormData) -> ConnectionChange:
    shown = _shown(view)
    url = form_text(form, "url") or ""
    options = form_options(form_text(form, "options"))
    auth = form_text(form, "auth") or view.auth
    return ConnectionChange(
        # the URL as shown (credentials in it masked) is no change
        url=None if url == shown["url"] else url,
        region=form_text(form, "region") if view.region or form_text(form, "region") else None,
        username=form_text(form, "username") if auth == "basic" else None,
        secrets=form_secrets(form, auth),
        options=None if options == form_options(shown["options"]) else options,
        auth=None if auth == view.auth else auth,
    )


@page("POST", "/profiles/{name}/edit", Permission.PROFILES_WRITE)
async def profile_save(request: Request, name: SegmentName) -> Response:
    """Save the changes (``action=validate``: then validate with the new settings)."""
    ctx = web_context(request)
    view, _ = _load(request, name)
    form = await request.form()
    kept = {
        k: str(v)
        for k, v in form.items()
        if k in ("url", "region", "username", "options", "auth") and isinstance(v, str)
    }
    try:
        change = _change(view, form)
        with ctx.store.db.transaction() as session:
            profile = profiles.get_profile(session, name)
            said = profiles.change_connection(session, ctx.store.keys, ctx.clock, profile, change)
            said += profiles.set_processes(
                session,
                ctx.clock,
                profile,
                activity=form.get("activity") == "on",
                reclaim=form.get("reclaim") == "on",
            )
    except USER_ERRORS as exc:
        return _page(request, view, kept, one_line(exc))
    where = f"/profiles/{quote_segment(name)}"
    done = "Saved: " + "; ".join(said) if said else "Nothing changed"
    if form.get("action") != "validate":
        return redirect(request, where, f"{done}.")
    if profile.auth == "oauth" and any(c.startswith("sign-in") for c in said):
        # nothing to validate before the app's consent: Authorize comes first
        return redirect(request, where, f"{done}. Press Authorize, then validate.")
    try:
        report = await profiles.validate_profile(ctx.store.db, ctx.store.keys, ctx.clock, name)
    except USER_ERRORS as exc:
        return redirect(request, where, f"{done}. Validation failed: {one_line(exc)}")
    verdict = "passed" if report.ok else "failed: see the checks below"
    return redirect(request, where, f"{done}. Validation {verdict}.")
