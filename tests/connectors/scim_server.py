"""A real third-party SCIM 2.0 server for the tests: `scim2-server` (python-scim's reference
server, from PyPI) started as a subprocess on a free loopback port, seeded through its own API."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ScimServer:
    url: str
    token: str
    seeded: dict[str, bool] = field(default_factory=dict)  # id -> active

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )

    def active_flags(self) -> dict[str, bool]:
        with self.client() as http:
            body = http.get("/Users", params={"count": 1000}).json()
        return {r["id"]: bool(r.get("active", True)) for r in body.get("Resources", [])}


def _command() -> list[str]:
    found = shutil.which("scim2-server") or str(Path(sys.executable).parent / "scim2-server")
    return [found]


@contextlib.contextmanager
def running_scim_server(users: int = 50, inactive_every: int = 0) -> Iterator[ScimServer]:
    port = _free_port()
    token = "scim-" + secrets.token_urlsafe(16)
    process = subprocess.Popen(
        [*_command(), "--port", str(port), "--bearer-token", token],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = ScimServer(f"http://127.0.0.1:{port}", token)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with server.client() as http:
                    if http.get("/ServiceProviderConfig").status_code == 200:
                        break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("scim2-server did not start")
            time.sleep(0.05)
        with server.client() as http:
            for i in range(users):
                active = not (inactive_every and i % inactive_every == 0)
                body = {
                    "schemas": [SCIM_USER],
                    "userName": f"user{i:03d}",
                    "name": {"givenName": f"Given{i}", "familyName": f"Family{i}"},
                    "emails": [{"value": f"user{i:03d}@example.com", "primary": True}],
                    "active": active,
                }
                if i == 1:
                    body["roles"] = [{"value": "admin"}]
                created = http.post(
                    "/Users", json=body, headers={"Content-Type": "application/scim+json"}
                )
                created.raise_for_status()
                server.seeded[created.json()["id"]] = active
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
