"""Where the app's OAuth consent redirects back to: ``/oauth/callback``."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.profiles import authorization
from shelfware.profiles import service as profiles
from shelfware.profiles.oauth import CALLBACK_TIMEOUT, check_callback, exchange
from shelfware.web.context import viewer_of, web_context
from shelfware.web.errors import USER_ERRORS, one_line
from shelfware.web.routing import Refused, page
from shelfware.web.templating import redirect


@page("GET", "/oauth/callback", Permission.PROFILES_WRITE)
async def oauth_callback(request: Request) -> Response:
    ctx = web_context(request)
    params = {k: v for k, v in request.query_params.items()}
    for state, item in list(ctx.oauth.items()):  # forget abandoned authorizations
        if time.time() - item.pending.created > CALLBACK_TIMEOUT:
            ctx.oauth.pop(state, None)
    waiting = ctx.oauth.pop(params.get("state", ""), None)
    if waiting is None or waiting.user_id != viewer_of(request).user_id:
        raise Refused(
            400,
            "This authorization is unknown or expired (a forged or stale redirect): "
            "nothing was stored; press Authorize again.",
        )
    name = waiting.profile
    try:
        code = check_callback(waiting.pending, params)
        with ctx.store.db.sessions() as session:
            secrets = profiles.secrets_of(profiles.get_profile(session, name), ctx.store.keys)
        tokens = await exchange(
            waiting.pending, code, secrets.get("client_id", ""), secrets.get("client_secret")
        )
        with ctx.store.db.transaction() as session:
            authorization.store_authorization(
                session, ctx.store.keys, ctx.clock, profiles.get_profile(session, name), tokens
            )
    except USER_ERRORS as exc:
        return redirect(request, f"/profiles/{name}", f"Not authorized: {one_line(exc)}")
    return redirect(request, f"/profiles/{name}", "Authorized: tokens stored; now validate.")
