"""Single sign-on through an OpenID provider: ``/sso/login`` sends the browser there with a
fresh attempt (state, nonce, PKCE), ``/sso/callback`` verifies what comes back and signs the
person in with the role their groups map to (accounts/sso.py).

SAML sign-in (web/pages/saml.py) shares the attempts, the refusal and the finish here.

The attempt's ``state`` is checked twice: against a sealed cookie of its own purpose (the
callback comes back to the browser that began it: no login CSRF) and against its row in the
database, deleted by the callback (a replayed state is refused).
"""

from __future__ import annotations

import hmac
import logging
from typing import Literal

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from shelfware.accounts import sso
from shelfware.accounts.roles import parse_role_map
from shelfware.audit import service as audit
from shelfware.kit.oidc import OidcClient, OidcError
from shelfware.kit.redact import register_secret
from shelfware.kit.saml import SamlServiceProvider
from shelfware.settings import Settings
from shelfware.web.context import SignInPolicy, web_context
from shelfware.web.pages.auth import client_address
from shelfware.web.routing import Refused, local_path, page
from shelfware.web.security import SSO_COOKIE, SSO_SECONDS, WebSession
from shelfware.web.templating import render, set_session_cookie

_log = logging.getLogger(__name__)
LOGIN_PATH = "/sso/login"
CALLBACK_PATH = "/sso/callback"


def sign_in_policy(settings: Settings) -> SignInPolicy:
    """The sign-in policy of ``settings`` (SHELFWARE_OIDC_*, _SSO_*, _LOCAL_LOGIN, _BREAK_GLASS)."""
    client: OidcClient | None = None
    if settings.oidc_issuer and settings.oidc_client_id:
        secret = (
            settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else ""
        )
        register_secret(secret)  # never in a log line or an error shown
        client = OidcClient(
            settings.oidc_issuer, settings.oidc_client_id, secret, settings.oidc_scopes
        )
    return SignInPolicy(
        oidc=client,
        saml=saml_provider(settings),
        saml_name=settings.saml_name,
        saml_groups_attribute=settings.saml_groups_attribute,
        saml_email_attribute=settings.saml_email_attribute,
        name=settings.oidc_name,
        role_map=parse_role_map(settings.sso_role_map),
        groups_claim=settings.sso_groups_claim,
        local_login=settings.local_login,
        break_glass=frozenset(n.strip() for n in settings.break_glass.split(",") if n.strip()),
        public_url=settings.public_url if "public_url" in settings.model_fields_set else None,
    )


def saml_provider(settings: Settings) -> SamlServiceProvider | None:
    """The SAML service provider of ``settings`` (SHELFWARE_SAML_*), None when not set up."""
    if not (settings.saml_idp_metadata_url or settings.saml_idp_metadata_file):
        return None
    entity_id = settings.saml_sp_entity_id or (
        settings.public_url.rstrip("/") + "/sso/saml/metadata"
    )
    return SamlServiceProvider(
        entity_id=entity_id,
        idp_metadata_url=settings.saml_idp_metadata_url,
        idp_metadata_file=settings.saml_idp_metadata_file,
        idp_entity_id=settings.saml_idp_entity_id,
        key_file=settings.saml_sp_key_file,
        cert_file=settings.saml_sp_cert_file,
    )


def base_url(request: Request, policy: SignInPolicy) -> str:
    """The address the provider sends people back to (SHELFWARE_PUBLIC_URL when set)."""
    if policy.public_url:
        return policy.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def _client(request: Request) -> OidcClient:
    client = web_context(request).sign_in.oidc
    if client is None:
        raise Refused(404, "Single sign-on is not configured (SHELFWARE_OIDC_ISSUER).")
    return client


async def refuse(
    request: Request, reason: str, message: str, status: int = 403, cookie: str = SSO_COOKIE
) -> Response:
    """The refusal page, the reason audited (``user.sso_refused``), the attempt's cookie gone."""
    ctx = web_context(request)
    address = client_address(request)

    def record() -> None:
        with ctx.store.db.transaction() as db:
            audit.record(
                db,
                ctx.clock,
                action=sso.SSO_REFUSED,
                object_type="user",
                object_id="unknown",
                actor="sso",
                reason=reason[:300],
                address=address,
            )

    await run_in_threadpool(record)
    _log.warning("single sign-on refused: %s", reason)
    response = render(request, "error.html", {"message": message}, status=status)
    response.delete_cookie(cookie, path="/sso/")
    return response


def finish(
    request: Request, outcome: sso.SsoOutcome, next_path: str, cookie: str = SSO_COOKIE
) -> Response:
    """After accounts/sso.sign_in: the no-access page, or the new session and its page."""
    if outcome.session is None:
        response: Response = render(
            request, "error.html", {"message": outcome.refused or "No access."}, status=403
        )
    else:
        started = outcome.session
        response = RedirectResponse(local_path(next_path), status_code=303)
        # a new session with a new token and CSRF secret: no fixation
        session = WebSession(
            csrf=started.csrf,
            issued=int(started.created_at.timestamp()),
            user_id=started.user.id,
            token=started.token,
        )
        set_session_cookie(request, response, session)
    response.delete_cookie(cookie, path="/sso/")
    return response


async def begin_sign_in(request: Request, next_path: str) -> sso.Attempt | Response:
    """A sign-in attempt that returns to ``next_path`` (on this site), or the 429 page when
    too many are open (OIDC and SAML alike)."""
    ctx = web_context(request)
    target = local_path(next_path)

    def begin() -> sso.Attempt:
        with ctx.store.db.transaction() as db:
            return sso.begin_attempt(db, ctx.clock, target)

    try:
        return await run_in_threadpool(begin)
    except sso.TooManyAttempts as exc:
        return render(request, "error.html", {"message": f"Single sign-on: {exc}."}, status=429)


def to_provider(
    request: Request, url: str, cookie: str, state: str, *, samesite: Literal["lax", "none"]
) -> Response:
    """The redirect to the identity provider, with the attempt's state sealed in ``cookie``
    (the callback checks the answer comes back to the browser that began the sign-in)."""
    ctx = web_context(request)
    response = RedirectResponse(url, status_code=303)
    assert ctx.sso_cookies is not None
    response.set_cookie(
        cookie,
        ctx.sso_cookies.seal(state),
        max_age=SSO_SECONDS,
        path="/sso/",
        secure=ctx.secure_cookies,
        httponly=True,
        samesite=samesite,
    )
    return response


@page("GET", LOGIN_PATH, None)
async def sso_login(request: Request, next: str = "/") -> Response:
    ctx = web_context(request)
    client = _client(request)
    attempt = await begin_sign_in(request, next)
    if isinstance(attempt, Response):
        return attempt
    try:
        url = await client.authorization_url(
            redirect_uri=base_url(request, ctx.sign_in) + CALLBACK_PATH,
            state=attempt.state,
            nonce=attempt.nonce,
            verifier=attempt.verifier,
        )
    except OidcError as exc:
        return render(request, "error.html", {"message": f"Single sign-on: {exc}"}, status=502)
    # lax: the cookie is sent on the provider's top-level redirect back
    return to_provider(request, url, SSO_COOKIE, attempt.state, samesite="lax")


@page("GET", CALLBACK_PATH, None)
async def sso_callback(
    request: Request, state: str = "", code: str = "", error: str = ""
) -> Response:
    ctx = web_context(request)
    client = _client(request)
    policy = ctx.sign_in
    if error:
        return await refuse(
            request,
            f"the provider answered {error[:100]}",
            f"The identity provider did not sign you in ({error[:100]}).",
        )
    assert ctx.sso_cookies is not None
    began = ctx.sso_cookies.open(request.cookies.get(SSO_COOKIE), SSO_SECONDS)
    if not state or began is None or not hmac.compare_digest(began.encode(), state.encode()):
        return await refuse(
            request,
            "state does not match this browser's attempt",
            "This sign-in did not start in this browser, or took too long: sign in again.",
            status=400,
        )

    def consume() -> sso.Attempt | None:
        with ctx.store.db.transaction() as db:
            return sso.consume_attempt(db, ctx.clock, state)

    attempt = await run_in_threadpool(consume)
    if attempt is None:
        return await refuse(
            request,
            "state unknown, already used or expired (replay?)",
            "This sign-in was already used or has expired: sign in again.",
            status=400,
        )
    try:
        id_token = await client.exchange(
            code=code[:2000],
            redirect_uri=base_url(request, policy) + CALLBACK_PATH,
            verifier=attempt.verifier,
        )
        claims = await client.verify_id_token(
            id_token, nonce=attempt.nonce, now=ctx.clock.now().timestamp()
        )
    except OidcError as exc:
        return await refuse(request, str(exc), f"Single sign-on failed: {exc}.")
    address, agent = client_address(request), request.headers.get("user-agent")

    def sign_in() -> sso.SsoOutcome:
        with ctx.store.db.transaction() as db:  # committed whatever the outcome
            return sso.sign_in(
                db,
                ctx.clock,
                issuer=client.issuer,
                claims=claims,
                role_map=policy.role_map,
                groups_claim=policy.groups_claim,
                address=address,
                user_agent=agent,
                id_token=id_token,
            )

    outcome = await run_in_threadpool(sign_in)
    return finish(request, outcome, attempt.next_path)
