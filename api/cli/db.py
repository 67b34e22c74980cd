"""`citytwin db up|down|status|migrate`: the local PostGIS cluster and the schema."""

from __future__ import annotations

import typer
from rich.table import Table
from sqlalchemy import text

from api.cli.common import console, domain_errors, engine, err, settings
from registry import cluster, maintenance, migrate

app = typer.Typer(help="The database: the project's own PostGIS cluster and its schema.",
                  no_args_is_help=True)


@app.command()
def up() -> None:
    """Start the local PostGIS cluster (install, initdb and create on first use). Idempotent."""
    s = settings()
    if s.database_url:
        console.print("CITYTWIN_DATABASE_URL is set: using that database, no local cluster.")
        return
    with domain_errors():
        state = cluster.up(s, log=lambda m: err.print(f"[dim]{m}[/]"))
    console.print(
        f"PostGIS up: socket {state.socket_dir} port {state.port} (127.0.0.1), "
        f"data {state.data_dir}"
    )


@app.command()
def down() -> None:
    """Stop the local cluster."""
    stopped = cluster.down(settings())
    console.print("stopped" if stopped else "not running")


@app.command("migrate")
def migrate_schema(revision: str = typer.Argument("head")) -> None:
    """Apply the migrations and the category dictionary seed."""
    with domain_errors():
        rev = migrate.upgrade(engine(), revision)
    console.print(f"schema at revision {rev}")


@app.command()
def status() -> None:
    """Say what runs where."""
    s = settings()
    table = Table(show_header=False, box=None)
    if s.database_url:
        table.add_row("database", "external (CITYTWIN_DATABASE_URL)")
    else:
        state = cluster.load_state(s)
        if state is None:
            console.print("no local cluster yet: `citytwin db up` creates one")
            raise typer.Exit(1)
        running = cluster.is_running(state)
        table.add_row("local cluster", "[green]running[/]" if running else "[red]stopped[/]")
        table.add_row("data", state.data_dir)
        table.add_row("socket", f"{state.socket_dir} (port {state.port})")
        table.add_row("tcp", f"127.0.0.1:{state.port}")
        table.add_row("server user", state.os_user)
        if not running:
            console.print(table)
            raise typer.Exit(1)
    with domain_errors(), engine(s).connect() as conn:
        table.add_row("postgis", conn.execute(text("SELECT postgis_lib_version()")).scalar())
        table.add_row("schema revision", str(migrate.current_revision(conn)))
    console.print(table)


@app.command()
def optimize() -> None:
    """Reorder entities by H3 and refresh statistics (run after large imports)."""
    with domain_errors():
        maintenance.optimize(engine())
    console.print("entities reordered by H3; statistics refreshed")
