"""`GET /me`: who the token belongs to and what its role may do."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from shelfware.accounts.roles import Permission, Role, permissions_of
from shelfware.accounts.schemas import Principal
from shelfware.api.auth import allowed

router = APIRouter(tags=["accounts"])


class Me(BaseModel):
    kind: str
    name: str
    role: Role
    permissions: list[Permission]


@router.get("/me", response_model=Me)
def me(principal: Principal = allowed(Permission.PROFILES_READ)) -> Me:
    return Me(
        kind=principal.kind,
        name=principal.name,
        role=principal.role,
        permissions=sorted(permissions_of(principal.role)),
    )
