"""What every command shares: settings, the engine, Rich consoles and domain-error exits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from registry.db import make_engine
from registry.errors import CitytwinError
from registry.settings import Settings

console = Console()
err = Console(stderr=True, soft_wrap=True)


def settings() -> Settings:
    return Settings()


def engine(s: Settings | None = None) -> Engine:
    return make_engine(s or settings(), pool_size=1)


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    """Print a domain error's message (never a traceback) and exit 1."""
    try:
        yield
    except CitytwinError as e:
        err.print(f"[bold red]error:[/] {e.message}")
        raise typer.Exit(1) from None
    except OperationalError as e:
        err.print(f"[bold red]error:[/] database unreachable: {e.orig}")
        err.print("start it with `citytwin db up`, or check CITYTWIN_DATABASE_URL")
        raise typer.Exit(1) from None
