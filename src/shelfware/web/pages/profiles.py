"""Apps and integration profiles: the create / validate / publish wizard, OAuth authorize,
sync now, delete."""

from __future__ import annotations

import logging
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.audit.service import current_actor
from shelfware.jobs import service as jobs
from shelfware.kit.asgi import quote_segment
from shelfware.overview import catalogue
from shelfware.profiles import authorization
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.web.context import web_context
from shelfware.web.errors import USER_ERRORS, one_line
from shelfware.web.routing import Refused, SegmentName, page
from shelfware.web.templating import redirect, render

LOG = logging.getLogger(__name__)
AUTH_METHODS = ("api-token", "basic", "oauth")


def _kind(kind: str | None) -> catalogue.ConnectorKind | None:
    return next((c for c in catalogue.catalogue() if c.kind == kind), None)


@page("GET", "/profiles", Permission.PROFILES_READ)
async def profile_list(request: Request) -> Response:
    ctx = web_context(request)
    with ctx.store.db.sessions() as session:
        views = [profiles.view(session, p) for p in profiles.list_profiles(session)]
    return render(request, "profiles.html", {"profiles": views, "kinds": catalogue.catalogue()})


@page("GET", "/profiles/new", Permission.PROFILES_WRITE)
async def profile_new(request: Request, kind: str | None = None) -> Response:
    return render(
        request,
        "profile_new.html",
        {
            "kinds": catalogue.catalogue(),
            "chosen": _kind(kind),
            "form": {},
            "auths": AUTH_METHODS,
            "auth": "api-token",
        },
    )


def form_text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def form_auth(text: str | None, kind: catalogue.ConnectorKind | None = None) -> str:
    """The authentication chosen (api-token when none; OAuth only for a kind that has it)."""
    auth = text or "api-token"
    if auth not in AUTH_METHODS:
        raise ValueError(f"authentication {auth!r} is not one of {', '.join(AUTH_METHODS)}")
    if auth == "oauth" and kind is not None and not kind.oauth:
        raise ValueError(f"{kind.publisher} {kind.product} has no OAuth sign-in")
    return auth


def form_secrets(form: FormData, auth: str) -> dict[str, str]:
    """The credential's parts the form gives, under the names the connectors read (a blank
    field gives nothing)."""
    secrets: dict[str, str] = {}
    secret = form_text(form, "secret")
    if auth == "api-token" and secret:
        secrets["api_key"] = secret
    elif auth == "basic" and secret:
        secrets["password"] = secret
    for key in ("client_id", "client_secret"):  # OAuth, or an app registration's
        if value := form_text(form, key):
            secrets[key] = value
    return secrets


def form_options(text: str | None) -> dict[str, str]:
    """KEY=VALUE lines as options."""
    options: dict[str, str] = {}
    for line in (text or "").splitlines():
        if line.strip():
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"option {line.strip()!r} is not KEY=VALUE")
            options[key.strip()] = value.strip()
    return options


def _profile_input(form: FormData) -> ProfileCreate:
    """The wizard's fields as the service's input schema (the CLI builds the same one)."""
    kind = _kind(form_text(form, "kind"))
    auth = form_auth(form_text(form, "auth"), kind)
    return ProfileCreate(
        kind=form_text(form, "kind") or "",
        name=form_text(form, "name") or "",
        url=form_text(form, "url"),
        region=form_text(form, "region") if kind is None or kind.regions else None,
        auth=auth,
        username=form_text(form, "username") if auth == "basic" else None,
        secrets=form_secrets(form, auth),
        options=form_options(form_text(form, "options")),
        spec=form_text(form, "spec"),
        activity=form.get("activity") == "on",
        reclaim=form.get("reclaim") == "on",
    )


@page("POST", "/profiles", Permission.PROFILES_WRITE)
async def profile_create(request: Request) -> Response:
    ctx = web_context(request)
    form = await request.form()
    try:
        data = _profile_input(form)
        with ctx.store.db.transaction() as session:
            profile = profiles.create_profile(session, ctx.store.keys, ctx.clock, data)
            name = profile.name
    except USER_ERRORS as exc:
        kept = {k: v for k, v in form.items() if k not in ("secret", "client_secret", "csrf_token")}
        return render(
            request,
            "profile_new.html",
            {
                "kinds": catalogue.catalogue(),
                "chosen": _kind(str(form.get("kind", ""))),
                "form": kept,
                "auths": AUTH_METHODS,
                "auth": str(form.get("auth") or "api-token"),
                "error": one_line(exc),
            },
            status=400,
        )
    step = "authorize it" if data.auth == "oauth" else "validate it"
    return redirect(
        request, f"/profiles/{quote_segment(name)}", f"Created draft profile {name}: now {step}."
    )


def _load(request: Request, name: str) -> Any:
    ctx = web_context(request)
    with ctx.store.db.sessions() as session:
        try:
            profile = profiles.get_profile(session, name)
        except profiles.ProfileNotFound as exc:
            raise Refused(404, one_line(exc)) from None
        return profiles.view(session, profile), profiles.list_runs(session, profile, limit=10)


@page("GET", "/profiles/{name}", Permission.PROFILES_READ)
async def profile_detail(request: Request, name: SegmentName) -> Response:
    view, runs = _load(request, name)
    with web_context(request).store.db.sessions() as session:
        queued = jobs.queued_syncs(session, name)
    context = {"profile": view, "kind": _kind(view.kind), "runs": runs, "queued": queued}
    return render(request, "profile.html", context)


@page("POST", "/profiles/{name}/validate", Permission.PROFILES_WRITE)
async def profile_validate(request: Request, name: SegmentName) -> Response:
    ctx = web_context(request)
    _load(request, name)
    try:
        report = await profiles.validate_profile(ctx.store.db, ctx.store.keys, ctx.clock, name)
    except USER_ERRORS as exc:
        return redirect(
            request, f"/profiles/{quote_segment(name)}", f"Validation failed: {one_line(exc)}"
        )
    verdict = "passed: you can publish it" if report.ok else "failed: see the checks below"
    return redirect(request, f"/profiles/{quote_segment(name)}", f"Validation {verdict}.")


@page("POST", "/profiles/{name}/publish", Permission.PROFILES_WRITE)
async def profile_publish(request: Request, name: SegmentName) -> Response:
    ctx = web_context(request)
    _load(request, name)
    try:
        with ctx.store.db.transaction() as session:
            profiles.publish_profile(session, ctx.clock, profiles.get_profile(session, name))
    except USER_ERRORS as exc:
        return redirect(
            request, f"/profiles/{quote_segment(name)}", f"Not published: {one_line(exc)}"
        )
    return redirect(
        request,
        f"/profiles/{quote_segment(name)}",
        "Published: software model and default rule created.",
    )


@page("POST", "/profiles/{name}/sync", Permission.PROFILES_SYNC)
async def profile_sync(request: Request, name: SegmentName) -> Response:
    """Queue a sync; the run history shows it queued, then running, then its outcome."""
    ctx = web_context(request)
    _load(request, name)
    try:
        job = jobs.enqueue_sync(ctx.workspace.extras["jobs"], ctx.store, name, current_actor())
    except USER_ERRORS as exc:
        return redirect(request, f"/profiles/{quote_segment(name)}", f"Not queued: {one_line(exc)}")
    return redirect(
        request, f"/runs?profile={quote_segment(name)}", f"Sync of {name} queued (job {job.id})."
    )


@page("POST", "/profiles/{name}/authorize", Permission.PROFILES_WRITE)
async def profile_authorize(request: Request, name: SegmentName) -> Response:
    """Start the OAuth authorization code flow: the app redirects back to /oauth/callback."""
    ctx = web_context(request)
    try:
        with ctx.store.db.sessions() as session:
            pending = authorization.start_authorization(
                session, ctx.store.keys, name, str(request.url_for("oauth_callback"))
            )
    except USER_ERRORS as exc:
        return redirect(
            request, f"/profiles/{quote_segment(name)}", f"Cannot authorize: {one_line(exc)}"
        )
    ctx.workspace.authorizations.add(name, pending)
    # a page with the consent link rather than a redirect: the person sees where they go, and
    # the CSP's form-action 'self' stays strict (it also governs a form's redirects)
    return render(request, "authorize.html", {"profile": name, "url": pending.url})


@page("POST", "/profiles/{name}/delete", Permission.PROFILES_WRITE)
async def profile_delete(request: Request, name: SegmentName) -> Response:
    ctx = web_context(request)
    _load(request, name)
    with ctx.store.db.transaction() as session:
        profiles.delete_profile(session, ctx.clock, profiles.get_profile(session, name))
    return redirect(request, "/profiles", f"Deleted profile {name}.")
