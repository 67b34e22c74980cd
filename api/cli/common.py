"""What every command shares: settings, the engine, Rich consoles and domain-error exits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from registry.db import make_engine
from registry.errors import CitytwinError
from registry.settings import Settings
from spatial.errors import SpatialError

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
        err.print(f"[bold red]error:[/] {escape(e.message)}")
        raise typer.Exit(1) from None
    except SpatialError as e:  # a CRS, a bbox, a geometry given on the command line
        err.print(f"[bold red]error:[/] {escape(str(e))}")
        raise typer.Exit(1) from None
    except DBAPIError as e:
        state = getattr(e.orig, "sqlstate", None)
        if isinstance(e, OperationalError) and (state is None or state.startswith("08")):
            err.print(f"[bold red]error:[/] database unreachable: {escape(str(e.orig))}")
            err.print("start it with `citytwin db up`, or check CITYTWIN_DATABASE_URL")
        else:  # what validation did not catch: the database's own words, not a traceback
            first = (str(e.orig).strip().splitlines() or [type(e.orig).__name__])[0]
            err.print(f"[bold red]error:[/] the database refused it ({state}): {escape(first)}; "
                      "nothing was changed")
        raise typer.Exit(1) from None
