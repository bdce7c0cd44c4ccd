"""What every page needs: the store, the clock, the session sealer, who is signed in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from shelfware.accounts.roles import Permission, Role, allows
from shelfware.accounts.sessions import DEFAULT_LIMITS, SignInLimits
from shelfware.appstate import Workspace
from shelfware.kit.clock import Clock
from shelfware.kit.oidc import OidcClient
from shelfware.kit.proxies import Network
from shelfware.kit.saml import SamlServiceProvider
from shelfware.store import Store
from shelfware.web.security import CookieSealer, SessionSealer, WebSession


@dataclass(frozen=True)
class Viewer:
    """The signed-in person (never their password hash)."""

    user_id: int
    username: str
    role: str

    def can(self, permission: Permission | str) -> bool:
        return allows(self.role, Permission(permission))


@dataclass(frozen=True)
class SignInPolicy:
    """How people sign in: single sign-on through an OpenID provider (``oidc``) or a SAML
    identity provider (``saml``), local passwords (off: only the ``break_glass`` names), and
    what the provider's groups mean."""

    oidc: OidcClient | None = None
    name: str = "single sign-on"  # "Sign in with <name>"
    role_map: dict[str, Role] = field(default_factory=dict)
    groups_claim: str = "groups"
    saml: SamlServiceProvider | None = None
    saml_name: str = "SAML single sign-on"
    saml_groups_attribute: str = "groups"
    saml_email_attribute: str = "email"
    local_login: bool = True
    break_glass: frozenset[str] = frozenset()
    # the address the provider sends people back to (SHELFWARE_PUBLIC_URL when set; None:
    # the request's own)
    public_url: str | None = None


@dataclass
class WebContext:
    workspace: Workspace
    store: Store
    clock: Clock
    sealer: SessionSealer
    flashes: CookieSealer
    limits: SignInLimits = DEFAULT_LIMITS
    trusted_proxies: tuple[Network, ...] = ()
    secure_cookies: bool = True
    sign_in: SignInPolicy = field(default_factory=SignInPolicy)
    sso_cookies: CookieSealer | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    dashboard: dict[str, Any] = field(default_factory=dict)
    # what to do after a change (install_web: recount the dashboard's figures)
    on_change: Callable[[WebContext], Coroutine[Any, Any, None]] | None = None

    def spawn(self, job: Any) -> None:
        """Run a coroutine in the background (a sync), keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(job)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def changed(self) -> None:
        """Data may have changed: let what depends on it catch up, in the background."""
        if self.on_change is not None:
            self.spawn(self.on_change(self))


def web_context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.web
    return ctx


def viewer_of(request: Request) -> Viewer:
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    if viewer is None:  # only public routes lack one, and they never ask
        raise RuntimeError("no signed-in viewer on this request")
    return viewer


def session_of(request: Request) -> WebSession | None:
    session: WebSession | None = getattr(request.state, "web_session", None)
    return session
