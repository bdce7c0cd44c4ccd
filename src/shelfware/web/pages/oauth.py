"""Where the app's OAuth consent redirects back to: ``/oauth/callback`` (for authorizations
started from a page or from the API alike)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.kit.asgi import quote_segment
from shelfware.profiles import authorization
from shelfware.web.context import web_context
from shelfware.web.errors import USER_ERRORS, one_line
from shelfware.web.routing import Refused, page
from shelfware.web.templating import redirect


@page("GET", "/oauth/callback", Permission.PROFILES_WRITE)
async def oauth_callback(request: Request) -> Response:
    ctx = web_context(request)
    params = dict(request.query_params.items())
    waiting = ctx.workspace.authorizations.take(params.get("state", ""))
    if waiting is None:
        raise Refused(
            400,
            "This authorization is unknown or expired (a forged or stale redirect): "
            "nothing was stored; press Authorize again.",
        )
    name, pending = waiting
    try:
        await authorization.finish_authorization(
            ctx.store.db, ctx.store.keys, ctx.clock, name, pending, params
        )
    except USER_ERRORS as exc:
        return redirect(
            request, f"/profiles/{quote_segment(name)}", f"Not authorized: {one_line(exc)}"
        )
    return redirect(
        request, f"/profiles/{quote_segment(name)}", "Authorized: tokens stored; now validate."
    )
