"""The SCIM 2.0 service (RFC 7644) at /scim/v2: identity providers provision shelfware's users.

An ASGI app mounted by ``shelfware.serve`` at ``/scim``: the protocol is ``scim2-server``'s
(routing, filters, PATCH, attribute selection, SCIM errors as ``application/scim+json``), the
storage and the rules are ``accounts.scim``'s. Only a SCIM provisioning token
(``shelfware scim tokens create``) reaches it: it is checked from the headers before a byte of
the body is read, and an API token or a web session is refused. Each request is one
transaction: a refused one writes nothing.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from scim2_models import Context, ResponseParameters, SCIMException
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.service import ScimService
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from shelfware.accounts import scim
from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Role, parse_role_map
from shelfware.accounts.schemas import Principal, TokenKind
from shelfware.api.deps import settings_of
from shelfware.api.limits import BODY_LIMIT, SECURITY_HEADERS, bearer_token
from shelfware.appstate import Workspace
from shelfware.store import database_busy

SCIM_PREFIX = "/scim"  # the mount; the service's URL is /scim/v2
VERSION = "/v2"
MEDIA_TYPE = "application/scim+json"
_log = logging.getLogger(__name__)


def _error(status: int, detail: str, scim_type: str | None = None) -> ScimResponse:
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": str(status),
        "detail": detail,
    }
    if scim_type:
        body["scimType"] = scim_type
    return ScimResponse(HTTPStatus(status), body)


class _Service(ScimService):
    def patch_response(
        self, base_url: str, resource: Any, response_parameters: ResponseParameters[Any]
    ) -> ScimResponse:
        """200 with the resource (RFC 7644 3.5.2 allows it; Okta expects it), not 204."""
        return self.resource_response(
            self.publish(base_url, resource),
            Context.RESOURCE_REPLACEMENT_RESPONSE,
            response_parameters,
        )


class ScimApp:
    """The /scim/v2 service over ``workspace``; its role map is ``SHELFWARE_SSO_ROLE_MAP``'s."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.service = _Service(scim.provider())

    def _role_map(self) -> dict[str, Role]:
        """``SHELFWARE_SSO_ROLE_MAP`` of the workspace's configuration (checked at start)."""
        return parse_role_map(settings_of(self.workspace).sso_role_map)

    # --- one request -------------------------------------------------------------------

    def _authenticate(self, token: str) -> Principal | str:
        ws = self.workspace
        try:
            with ws.store.db.transaction() as session:
                return accounts.authenticate_token(session, ws.clock, token, kind=TokenKind.SCIM)
        except accounts.TokenRejected as exc:
            return str(exc)

    def _serve(self, request: ScimRequest, principal: Principal) -> ScimResponse:
        ws = self.workspace
        try:
            with ws.store.db.transaction() as session:
                storage = scim.ShelfwareStorage(
                    session, ws.clock, role_map=self._role_map(), actor=f"scim:{principal.name}"
                )
                with self.service.provider:
                    return ScimHandler(self.service, storage).handle(request)
        except SCIMException as exc:  # rolled back: nothing half-written
            return self.service.error_response(exc)
        except Exception as exc:
            if database_busy(exc):
                response = _error(503, "the server is busy: retry shortly")
                response.headers["Retry-After"] = "2"
                return response
            _log.exception("SCIM %s %s failed", request.method, request.path)
            return _error(500, "internal error (logged on the server)")

    # --- ASGI --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = ScimRequest(
            method=scope["method"],
            base_url=self._base_url(scope),
            path=self._path(scope),
            query=dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
        )
        token = bearer_token(scope)
        if token is None:
            found: Principal | str = (
                "a SCIM provisioning token is needed: Authorization: Bearer TOKEN"
            )
        else:
            try:
                found = await run_in_threadpool(self._authenticate, token)
            except Exception as exc:
                if not database_busy(exc):
                    raise
                found = ""
        if isinstance(found, str):
            response = _error(401, found) if found else _error(503, "the server is busy")
            if found:
                response.headers["WWW-Authenticate"] = 'Bearer realm="shelfware SCIM"'
        else:
            body = await self._body(receive)
            if body is None:
                response = _error(413, f"the body is larger than {BODY_LIMIT} bytes", "tooLarge")
            else:
                request.body = body
                response = await run_in_threadpool(self._serve, request, found)
        await self._send(response, send)

    def _base_url(self, scope: Scope) -> str:
        """The service's URL as clients see it (``meta.location``, ``$ref``):
        ``SHELFWARE_PUBLIC_URL`` when set (behind a TLS proxy), else the request's own."""
        settings = settings_of(self.workspace)
        if "public_url" in settings.model_fields_set:
            return f"{settings.public_url.rstrip('/')}{SCIM_PREFIX}{VERSION}"
        host = ""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
        if not host and scope.get("server"):
            host = "{}:{}".format(*scope["server"])
        return f"{scope['scheme']}://{host}{scope.get('root_path', '')}{VERSION}"

    @staticmethod
    def _path(scope: Scope) -> str:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if path == VERSION or path.startswith(VERSION + "/"):
            path = path[len(VERSION) :]
        return path.removesuffix(".scim")

    @staticmethod
    async def _body(receive: Receive) -> bytes | None:
        """The body, or None past the limit (counted as it streams)."""
        body = bytearray()
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > BODY_LIMIT:
                return None
            more = message.get("more_body", False)
        return bytes(body)

    @staticmethod
    async def _send(response: ScimResponse, send: Send) -> None:
        headers = {**response.headers, **SECURITY_HEADERS}
        headers["Content-Type"] = MEDIA_TYPE
        body = b"" if response.body is None else json.dumps(response.body).encode("utf-8")
        if response.status == HTTPStatus.NO_CONTENT:
            headers.pop("Content-Type", None)
        await send(
            {
                "type": "http.response.start",
                "status": int(response.status),
                "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_scim_app(workspace: Workspace) -> ScimApp:
    return ScimApp(workspace)
