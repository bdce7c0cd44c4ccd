"""Vendor sandboxes: local emulators of the vendors' admin APIs over synthetic organisations.

``SANDBOXES`` maps a vendor name to a builder
``(users, seed, now, latency_ms, faults) -> (asgi_app, organisation)``. For Rally, a profile's
connection URL is ``{server.url}/slm/webservice`` (the connector appends ``/v2.0``).
``PROFILE_PATHS`` gives, per vendor, the path a profile's URL adds to the server root.
"""

from __future__ import annotations

from collections.abc import Callable, Sized
from datetime import datetime
from typing import Protocol

from starlette.applications import Starlette

from .asana_org import AsanaOrganisation, generate_asana_org
from .faults import FaultSpec, parse_faults
from .org import Organisation, SyntheticUser, generate_org
from .server import RunningServer, serve_forever, serve_in_thread


class SandboxOrg(Protocol):
    """What every sandbox's organisation offers: its users and an API key for a profile."""

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


def build_asana(
    users: int, seed: int, now: datetime, latency_ms: float, faults: FaultSpec
) -> tuple[Starlette, AsanaOrganisation]:
    """The Asana REST API sandbox over a generated organisation (``api_key``: the owner's PAT)."""
    from .asana import create_asana_app

    org = generate_asana_org(users, seed, now)
    return create_asana_app(org, faults, latency_ms), org


SANDBOXES: dict[str, SandboxBuilder] = {"rally": build_rally, "asana": build_asana}
PROFILE_PATHS: dict[str, str] = {"rally": "/slm/webservice", "asana": ""}

__all__ = [
    "PROFILE_PATHS",
    "SANDBOXES",
    "FaultSpec",
    "Organisation",
    "RunningServer",
    "SandboxBuilder",
    "SandboxOrg",
    "SyntheticUser",
    "build_asana",
    "build_rally",
    "generate_org",
    "parse_faults",
    "serve_forever",
    "serve_in_thread",
]
