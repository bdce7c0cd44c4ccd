"""`shelfware sandbox google` never prints the service account's key (it holds a private key):
it writes the key file with mode 0600 under the home and prints where. A real process: the
command serves until stopped, so it runs as a subprocess and is terminated once it answers."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_key_goes_to_a_private_file_not_the_console(tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "home"
    env = {
        **os.environ,
        "SHELFWARE_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "400",
    }
    command = ["sandbox", "google", "--users", "3", "--port", str(port)]
    process = subprocess.Popen(
        [sys.executable, "-c", "from shelfware.cli.main import main; main()", *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                time.sleep(0.2)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    where = home / "sandbox" / f"{port}-google-service-account.json"
    assert "PRIVATE KEY" not in output and "private_key" not in output
    assert str(where) in output.replace("\n", "")
    key = json.loads(where.read_text())
    assert key["type"] == "service_account" and "PRIVATE KEY" in key["private_key"]
    assert stat.S_IMODE(where.stat().st_mode) == 0o600
    assert stat.S_IMODE(where.parent.stat().st_mode) == 0o700
