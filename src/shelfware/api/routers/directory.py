"""The directory: domain aliases (emails at one domain are people at another), accounts that
match nobody, leavers holding seats, and software models that are the same app (an SSO app
and the direct integration) with their per-person counts.

Aliases and same-app links change how accounts match people: integration settings, written
with ``profiles.write``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from shelfware.accounts.roles import Permission
from shelfware.accounts.schemas import Principal
from shelfware.api.auth import allowed
from shelfware.api.deps import (
    ModelName,
    PageCursor,
    PageLimit,
    Printable,
    Segment,
    Ws,
    next_page,
)
from shelfware.directory import service
from shelfware.directory.schemas import (
    AliasView,
    LeaverSeat,
    ModelPeople,
    PersonView,
    UnmatchedAccount,
)
from shelfware.ranges import MAX_NAME, Name

router = APIRouter(prefix="/directory", tags=["directory"])
people_router = APIRouter(prefix="/people", tags=["directory"])
PersonId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the person's id")]
AliasPath = Annotated[
    str, Path(min_length=1, max_length=MAX_NAME, description="an alias domain"), Segment, Printable
]


class AliasCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alias: Name = Field(description="the other domain, e.g. corp-mail.example")
    canonical: Name = Field(description="the people's domain, e.g. example.com")


class SameApp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    same_as: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_NAME,
        description="the model it is the same app as (id or name); null: no longer linked",
    )


@router.get("/aliases", response_model=list[AliasView])
def list_aliases(ws: Ws, _: Principal = allowed(Permission.PEOPLE_READ)) -> list[AliasView]:
    with ws.read() as session:
        return service.list_aliases(session)


@router.post("/aliases", response_model=AliasView, status_code=201)
def add_alias(
    data: AliasCreate, ws: Ws, principal: Principal = allowed(Permission.PROFILES_WRITE)
) -> AliasView:
    """Emails at ``alias`` belong to the people at ``canonical``; people are merged."""
    with ws.write(principal.actor) as session:
        return service.add_alias(session, ws.clock, data.alias, data.canonical)


@router.delete("/aliases/{alias}", status_code=204, response_class=Response)
def remove_alias(
    alias: AliasPath, ws: Ws, principal: Principal = allowed(Permission.PROFILES_WRITE)
) -> Response:
    with ws.write(principal.actor) as session:
        service.remove_alias(session, ws.clock, alias)
    return Response(status_code=204)


@router.get("/unmatched", response_model=list[UnmatchedAccount])
def unmatched(
    request: Request,
    response: Response,
    ws: Ws,
    limit: PageLimit = 1000,
    cursor: PageCursor = None,
    _: Principal = allowed(Permission.PEOPLE_READ),
) -> list[UnmatchedAccount]:
    """Seat-holding accounts matched to no person, and why; by profile and account, a page at
    a time (``X-Next-Cursor``: pass it as ``cursor`` for the next page)."""
    with ws.read() as session:
        rows, following = service.unmatched_page(session, cursor, limit)
    next_page(request, response, following)
    return rows


@router.get("/leavers", response_model=list[LeaverSeat])
def leavers(
    request: Request,
    response: Response,
    ws: Ws,
    limit: PageLimit = 1000,
    cursor: PageCursor = None,
    _: Principal = allowed(Permission.PEOPLE_READ),
) -> list[LeaverSeat]:
    """Seats held by people the identity provider lists as gone (deprovisioned, suspended);
    by email, profile and account, a page at a time (``X-Next-Cursor``, as above)."""
    with ws.read() as session:
        rows, following = service.leavers_page(session, cursor, limit)
    next_page(request, response, following)
    return rows


@router.get("/models", response_model=list[ModelPeople])
def people_per_model(ws: Ws, _: Principal = allowed(Permission.PEOPLE_READ)) -> list[ModelPeople]:
    """Per software model: accounts, people, the models that are the same app, and people
    across them (someone reaching one app through SSO and directly counts once)."""
    with ws.read() as session:
        return service.people_per_model(session)


@router.put("/models/{model}/same-app", response_model=ModelPeople)
def same_app(
    model: ModelName,
    data: SameApp,
    ws: Ws,
    principal: Principal = allowed(Permission.PROFILES_WRITE),
) -> ModelPeople:
    """Say that ``model`` is the same app as ``same_as`` (or, with null, as nothing)."""
    with ws.write(principal.actor) as session:
        return service.link_same_app(session, ws.clock, model, data.same_as)


class ChargingChange(BaseModel):
    """Where a person's seats are charged: a field given overrides the identity provider's
    value (null: clears the override, the provider's counts again); a field left out is
    unchanged."""

    model_config = ConfigDict(extra="forbid")

    department: str | None = Field(default=None, min_length=1, max_length=200)
    cost_center: str | None = Field(default=None, min_length=1, max_length=100)


@people_router.patch("/{person_id}", response_model=PersonView)
def set_charging(
    person_id: PersonId,
    data: ChargingChange,
    ws: Ws,
    principal: Principal = allowed(Permission.ENTITLEMENTS_WRITE),
) -> PersonView:
    """Override the person's department and/or cost centre (chargeback): the override wins
    over the identity provider until cleared with null. Needs ``entitlements.write``: where
    spend is charged is a licensing (finance) decision, not an integration setting."""
    changes = {name: getattr(data, name) for name in sorted(data.model_fields_set)}
    with ws.write(principal.actor) as session:
        return service.set_charging(session, ws.clock, person_id, changes)
