"""`shelfware jobs list|run-due` and `shelfware worker`."""

from __future__ import annotations

from typing import Annotated

import typer

from shelfware.cli import output
from shelfware.cli.context import clock, console, fail, settings, store
from shelfware.cli.subscriptions import JsonFlag
from shelfware.jobs import service as jobs

app = typer.Typer(help="Queued, running and finished jobs (syncs, reconciliation, workflow).")
STATES = ("queued", "running", "done", "failed")


@app.command("list")
def list_(
    state: Annotated[str | None, typer.Option(help="only this state: " + ", ".join(STATES))] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="at most this many")] = 100,
    json_: JsonFlag = False,
) -> None:
    """Jobs, newest first."""
    if state is not None and state not in STATES:
        fail(f"--state {state!r} is not one of {', '.join(STATES)}")
    with store() as st, st.db.sessions() as session:
        rows = jobs.list_jobs(session, state=state, limit=limit)
    if json_:
        output.print_json([r.model_dump() for r in rows])
        return
    output.table(
        "Jobs",
        [
            ("ID", "right"),
            "Kind",
            "Key",
            "State",
            ("Tries", "right"),
            "Queued",
            "Finished",
            "Error",
        ],
        [
            (r.id, r.kind, r.key, r.state, r.attempts, r.created_at, r.finished_at, r.error or "")
            for r in rows
        ],
    )


@app.command("run-due")
def run_due(json_: JsonFlag = False) -> None:
    """One schedule tick (for cron): queue what is due (daily refreshes, the weekly
    reconciliation, the workflow's step); with the embedded backend, run it here too."""
    with store() as st:
        report = jobs.run_due(st, clock(), settings())
    if json_:
        output.print_json(
            {
                "requeued": report.requeued,
                "resent": report.resent,
                "enqueued": report.enqueued,
                "ran": report.ran,
                "pruned": report.pruned,
                "held_by": report.held_by,
            }
        )
        return
    if report.held_by:
        console.print(
            f"Nothing done: {report.held_by} runs the schedule (its lease holds)", markup=False
        )
        return
    queued = ", ".join(f"{key} (job {i})" for key, i in report.enqueued.items()) or "nothing due"
    console.print(f"Queued: {queued}")
    if report.ran:
        console.print(f"Ran jobs {', '.join(map(str, report.ran))}: `shelfware jobs list`")


def worker(
    beat: Annotated[
        bool,
        typer.Option(
            "--beat",
            help="also run the schedule tick (any number may: one holds the lease)",
        ),
    ] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="jobs run at once")] = 2,
    hostname: Annotated[str | None, typer.Option(help="worker name (default: host)")] = None,
) -> None:
    """A distributed worker (SHELFWARE_JOBS=distributed): runs queued jobs from the engine at
    SHELFWARE_JOBS_BROKER_URL until stopped (Ctrl-C / SIGTERM)."""
    config = settings()
    if config.jobs != "distributed":
        fail("`shelfware worker` runs distributed jobs: set SHELFWARE_JOBS=distributed")
    with store() as st:
        backend = jobs.distributed_backend(st, clock(), config)
        backend.start(tick_seconds=config.jobs_tick_seconds if beat else None)
        try:
            backend.run_worker(concurrency=concurrency, hostname=hostname)
        finally:
            backend.stop()
