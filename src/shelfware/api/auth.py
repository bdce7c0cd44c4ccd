"""Bearer tokens and the role matrix: every endpoint names the permission it needs.

``allowed(P)`` is the only way an endpoint gets its principal; the app refuses to start when
a route has none (see :func:`permission_of`), and the role-matrix test walks the same table.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Permission, allows
from shelfware.accounts.schemas import Principal
from shelfware.api.errors import ApiError
from shelfware.api.limits import PRINCIPAL_STATE
from shelfware.appstate import Workspace

bearer = HTTPBearer(auto_error=False, description="an API token: `shelfware tokens create`")


def workspace(request: Request) -> Workspace:
    found: Workspace = request.app.state.workspace
    return found


class Guard:
    """A dependency: the request's principal, if its token is valid and its role allows."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(
        self,
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _unauthorized("an API token is needed: Authorization: Bearer TOKEN")
        ws = workspace(request)
        principal = getattr(request.state, PRINCIPAL_STATE, None)  # api.limits.TokenFirst
        if not isinstance(principal, Principal):
            try:
                with ws.store.db.transaction() as session:
                    principal = accounts.authenticate_token(
                        session, ws.clock, credentials.credentials
                    )
            except accounts.TokenRejected as exc:  # unknown, revoked, expired, deactivated
                raise _unauthorized(str(exc)) from None
        if not allows(principal.role, self.permission):
            raise ApiError(
                403, f"role {principal.role.value} may not do this (needs {self.permission.value})"
            )
        return principal


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def allowed(permission: Permission) -> Any:
    """``principal: Principal = allowed(Permission.X)`` in an endpoint's signature."""
    return Depends(Guard(permission))


def permission_of(dependant: Any) -> Permission | None:
    """The permission a route's dependency tree enforces (None when it has no guard)."""
    for dep in dependant.dependencies:
        if isinstance(dep.call, Guard):
            return dep.call.permission
        found = permission_of(dep)
        if found is not None:
            return found
    return None
