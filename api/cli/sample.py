"""`citytwin sample load`: the built-in sample district for the demo."""

from __future__ import annotations

import typer

from api.cli.common import console, domain_errors, engine, settings
from sample_gis import builtin

app = typer.Typer(help="Sample data for the demo and the tests.", no_args_is_help=True)


@app.command()
def load(n: int = typer.Option(600, min=1, help="How many entities."),
         seed: int = typer.Option(7, help="Random seed.")) -> None:
    """Load the built-in sample (once; a second run does nothing)."""
    s = settings()
    with domain_errors(), engine(s).begin() as conn:
        added = builtin.load(conn, county=s.county, n=n, seed=seed)
    console.print(f"sample: {added} entities added" if added else "sample already loaded")
