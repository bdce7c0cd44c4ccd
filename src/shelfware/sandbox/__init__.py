"""Vendor sandboxes: local emulators of the vendors' admin APIs over synthetic organisations.

``SANDBOXES`` maps a vendor name to a builder
``(users, seed, now, latency_ms, faults) -> (asgi_app, organisation)``; the organisation has
``.users`` and ``.api_key``. A profile's connection URL is ``{server.url}{PROFILE_PATHS[vendor]}``
(for Rally ``/slm/webservice``, the connector appends ``/v2.0``; for Okta the server root). A
Roadmunk sandbox serves one region's gateway (``build_roadmunk(..., region="eu")``). The Slack
sandbox is the Web API of a workspace whose members are the synthetic organisation's people
(same seed): ``SHELFWARE_SLACK_API_URL={server.url}/api/`` and its bot token as
``SHELFWARE_SLACK_BOT_TOKEN``.
"""

from __future__ import annotations

from collections.abc import Callable, Sized
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from starlette.applications import Starlette

from .asana_org import AsanaOrganisation, generate_asana_org
from .faults import FaultSpec, parse_faults
from .org import Organisation, SyntheticUser, generate_org
from .server import RunningServer, serve_forever, serve_in_thread

if TYPE_CHECKING:
    from .google import GoogleDomain
    from .microsoft365 import M365Tenant
    from .okta_org import OktaOrg
    from .slack import SlackWorkspace


class SandboxOrg(Protocol):
    """What every sandbox organisation offers: its users and the API credential."""

    @property
    def users(self) -> Sized: ...

    @property
    def api_key(self) -> str: ...


SandboxBuilder = Callable[[int, int, datetime, float, FaultSpec], tuple[Starlette, SandboxOrg]]


def build_rally(
    users: int, seed: int, now: datetime, latency_ms: float, faults: FaultSpec
) -> tuple[Starlette, Organisation]:
    """The Rally WSAPI sandbox over a generated organisation."""
    from .rally import create_rally_app

    org = generate_org(users, seed, now)
    return create_rally_app(org, faults, latency_ms), org


def build_scim(
    users: int, seed: int, now: datetime, latency_ms: float, faults: FaultSpec
) -> tuple[Starlette, Organisation]:
    """A SCIM 2.0 service provider over a generated organisation (bearer token: `api_key`)."""
    from .scim import create_scim_app

    org = generate_org(users, seed, now)
    return create_scim_app(org, faults, latency_ms), org


def build_roadmunk(
    users: int,
    seed: int,
    now: datetime,
    latency_ms: float,
    faults: FaultSpec,
    region: str = "app",
) -> tuple[Starlette, Organisation]:
    """The Roadmunk GraphQL gateway of one region (``app``, ``eu``, ``apac``), with its report."""
    from .roadmunk import create_roadmunk_app, generate_roadmunk_org

    org = generate_roadmunk_org(users, seed, now, region)
    return create_roadmunk_app(org, faults, latency_ms), org


def build_acme(
    users: int, seed: int, now: datetime, latency_ms: float, faults: FaultSpec
) -> tuple[Starlette, Organisation]:
    """Acme, an API no built-in connector knows (for custom profiles); key in ``X-Acme-Key``."""
    from .acme import create_acme_app, generate_acme_org

    org = generate_acme_org(users, seed, now)
    return create_acme_app(org, faults, latency_ms), org


def build_asana(
    users: int, seed: int, now: datetime, latency_ms: float, faults: FaultSpec
) -> tuple[Starlette, AsanaOrganisation]:
    """The Asana REST API sandbox over a generated organisation (``api_key``: the owner's PAT)."""
    from .asana import create_asana_app

    org = generate_asana_org(users, seed, now)
    return create_asana_app(org, faults, latency_ms), org


def build_okta(
    users: int, seed: int, now: datetime, latency_ms: float, faults: FaultSpec
) -> tuple[Starlette, OktaOrg]:
    """The Okta Management API sandbox over a generated organisation."""
    from .okta import create_okta_app
    from .okta_org import generate_okta_org

    org = generate_okta_org(users, seed, now)
    return create_okta_app(org, faults, latency_ms), org


def build_slack(
    users: int, seed: int, now: datetime, latency_ms: float, faults: FaultSpec
) -> tuple[Starlette, SlackWorkspace]:
    """The Slack Web API (direct messages) over a workspace of the organisation's people;
    ``api_key``: the bot token (xoxb-...)."""
    from .slack import create_slack_app, generate_workspace

    workspace = generate_workspace(users, seed, now)
    return create_slack_app(workspace, faults, latency_ms), workspace


def build_microsoft365(
    users: int, seed: int, now: datetime, latency_ms: float, faults: FaultSpec
) -> tuple[Starlette, M365Tenant]:
    """Microsoft 365 (Graph v1.0 and the token endpoint) over a generated tenant; the profile's
    URL is ``{server}/v1.0``, its ``authority`` option the server's root."""
    from .microsoft365 import create_m365_app, generate_tenant

    tenant = generate_tenant(users, seed, now)
    return create_m365_app(tenant, faults, latency_ms), tenant


def build_google(
    users: int, seed: int, now: datetime, latency_ms: float, faults: FaultSpec
) -> tuple[Starlette, GoogleDomain]:
    """Google Workspace (token endpoint, Directory, Enterprise License Manager) over a generated
    domain; the profile's URL is the server, its ``token_uri`` option ``{server}/token``."""
    from .google import create_google_app, generate_domain

    domain = generate_domain(users, seed, now)
    return create_google_app(domain, faults, latency_ms), domain


SANDBOXES: dict[str, SandboxBuilder] = {
    "rally": build_rally,
    "okta": build_okta,
    "asana": build_asana,
    "scim": build_scim,
    "roadmunk": build_roadmunk,
    "acme": build_acme,
    "slack": build_slack,
    "microsoft365": build_microsoft365,
    "google": build_google,
}
# Where a profile's connection URL points on a running sandbox: server URL + this path.
PROFILE_PATHS: dict[str, str] = {
    "rally": "/slm/webservice",
    "okta": "",
    "asana": "",
    "scim": "/scim/v2",
    "roadmunk": "",
    "acme": "",
    "slack": "/api/",
    "microsoft365": "/v1.0",
    "google": "",
}

__all__ = [
    "PROFILE_PATHS",
    "SANDBOXES",
    "FaultSpec",
    "Organisation",
    "RunningServer",
    "SandboxBuilder",
    "SandboxOrg",
    "SyntheticUser",
    "build_acme",
    "build_asana",
    "build_google",
    "build_microsoft365",
    "build_okta",
    "build_rally",
    "build_roadmunk",
    "build_scim",
    "build_slack",
    "generate_org",
    "parse_faults",
    "serve_forever",
    "serve_in_thread",
]
