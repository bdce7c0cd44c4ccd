"""`shelfware serve` in its own process: the API answers on the port it was given, with the
users and tokens made by the CLI, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.cli.conftest import invoke


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_with_a_cli_made_token(home: Path) -> None:
    made = invoke(home, "tokens", "create", "ci", "--role", "viewer")
    token = made.stdout.strip().splitlines()[-1]
    port = free_port()
    env = {**os.environ, "SHELFWARE_HOME": str(home)}
    env.pop("SHELFWARE_DATABASE_URL", None)
    env.pop("SHELFWARE_SECRET_KEYS", None)
    script = "from shelfware.cli.main import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", script, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 30
        while True:
            try:
                document = httpx.get(f"{base}/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "shelfware serve did not start"
                time.sleep(0.1)
        assert document.json()["info"]["title"] == "shelfware API"
        me = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert me.status_code == 200 and me.json()["name"] == "ci"
        profiles = httpx.get(f"{base}/profiles", headers={"Authorization": f"Bearer {token}"})
        assert [p["name"] for p in profiles.json()] == ["rally-main"]
        assert "server" not in me.headers
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
