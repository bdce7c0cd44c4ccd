"""The whole app (API mounted at /api/v1) over the test database, with one API token per role,
reached in process (httpx over ASGI) or over real HTTP (uvicorn on loopback)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Role
from shelfware.accounts.schemas import TokenCreate
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.serve import create_app
from shelfware.settings import Settings
from shelfware.store import Store
from shelfware.sync.service import sync_profile
from tests.cli.conftest import home
from tests.helpers import published_rally

BASE = "/api/v1"
__all__ = ["home"]


@dataclass
class Api:
    app: FastAPI
    db: Database
    keys: KeyRing
    clock: FrozenClock
    tokens: dict[Role, str]

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def api(db: Database, keys: KeyRing, clock: FrozenClock) -> Api:
    with db.transaction() as session:
        tokens = {
            role: accounts.create_token(
                session, clock, TokenCreate(name=f"{role.value}-token", role=role)
            )[0]
            for role in Role
        }
    app = create_app(store=Store(db=db, keys=keys), clock=clock)
    return Api(app=app, db=db, keys=keys, clock=clock, tokens=tokens)


@pytest.fixture
async def client(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """In process, over ASGI."""
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://testserver{BASE}") as c:
        yield c


@pytest.fixture
def served(api: Api) -> Iterator[str]:
    """The app on a real uvicorn server on loopback: its API base URL."""
    from shelfware.sandbox.server import serve_in_thread

    with serve_in_thread(api.app) as server:
        yield f"{server.url}{BASE}"


def error_of(response: httpx.Response) -> dict[str, str]:
    """The one error body every refusal carries."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) <= {"code", "message", "field"}, body
    assert body["error"]["message"], body
    return dict(body["error"])


@dataclass
class Synced:
    """A published Rally sandbox profile, synced: seats, a rule, removal candidates."""

    sandbox: Any
    model: str = "Broadcom Rally Unlimited"


@pytest.fixture
async def synced(api: Api, rally_factory: Any) -> Synced:
    sandbox = rally_factory(users=60, seed=11)
    await published_rally(api.db, api.keys, api.clock, sandbox.url, sandbox.org.api_key)
    await sync_profile(api.db, api.keys, api.clock, "rally")
    return Synced(sandbox)


def use_settings(api: Api, **values: Any) -> Settings:
    """The configuration the API reads (reclaim cap, notification channels)."""
    settings = Settings(**values)
    api.app.state.workspace.extras["settings"] = settings
    return settings
