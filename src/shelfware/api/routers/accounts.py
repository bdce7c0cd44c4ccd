"""Who am I, and (admin) local users and API tokens."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from shelfware.accounts import service
from shelfware.accounts.roles import Permission, Role, permissions_of
from shelfware.accounts.schemas import (
    Principal,
    TokenCreate,
    TokenView,
    UserCreate,
    UserView,
)
from shelfware.api.auth import allowed
from shelfware.api.deps import PathName, Ws

router = APIRouter(tags=["accounts"])


class Me(BaseModel):
    kind: str
    name: str
    role: Role
    permissions: list[Permission]


class TokenCreated(BaseModel):
    token: str  # shown this once; only its SHA-256 digest is kept
    record: TokenView


@router.get("/me", response_model=Me)
def me(principal: Principal = allowed(Permission.PROFILES_READ)) -> Me:
    """The token's name and role, and what the role may do."""
    return Me(
        kind=principal.kind,
        name=principal.name,
        role=principal.role,
        permissions=sorted(permissions_of(principal.role)),
    )


@router.get("/users", response_model=list[UserView])
def list_users(ws: Ws, _: Principal = allowed(Permission.ACCOUNTS_MANAGE)) -> list[UserView]:
    with ws.read() as session:
        return service.list_users(session)


@router.post("/users", response_model=UserView, status_code=201)
def create_user(
    data: UserCreate, ws: Ws, principal: Principal = allowed(Permission.ACCOUNTS_MANAGE)
) -> UserView:
    with ws.write(principal.actor) as session:
        return service.create_user(session, ws.clock, data)


@router.get("/tokens", response_model=list[TokenView])
def list_tokens(ws: Ws, _: Principal = allowed(Permission.ACCOUNTS_MANAGE)) -> list[TokenView]:
    with ws.read() as session:
        return service.list_tokens(session)


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(
    data: TokenCreate, ws: Ws, principal: Principal = allowed(Permission.ACCOUNTS_MANAGE)
) -> TokenCreated:
    """A new API token, returned this once."""
    with ws.write(principal.actor) as session:
        # without an owner, the token acts for the owner of the token creating it
        token, record = service.create_token(session, ws.clock, data, creator_token_id=principal.id)
    return TokenCreated(token=token, record=record)


@router.post("/tokens/{name}/revoke", response_model=TokenView)
def revoke_token(
    name: PathName, ws: Ws, principal: Principal = allowed(Permission.ACCOUNTS_MANAGE)
) -> TokenView:
    with ws.write(principal.actor) as session:
        return service.revoke_token(session, ws.clock, name)
