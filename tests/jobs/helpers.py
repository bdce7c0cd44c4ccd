"""Following a job to its end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


def wait_for_job(
    get: Callable[[str], httpx.Response], job_id: int, timeout: float = 30.0
) -> dict[str, Any]:
    """Poll ``/jobs/{id}`` until the job is done or failed; its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = get(f"/jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        if job["state"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)
