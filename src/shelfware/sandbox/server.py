"""Run a sandbox ASGI app with uvicorn: in a background thread (tests) or the foreground (CLI)."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp


class RunningServer:
    """A uvicorn server running in a daemon thread; a context manager that stops it on exit."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, url: str) -> None:
        self.server = server
        self.thread = thread
        self.url = url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving at once: open keep-alive connections and hanging requests are cut."""
        self.server.force_exit = True  # don't wait for clients to close keep-alive connections
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_in_thread(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    startup_timeout: float = 10.0,
) -> RunningServer:
    """Serve ``app`` on ``host`` (port 0: any free port) and return once it accepts requests."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"sandbox-{host}:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"sandbox server failed to start on {host}:{port}")
        time.sleep(0.01)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    scheme = "https" if ssl_certfile else "http"
    shown = f"[{host}]" if ":" in host else host
    return RunningServer(server, thread, f"{scheme}://{shown}:{bound_port}")


def serve_forever(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> None:
    """Serve ``app`` in the foreground until interrupted (the ``shelfware sandbox`` command)."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        lifespan="off",
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
