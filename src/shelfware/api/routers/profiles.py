"""Integration profiles: create, validate, publish, authorize, set, delete, sync, run history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shelfware.accounts.roles import Permission
from shelfware.accounts.schemas import Principal
from shelfware.api.auth import allowed
from shelfware.api.deps import ProfileName, Ws, jsonable
from shelfware.audit.service import acting_as
from shelfware.jobs import service as jobs
from shelfware.jobs.schemas import JobView
from shelfware.kit.clock import utc
from shelfware.profiles import authorization, service
from shelfware.profiles.oauth import CALLBACK_PATH, AuthorizationError, check_redirect_uri
from shelfware.profiles.schemas import (
    ConnectionChange,
    ProcessChange,
    ProfileCreate,
    ProfileView,
    RunView,
)
from shelfware.ranges import MAX_ID, MAX_TEXT

router = APIRouter(prefix="/profiles", tags=["profiles"])


class Check(BaseModel):
    name: str
    ok: bool
    detail: str


class ValidationResult(BaseModel):
    ok: bool
    checks: list[Check]
    facts: dict[str, Any]


class ProfileChanged(BaseModel):
    changes: list[str]
    profile: ProfileView


class AuthorizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    redirect_uri: str | None = Field(
        default=None,
        max_length=MAX_TEXT,
        description=f"where the app sends the browser back (https://, or http:// to a loopback "
        f"address); default: this server's {CALLBACK_PATH}",
    )

    @field_validator("redirect_uri")
    @classmethod
    def _redirect_uri(cls, value: str | None) -> str | None:
        try:
            return None if value is None else check_redirect_uri(value)
        except AuthorizationError as exc:  # the request's fault: 422 naming the field
            raise ValueError(str(exc)) from None


class AuthorizeStarted(BaseModel):
    authorization_url: str
    state: str
    redirect_uri: str


@router.get("", response_model=list[ProfileView])
def list_profiles(ws: Ws, _: Principal = allowed(Permission.PROFILES_READ)) -> list[ProfileView]:
    with ws.read() as session:
        return [service.view(session, p) for p in service.list_profiles(session)]


@router.post("", response_model=ProfileView, status_code=201)
def create_profile(
    data: ProfileCreate, ws: Ws, principal: Principal = allowed(Permission.PROFILES_WRITE)
) -> ProfileView:
    """A draft profile; the credential is encrypted before it is stored and never returned."""
    with ws.write(principal.actor) as session:
        profile = service.create_profile(session, ws.store.keys, ws.clock, data)
        return service.view(session, profile)


@router.get("/{name}", response_model=ProfileView)
def get_profile(
    name: ProfileName, ws: Ws, _: Principal = allowed(Permission.PROFILES_READ)
) -> ProfileView:
    with ws.read() as session:
        return service.view(session, service.get_profile(session, name))


@router.patch("/{name}", response_model=ProfileChanged)
def set_profile(
    name: ProfileName,
    change: ProcessChange,
    ws: Ws,
    principal: Principal = allowed(Permission.PROFILES_WRITE),
) -> ProfileChanged:
    """Turn processes on or off, or move the activity look-back date."""
    with ws.write(principal.actor) as session:
        profile = service.get_profile(session, name)
        changes = service.set_processes(
            session,
            ws.clock,
            profile,
            activity=change.activity,
            reclaim=change.reclaim,
            analyze_from=utc(change.analyze_from) if change.analyze_from else None,
        )
        return ProfileChanged(changes=changes, profile=service.view(session, profile))


@router.patch("/{name}/connection", response_model=ProfileChanged)
def change_connection(
    name: ProfileName,
    change: ConnectionChange,
    ws: Ws,
    principal: Principal = allowed(Permission.PROFILES_WRITE),
) -> ProfileChanged:
    """Change the URL, region, user name, credential, options or sign-in method (``auth``:
    then ``secrets`` is the new method's whole credential). A field left out stays as it is;
    a secret is never returned. Any change needs a fresh validation before the profile is
    published again or its next sync is trusted."""
    with ws.write(principal.actor) as session:
        profile = service.get_profile(session, name)
        changes = service.change_connection(session, ws.store.keys, ws.clock, profile, change)
        return ProfileChanged(changes=changes, profile=service.view(session, profile))


@router.delete("/{name}", status_code=204, response_class=Response)
def delete_profile(
    name: ProfileName, ws: Ws, principal: Principal = allowed(Permission.PROFILES_WRITE)
) -> Response:
    with ws.write(principal.actor) as session:
        service.delete_profile(session, ws.clock, service.get_profile(session, name))
    return Response(status_code=204)


@router.post("/{name}/validate", response_model=ValidationResult)
async def validate_profile(
    name: ProfileName, ws: Ws, principal: Principal = allowed(Permission.PROFILES_WRITE)
) -> ValidationResult:
    """Call the app's read APIs with the stored credential (never reclaims anything)."""
    with acting_as(principal.actor):
        report = await service.validate_profile(ws.store.db, ws.store.keys, ws.clock, name)
    return ValidationResult(
        ok=report.ok,
        checks=[Check(name=c.name, ok=c.ok, detail=c.detail) for c in report.checks],
        facts=jsonable(dict(report.facts)),
    )


@router.post("/{name}/publish", response_model=ProfileView)
def publish_profile(
    name: ProfileName, ws: Ws, principal: Principal = allowed(Permission.PROFILES_WRITE)
) -> ProfileView:
    """Publish after a passing validation: software models, default rules, daily refresh."""
    with ws.write(principal.actor) as session:
        profile = service.get_profile(session, name)
        service.publish_profile(session, ws.clock, profile)
        return service.view(session, profile)


@router.post("/{name}/authorize", response_model=AuthorizeStarted)
def start_authorization(
    name: ProfileName,
    request: Request,
    ws: Ws,
    body: AuthorizeRequest | None = None,
    principal: Principal = allowed(Permission.PROFILES_WRITE),
) -> AuthorizeStarted:
    """Start OAuth (authorization code with PKCE): open ``authorization_url``; the app sends
    the browser back to ``redirect_uri`` (this server's /oauth/callback), which stores the
    tokens encrypted."""
    redirect_uri = (body.redirect_uri if body else None) or (
        f"{request.url.scheme}://{request.url.netloc}{CALLBACK_PATH}"
    )
    with ws.read() as session:
        pending = authorization.start_authorization(session, ws.store.keys, name, redirect_uri)
    ws.authorizations.add(name, pending)
    return AuthorizeStarted(
        authorization_url=pending.url, state=pending.state, redirect_uri=redirect_uri
    )


@router.post("/{name}/sync", response_model=JobView, status_code=202)
def sync_now(
    name: ProfileName, ws: Ws, principal: Principal = allowed(Permission.PROFILES_SYNC)
) -> JobView:
    """Queue a sync (download, activity, rule evaluation) and answer at once with its job:
    follow it at ``/jobs/{id}``; the run lands in the run history. A draft profile, or a sync
    of it already queued or running, is a 409."""
    return jobs.enqueue_sync(ws.extras["jobs"], ws.store, name, principal.actor)


@router.get("/{name}/runs", response_model=list[RunView])
def run_history(
    name: ProfileName,
    ws: Ws,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="runs before this id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    _: Principal = allowed(Permission.RUNS_READ),
) -> list[RunView]:
    """Sync runs, newest first, with counts and errors."""
    with ws.read() as session:
        profile = service.get_profile(session, name)
        return service.list_runs(session, profile, before_id=before, limit=limit)
