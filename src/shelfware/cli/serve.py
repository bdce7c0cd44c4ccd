"""`shelfware serve`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from shelfware.cli.context import clock, console, fail, settings

if TYPE_CHECKING:
    from fastapi import FastAPI

MAX_WORKERS = 64
# `--workers N`: uvicorn starts N processes that each import this and call it (a factory:
# each process opens its own store, so its own connection pool and concurrency limit)
WORKER_APP = "shelfware.cli.serve:worker_app"


def worker_app() -> FastAPI:
    """The app of one worker process of ``shelfware serve --workers N``: the same settings
    and clock as the command's (both come from the environment it inherits)."""
    from shelfware.serve import create_app

    return create_app(settings(), clock=clock())


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_WORKERS,
            help="worker processes sharing the port (each with its own database pool and "
            "its own SHELFWARE_API_MAX_CONCURRENCY); about one per core",
        ),
    ] = 1,
) -> None:
    """Serve the REST API (/api/v1) and the web workspace."""
    import uvicorn

    chosen = settings()  # a bad configuration: said once, here, not by every worker
    clock()
    base = f"http://{host}:{port}"
    console.print(
        f"shelfware on {base} (API: {base}/api/v1, its document: /api/v1/openapi.json)"
        + (f", {workers} worker processes" if workers > 1 else "")
    )
    if workers == 1:
        from shelfware.serve import create_app

        app = create_app(chosen, clock=clock())
        uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
        return
    if chosen.database_url is not None and ":memory:" in chosen.database_url:
        fail("--workers needs a database the processes share: not an in-memory SQLite")
    uvicorn.run(
        WORKER_APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        server_header=False,
    )
