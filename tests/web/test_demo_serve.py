"""`shelfware demo --serve` (what `make demo` runs) ends with the workspace up over the demo
data, and the sign-in it prints works."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SIGN_IN = re.compile(r"Sign in as (\S+) with password (\S+) ")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_serves_the_workspace_and_prints_how_to_sign_in(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SHELFWARE_HOME": str(tmp_path / "home"),
        "COLUMNS": "200",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("SHELFWARE_DATABASE_URL", None)
    env.pop("SHELFWARE_SECRET_KEYS", None)
    demo = subprocess.Popen(
        [
            *(sys.executable, "-m", "shelfware.cli.main", "demo", "--users", "60"),
            *("--serve", "--port", str(port)),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        said = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not SIGN_IN.search(said):
            line = demo.stdout.readline()
            if not line:
                break
            said += line
        found = SIGN_IN.search(said)
        assert found, said
        assert f"http://127.0.0.1:{port}" in said
        user, password = found.groups()
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                visit = httpx.get(base + "/sign-in", timeout=5)
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        token = visit.text.split('name="csrf-token" content="')[1].split('"')[0]
        cookies = {"shelfware_session": visit.cookies["shelfware_session"]}  # Secure: by hand
        signed = httpx.post(
            base + "/sign-in",
            data={"username": user, "password": password, "csrf_token": token},
            cookies=cookies,
        )
        assert signed.status_code == 303, signed.text
        board = httpx.get(
            base + "/", cookies={"shelfware_session": signed.cookies["shelfware_session"]}
        )
        assert board.status_code == 200
        assert re.search(r'id="m-subscriptions">\s*[1-9]', board.text)
    finally:
        demo.terminate()
        demo.wait(timeout=20)
