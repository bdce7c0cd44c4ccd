"""`shelfware serve`."""

from __future__ import annotations

from typing import Annotated

import typer

from shelfware.cli.context import clock, console, settings


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
) -> None:
    """Serve the REST API (/api/v1) and the web workspace."""
    import uvicorn

    from shelfware.serve import create_app

    app = create_app(settings(), clock=clock())
    base = f"http://{host}:{port}"
    console.print(f"shelfware on {base} (API: {base}/api/v1, its document: /api/v1/openapi.json)")
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
