"""Single sign-on through a SAML 2.0 identity provider (kit/saml.py): ``/sso/saml/login``
sends the browser there with an AuthnRequest, the provider posts its answer to
``/sso/saml/acs``, ``/sso/saml/metadata`` describes shelfware to the provider.

The sign-in is bound three ways to the attempt that began it (accounts/sso.py, the same rows
as OpenID Connect's): a sealed cookie of its own purpose holds the attempt's state (the answer
comes back to the browser that began it: no login CSRF; ``SameSite=None``, since the provider
posts from its own site), RelayState carries that state, and the answer's InResponseTo must
be the attempt's AuthnRequest ID (the row is deleted when used). The assertion's ID is
remembered until it expires: the same answer posted twice is refused. The ACS takes no CSRF
token (the provider's page posts it); these bindings stand in for one.
"""

from __future__ import annotations

import hmac

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts import sso
from shelfware.kit.saml import SamlError, SamlServiceProvider
from shelfware.web.context import web_context
from shelfware.web.pages.auth import client_address
from shelfware.web.pages.sso import base_url, begin_sign_in, finish, refuse, to_provider
from shelfware.web.routing import Refused, page
from shelfware.web.security import SSO_SECONDS
from shelfware.web.templating import render

LOGIN_PATH = "/sso/saml/login"
ACS_PATH = "/sso/saml/acs"
METADATA_PATH = "/sso/saml/metadata"
SAML_COOKIE = "shelfware_saml"


def _provider(request: Request) -> SamlServiceProvider:
    provider = web_context(request).sign_in.saml
    if provider is None:
        raise Refused(404, "SAML sign-in is not configured (SHELFWARE_SAML_IDP_METADATA_URL).")
    return provider


def _acs_url(request: Request) -> str:
    return base_url(request, web_context(request).sign_in) + ACS_PATH


@page("GET", METADATA_PATH, None)
async def saml_metadata(request: Request) -> Response:
    provider = _provider(request)
    try:
        xml = await run_in_threadpool(provider.metadata_xml, _acs_url(request))
    except SamlError as exc:
        return render(request, "error.html", {"message": f"SAML: {exc}"}, status=500)
    return Response(xml, media_type="application/samlmetadata+xml")


@page("GET", LOGIN_PATH, None)
async def saml_login(request: Request, next: str = "/") -> Response:
    provider = _provider(request)
    attempt = await begin_sign_in(request, next)
    if isinstance(attempt, Response):
        return attempt
    try:
        url = await provider.login_url(
            acs_url=_acs_url(request),
            request_id=sso.saml_request_id(attempt.state),
            relay_state=attempt.state,
        )
    except SamlError as exc:
        return render(request, "error.html", {"message": f"Single sign-on: {exc}"}, status=502)
    # none: the provider's page posts the answer from its own site
    return to_provider(request, url, SAML_COOKIE, attempt.state, samesite="none")


@page("POST", ACS_PATH, None, csrf=False)
async def saml_acs(request: Request) -> Response:
    ctx = web_context(request)
    provider = _provider(request)
    policy = ctx.sign_in
    form = await request.form()  # the web body limit bounds it
    answer = str(form.get("SAMLResponse", ""))
    relay_state = str(form.get("RelayState", ""))[:200]
    assert ctx.sso_cookies is not None
    began = ctx.sso_cookies.open(request.cookies.get(SAML_COOKIE), SSO_SECONDS)
    if (
        began is None
        or not relay_state
        or not hmac.compare_digest(began.encode(), relay_state.encode())
    ):
        return await refuse(
            request,
            "SAML RelayState does not match this browser's attempt",
            "This sign-in did not start in this browser, or took too long: sign in again.",
            status=400,
            cookie=SAML_COOKIE,
        )
    try:
        identity = await provider.verify(
            answer,
            acs_url=_acs_url(request),
            request_id=sso.saml_request_id(began),
            now=ctx.clock.now().timestamp(),
        )
    except SamlError as exc:
        return await refuse(request, str(exc), f"Single sign-on failed: {exc}.", cookie=SAML_COOKIE)
    address, agent = client_address(request), request.headers.get("user-agent")

    def sign_in() -> tuple[str | None, sso.SsoOutcome | None, str]:
        with ctx.store.db.transaction() as db:  # committed whatever the outcome
            if not sso.remember_assertion(
                db,
                ctx.clock,
                issuer=identity.issuer,
                assertion_id=identity.assertion_id,
                expires_at=identity.expires_at,
            ):
                return "the SAML assertion was already used (replay)", None, "/"
            attempt = sso.consume_attempt(db, ctx.clock, began)
            if attempt is None:
                return "SAML request unknown, already used or expired (replay?)", None, "/"
            outcome = sso.sign_in(
                db,
                ctx.clock,
                issuer=identity.issuer,
                claims=identity.claims(
                    groups_attribute=policy.saml_groups_attribute,
                    email_attribute=policy.saml_email_attribute,
                ),
                role_map=policy.role_map,
                groups_claim=policy.saml_groups_attribute,
                address=address,
                user_agent=agent,
            )
            return None, outcome, attempt.next_path

    reason, outcome, next_path = await run_in_threadpool(sign_in)
    if outcome is None:
        return await refuse(
            request,
            reason or "refused",
            "This sign-in was already used or has expired: sign in again.",
            status=400,
            cookie=SAML_COOKIE,
        )
    return finish(request, outcome, next_path, cookie=SAML_COOKIE)
