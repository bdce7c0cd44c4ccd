"""Steps the browser tests share, written to hold on a busy machine (CI runs two test workers
beside Chromium on two cores).

- An action that loads a new page (a form's submit, a link) is done through :func:`submit`,
  which returns once that page has loaded: reading right after a plain click can read the page
  before it, which still has a heading, a notice or the very element looked for.
- :func:`shot` keeps a screenshot of the page under ``test-artifacts/web/``.
- :func:`until` polls a condition from Python: ``page.wait_for_function`` polls with eval, which
  the workspace's CSP (no 'unsafe-eval') refuses whenever the first check is not yet true.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Where screenshots are kept (CI keeps them as artifacts).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"

#: How long a page may take to load or a condition to hold on a loaded machine (ms / s).
LOAD_MS = 60_000
WAIT_SECONDS = 60.0


def submit(page: Any, target: Any = None, *, key: str | None = None) -> None:
    """Click ``target`` (a selector or a locator), or press ``key`` on the focused element, and
    wait for the page it loads to have loaded."""
    assert (target is None) != (key is None), "a target or a key, not both"
    with page.expect_navigation(timeout=LOAD_MS):
        if key is not None:
            page.keyboard.press(key)
        elif isinstance(target, str):
            page.click(target)
        else:
            target.click()


def until(page: Any, done: Callable[[], bool], seconds: float = WAIT_SECONDS) -> None:
    """Poll ``done()`` every 100 ms until it holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"timed out after {seconds:.0f} s waiting for the page"
        page.wait_for_timeout(100)


def shot(page: Any, name: str) -> None:
    """Keep a full-page screenshot as ``test-artifacts/web/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
