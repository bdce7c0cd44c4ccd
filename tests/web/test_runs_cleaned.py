"""The workspace's run views say what a sync cleaned in the vendor's values, per field."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shelfware.sync.service import sync_profile
from tests.helpers import published_rally
from tests.web.conftest import Web, signed_in

pytestmark = pytest.mark.store


def test_runs_pages_show_the_cleaning(web: Web, rally_factory: Any) -> None:
    sandbox = rally_factory(users=60, seed=11, faults="hostile=1")
    db, keys = web.store.db, web.store.keys
    asyncio.run(published_rally(db, keys, web.clock, sandbox.url, sandbox.org.api_key))
    asyncio.run(sync_profile(db, keys, web.clock, "rally"))
    client, _ = signed_in(web, "viewer")
    for path in ("/runs", "/runs?profile=rally", "/profiles/rally"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "<th>Cleaned</th>" in page.text, path
        assert "display_name.truncated 1" in page.text and "username.control 2" in page.text
        assert "last_activity_at.out_of_range 2" in page.text
