"""Vendor sandboxes: local emulators of the vendors' admin APIs over synthetic organisations.

``SANDBOXES`` maps a vendor name to a builder
``(users, seed, now, latency_ms, faults) -> (asgi_app, organisation)``; the organisation has
``.users`` and ``.api_key``. A profile's connection URL is ``{server.url}{PROFILE_PATHS[vendor]}``
(for Rally ``/slm/webservice``, the connector appends ``/v2.0``; for Okta the server root).
"""

from __future__ import annotations

from collections.abc import Callable, Sized
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from starlette.applications import Starlette

from .faults import FaultSpec, parse_faults
from .org import Organisation, SyntheticUser, generate_org
from .server import RunningServer, serve_forever, serve_in_thread

if TYPE_CHECKING:
    from .okta_org import OktaOrg


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


def build_okta(
    users: int, seed: int, now: datetime, latency_ms: float, faults: FaultSpec
) -> tuple[Starlette, OktaOrg]:
    """The Okta Management API sandbox over a generated organisation."""
    from .okta import create_okta_app
    from .okta_org import generate_okta_org

    org = generate_okta_org(users, seed, now)
    return create_okta_app(org, faults, latency_ms), org


SANDBOXES: dict[str, SandboxBuilder] = {"rally": build_rally, "okta": build_okta}
PROFILE_PATHS: dict[str, str] = {"rally": "/slm/webservice", "okta": ""}

__all__ = [
    "PROFILE_PATHS",
    "SANDBOXES",
    "FaultSpec",
    "Organisation",
    "RunningServer",
    "SandboxBuilder",
    "SandboxOrg",
    "SyntheticUser",
    "build_okta",
    "build_rally",
    "generate_org",
    "parse_faults",
    "serve_forever",
    "serve_in_thread",
]
