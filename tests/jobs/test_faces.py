"""The faces over jobs: the API queues a sync (202) and follows it; a second one while the
first is queued is a 409 naming it; `shelfware jobs run-due` runs one tick for cron users and
`shelfware jobs list --json` shows the outcome; `shelfware serve`'s app starts its worker
threads and its tick with its lifespan and stops them with it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Role
from shelfware.accounts.schemas import UserCreate
from shelfware.jobs import queue
from shelfware.jobs.backend import EmbeddedBackend
from shelfware.jobs.runner import JobContext
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.serve import create_app
from shelfware.settings import Settings
from shelfware.store import Store
from tests.api.conftest import Api, api, error_of
from tests.cli.conftest import invoke
from tests.jobs.conftest import Rally, database_url
from tests.jobs.helpers import wait_for_job
from tests.web.conftest import PASSWORD, Web, signed_in

__all__ = ["api"]
pytestmark = pytest.mark.store


def test_sync_now_queues_and_the_job_can_be_followed(api: Api, rally: Rally) -> None:
    backend: EmbeddedBackend = api.app.state.workspace.extras["jobs"]
    backend._workers = 0  # nobody takes it yet: the second request meets it queued
    tc = TestClient(api.app, base_url="http://t/api/v1")  # no lifespan: no threads, no tick
    headers = api.auth(Role.SAM_INTEGRATOR)
    queued = tc.post("/profiles/rally/sync", headers=headers)
    assert queued.status_code == 202 and queued.json()["state"] == "queued", queued.text
    again = tc.post("/profiles/rally/sync", headers=headers)
    assert again.status_code == 409
    assert f"(job {queued.json()['id']})" in error_of(again)["message"]
    assert tc.get("/jobs/999", headers=headers).status_code == 404
    listed = tc.get("/jobs", params={"state": "queued"}, headers=headers).json()
    assert [j["id"] for j in listed] == [queued.json()["id"]]

    backend.drain()
    job = wait_for_job(lambda path: tc.get(path, headers=headers), queued.json()["id"])
    assert job["state"] == "done" and job["result"]["status"] == "succeeded", job


def test_a_draft_is_refused_before_anything_is_queued(api: Api, rally: Rally) -> None:
    data = ProfileCreate(
        kind="rally", name="draft", url=rally.sandbox.url, secrets={"api_key": "k"}
    )
    with api.db.transaction() as session:
        profiles.create_profile(session, api.keys, api.clock, data)
    tc = TestClient(api.app, base_url="http://t/api/v1")
    refused = tc.post("/profiles/draft/sync", headers=api.auth(Role.SAM_INTEGRATOR))
    assert refused.status_code == 409 and "draft" in error_of(refused)["message"]
    assert tc.post("/profiles/nothing/sync", headers=api.auth(Role.ADMIN)).status_code == 404
    assert tc.get("/jobs", headers=api.auth(Role.VIEWER)).json() == []


def test_serve_starts_and_stops_its_workers_and_tick(ctx: JobContext, rally: Rally) -> None:
    settings = Settings(jobs_tick_seconds=0.2)
    app = create_app(settings, store=Store(db=ctx.db, keys=ctx.keys), clock=ctx.clock)
    before = set(threading.enumerate())  # other tests' lingering workers may still be about
    with TestClient(app):
        names = [t.name for t in threading.enumerate() if t not in before]
        assert "jobs-tick" in names and names.count("jobs-worker") == settings.jobs_workers
        # the tick queues the published profile's first refresh, a worker runs it
        deadline = time.monotonic() + 30
        while True:
            with ctx.db.sessions() as session:
                jobs = {j.key: j for j in queue.list_jobs(session)}
            if jobs.get("sync:rally") and jobs["sync:rally"].state == "done":
                break
            assert time.monotonic() < deadline, jobs
            time.sleep(0.05)
    assert [t.name for t in threading.enumerate() if t not in before] == []


async def test_cli_run_due_and_list(
    ctx: JobContext, rally: Rally, secret_keys: str, tmp_path: Path
) -> None:
    env = {"SHELFWARE_DATABASE_URL": database_url(ctx.db), "SHELFWARE_SECRET_KEYS": secret_keys}
    ran = await asyncio.to_thread(invoke, tmp_path, "jobs", "run-due", "--json", env=env)
    assert ran.code == 0, ran
    report: dict[str, Any] = json.loads(ran.stdout)
    assert set(report["enqueued"]) == {"sync:rally", "reconcile", "advance"}
    assert sorted(report["ran"]) == sorted(report["enqueued"].values())
    listed = invoke(tmp_path, "jobs", "list", "--json", env=env)
    rows = json.loads(listed.stdout)
    assert {r["key"]: r["state"] for r in rows} == dict.fromkeys(report["enqueued"], "done")
    assert "secret" not in listed.stdout.lower() and secret_keys not in listed.stdout
    again = invoke(tmp_path, "jobs", "run-due", "--json", env=env)
    assert json.loads(again.stdout)["enqueued"] == {}  # nothing due within the hour
    bad = invoke(tmp_path, "jobs", "list", "--state", "lost", env=env)
    assert bad.code == 1 and "--state 'lost'" in bad.stderr


def test_the_workspace_sync_button_queues_and_the_history_shows_it(
    ctx: JobContext, rally: Rally
) -> None:

    with ctx.db.transaction() as session:
        accounts.create_user(
            session,
            ctx.clock,
            UserCreate(username="sam_integrator", password=PASSWORD, role=Role.SAM_INTEGRATOR),
        )
    store = Store(db=ctx.db, keys=ctx.keys)
    web = Web(app=create_app(store=store, clock=ctx.clock), store=store, clock=ctx.clock)
    backend: EmbeddedBackend = web.app.state.workspace.extras["jobs"]  # type: ignore[attr-defined]
    backend._workers = 0  # it stays queued until drained below
    client, token = signed_in(web, "sam_integrator")
    answer = client.post("/profiles/rally/sync", data={"csrf_token": token})
    assert answer.status_code == 303 and answer.headers["location"].startswith(
        "/runs?profile=rally"
    )
    history = client.get("/runs?profile=rally").text
    assert "queued-job" in history and "waiting for a worker" in history
    assert "No run yet." not in history
    again = client.post("/profiles/rally/sync", data={"csrf_token": token})
    assert again.headers["location"] == "/profiles/rally"  # refused: already queued
    [job_id] = backend.drain()
    history = client.get("/runs?profile=rally").text
    assert "queued-job" not in history and "succeeded" in history
    with ctx.db.sessions() as session:
        assert queue.get_job(session, job_id).actor == "web:sam_integrator"
