"""Fixtures for the sandbox tests: a fixed clock, sandboxes served over loopback, TLS material."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import trustme

from shelfware.sandbox import FaultSpec, generate_org, serve_in_thread
from shelfware.sandbox.org import Organisation
from shelfware.sandbox.rally import WEBSERVICE, RallySandbox, create_rally_app

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class RallyServer:
    org: Organisation
    sandbox: RallySandbox
    url: str  # the server root, e.g. http://127.0.0.1:54321

    @property
    def api(self) -> str:
        return self.url + WEBSERVICE

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"ZSESSIONID": self.org.api_key if key is None else key}
        return httpx.Client(base_url=self.api, headers=headers, timeout=10)


StartRally = Callable[..., RallyServer]


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def start_rally() -> Iterator[StartRally]:
    """Start Rally sandboxes (stopped at teardown): ``start_rally(users=300, seed=1, ...)``."""
    running = []

    def start(
        users: int = 300,
        seed: int = 1,
        faults: FaultSpec | None = None,
        latency_ms: float = 0,
        ssl: tuple[str, str] | None = None,
    ) -> RallyServer:
        org = generate_org(users, seed, NOW)
        app = create_rally_app(org, faults or FaultSpec(), latency_ms)
        cert, key = ssl or (None, None)
        server = serve_in_thread(app, ssl_certfile=cert, ssl_keyfile=key)
        running.append(server)
        return RallyServer(org, app.state.sandbox, server.url)

    yield start
    for server in running:
        server.stop()


@pytest.fixture(scope="module")
def big_rally() -> Iterator[RallyServer]:
    """A read-only 5,000-user sandbox shared by a module's paging tests."""
    org = generate_org(5000, 11, NOW)
    app = create_rally_app(org)
    with serve_in_thread(app) as server:
        yield RallyServer(org, app.state.sandbox, server.url)


@dataclass
class Tls:
    cert: str
    key: str
    ca: str


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A throwaway CA and a loopback certificate (trustme)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    d: Path = tmp_path_factory.mktemp("tls")
    cert.private_key_and_cert_chain_pem.write_to_path(d / "cert.pem")
    cert.private_key_pem.write_to_path(d / "key.pem")
    ca.cert_pem.write_to_path(d / "ca.pem")
    return Tls(str(d / "cert.pem"), str(d / "key.pem"), str(d / "ca.pem"))
