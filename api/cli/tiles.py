"""`citytwin tiles export`: a PMTiles archive of a layer, with a progress bar."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from api.cli.common import console, domain_errors, engine, settings
from registry import areas, dictionary, layers
from tiles import pmtiles_export
from tiles.service import TileService

app = typer.Typer(help="Vector tiles: export for offline use.", no_args_is_help=True)


@app.command("export")
def export(
    out: Path = typer.Argument(..., help="OUT.pmtiles"),
    layer: str = typer.Option("map", help="a layer id, or 'map' for every layer"),
    minzoom: int = typer.Option(10, min=0, max=22),
    maxzoom: int = typer.Option(16, min=0, max=22),
) -> None:
    """Write a PMTiles v3 archive of LAYER over the district, zooms MINZOOM..MAXZOOM."""
    s = settings()
    with domain_errors(), engine(s).connect() as conn:
        catalog = layers.load(dictionary.load(conn))
        service = TileService(catalog, budget=s.tile_budget, cache_tiles=0)
        bounds = tuple(areas.extent(conn))
        total = pmtiles_export.count_tiles(bounds, minzoom, maxzoom)
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), "[progress.percentage]{task.percentage:>3.0f}%",
                      TimeRemainingColumn(), console=console) as bar:
            task = bar.add_task(f"{layer} z{minzoom}-{maxzoom}", total=total)
            written = pmtiles_export.export(conn, service, layer, minzoom, maxzoom, bounds,
                                            out, progress=lambda n: bar.advance(task, n))
    console.print(f"{out}: {written} tiles ({total - written} empty skipped), "
                  f"{out.stat().st_size / 1e6:.1f} MB")
