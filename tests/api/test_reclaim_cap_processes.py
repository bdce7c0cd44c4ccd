"""The reclaim cap holds across processes: two `shelfware serve` processes over one store,
sent one-seat reclaims at the same time from several threads, reclaim exactly what the window
allows between them (the count is the database's, not a process's)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from shelfware.accounts.roles import Role
from shelfware.reclamation.service import list_candidates
from shelfware.sync.service import sync_profile
from tests.api.conftest import BASE, Api
from tests.helpers import published_rally
from tests.web.test_sessions import serving

pytestmark = pytest.mark.store


async def test_two_serve_processes_at_once_reclaim_only_the_window(
    api: Api, rally_factory: Any, tmp_path: Path
) -> None:
    sandbox = rally_factory(users=600, seed=5)  # 10% of 600 seats is 60: the 50 accounts bind
    await published_rally(api.db, api.keys, api.clock, sandbox.url, sandbox.org.api_key)
    await sync_profile(api.db, api.keys, api.clock, "rally")
    with api.db.sessions() as session:
        ready = [c.id for c in list_candidates(session, state="ready")][:60]
    assert len(ready) == 60
    before = sum(1 for u in sandbox.org.users if u.disabled)
    url = api.db.engine.url.render_as_string(hide_password=False)
    keys = ",".join(k.decode() for k in api.keys.keys)
    headers = api.auth(Role.SAM_MANAGER)
    with serving(url, keys, tmp_path / "a") as first, serving(url, keys, tmp_path / "b") as second:
        bases = (first, second)

        def reclaim(n: int) -> httpx.Response:
            base = bases[n % 2] + BASE
            return httpx.post(f"{base}/candidates/{ready[n]}/reclaim", headers=headers, timeout=60)

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(reclaim, range(len(ready))))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 50 + [422] * 10, [r.text for r in answers if r.status_code >= 400][:2]
    refused = [r.json()["error"]["message"] for r in answers if r.status_code == 422]
    assert all("already reclaimed" in message for message in refused), refused[:1]
    assert sum(1 for u in sandbox.org.users if u.disabled) == before + 50
