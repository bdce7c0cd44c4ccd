"""What the API checks before it reads a request's body: the bearer token, then the body's size.

FastAPI reads (and parses) the body before it runs an endpoint's dependencies, so the
``allowed(P)`` guard alone would let anyone make the server read megabytes before the 401.
``TokenFirst`` refuses a request without a valid token from its headers alone, before a byte
of the body is read; ``BodyLimit`` (kit) then keeps the body within 1 MiB (20 MiB for an
entitlement import), by ``Content-Length`` and by counting a streamed body. The guard still
checks the role of every endpoint.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from shelfware.accounts import service as accounts
from shelfware.accounts.schemas import Principal
from shelfware.api.errors import busy_response, error_response
from shelfware.appstate import Workspace
from shelfware.kit.asgi import MIB
from shelfware.store import database_busy

BODY_LIMIT = 1 * MIB
IMPORT_LIMIT = 20 * MIB
# (method, path inside the API) -> its own body limit
LARGER_BODIES = {("POST", "/entitlements/import"): IMPORT_LIMIT}
# readable without a token: the API's own document
PUBLIC = {("GET", "/openapi.json"), ("HEAD", "/openapi.json")}
# Answers carry account data: never cached, never sniffed as another type, no referrer.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
CHALLENGE = {**SECURITY_HEADERS, "WWW-Authenticate": "Bearer"}


def route_path(scope: Scope) -> str:
    """The path inside the API (the mount's prefix taken off)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def body_limit(scope: Scope) -> int:
    return LARGER_BODIES.get((scope.get("method", ""), route_path(scope)), BODY_LIMIT)


async def refusal(
    _: Scope, status: int, message: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The API's error body for a refusal made before the app (body too large, too busy)."""
    response = error_response(status, message, headers=SECURITY_HEADERS)
    return response.status_code, list(response.raw_headers), bytes(response.body)


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


PRINCIPAL_STATE = "principal"  # request.state: who the middleware authenticated


def _verify(ws: Workspace, token: str) -> Principal | str:
    """The token's principal, or why it is refused (unknown or revoked, expired, owner
    deactivated...), in the words the guard would use."""
    try:
        with ws.store.db.transaction() as session:
            return accounts.authenticate_token(session, ws.clock, token)
    except accounts.TokenRejected as exc:
        return str(exc)


class TokenFirst:
    """401 for a request without a valid API token, decided from the headers alone."""

    def __init__(self, app: ASGIApp, workspace: Workspace) -> None:
        self.app = app
        self.workspace = workspace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope.get("method"), route_path(scope)) in PUBLIC:
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        if token is None:
            message = "an API token is needed: Authorization: Bearer TOKEN"
        else:
            try:
                found = await run_in_threadpool(_verify, self.workspace, token)
            except Exception as exc:
                if not database_busy(exc):
                    raise
                await busy_response()(scope, receive, send)
                return
            if not isinstance(found, str):
                # the guard reuses it: one look-up (and one last-used note) per request
                scope.setdefault("state", {})[PRINCIPAL_STATE] = found
                await self.app(scope, receive, send)
                return
            message = found
        await error_response(401, message, headers=CHALLENGE)(scope, receive, send)
