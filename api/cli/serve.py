"""`citytwin serve`: the API on 127.0.0.1 (uvicorn)."""

from __future__ import annotations

import typer
import uvicorn

from api.cli.common import settings


def serve(
    host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default 8000)."),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
) -> None:
    """Serve the API and the map at http://HOST:PORT (Ctrl-C stops it)."""
    s = settings()
    uvicorn.run("api.app:create_app", factory=True, host=host or s.host,
                port=port or s.http_port, workers=workers, log_level="info")
