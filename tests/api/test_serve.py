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


def start_serve(home: Path, role: str, *options: str) -> tuple[str, int, subprocess.Popen[bytes]]:
    """A token of ``role`` made by the CLI, and ``shelfware serve`` on a free port."""
    made = invoke(home, "tokens", "create", "ci", "--role", role)
    token = made.stdout.strip().splitlines()[-1]
    port = free_port()
    env = {**os.environ, "SHELFWARE_HOME": str(home)}
    env.pop("SHELFWARE_DATABASE_URL", None)
    env.pop("SHELFWARE_SECRET_KEYS", None)
    script = "from shelfware.cli.main import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", script, "serve", "--port", str(port), *options],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return token, port, process


def test_serve_answers_with_a_cli_made_token(home: Path) -> None:
    token, port, process = start_serve(home, "viewer")
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


def children(pid: int) -> list[int]:
    """The worker processes ``pid`` started (not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
    return found


def test_serve_with_workers_answers_from_several_processes(home: Path) -> None:
    """``--workers 2``: two worker processes under one supervisor share the port; a token
    made by the CLI and a session made by one process hold in the other (both are in the
    database), and SIGTERM stops them all."""
    token, port, process = start_serve(home, "admin", "--workers", "2")
    workers: list[int] = []
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 180  # two processes importing the app on a busy machine
        while len(workers) < 2 or not _answers(base):
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "shelfware serve --workers 2 did not start"
            time.sleep(0.2)
            workers = children(process.pid)
        auth = {"Authorization": f"Bearer {token}"}
        # a new connection each time: the kernel hands them to either process
        for n in range(20):
            made_now = httpx.post(
                f"{base}/tokens", json={"name": f"t{n}", "role": "viewer"}, headers=auth
            )
            assert made_now.status_code == 201, made_now.text
            other = made_now.json()["token"]
            me = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {other}"})
            assert me.status_code == 200 and me.json()["name"] == f"t{n}"
        assert len(children(process.pid)) == 2
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _state(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
