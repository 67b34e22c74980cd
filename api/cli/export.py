"""`citytwin export`: entities out to a GIS file, streamed, with codes and source ids."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn

from api.cli.common import console, domain_errors, engine, settings
from loaders.export import DRIVERS, Filter, export


def export_layer(
    out: Path = typer.Argument(..., help="The file to write."),
    fmt: str = typer.Option(..., "--format", help=f"One of {', '.join(DRIVERS)}."),
    category: str | None = typer.Option(None, help="Only this class (小类 code)."),
    dataset: str | None = typer.Option(None, help="Only entities this dataset delivers "
                                       "(its source ids in `source_id`)."),
    area: str | None = typer.Option(None, help="A street, community or grid code."),
    bbox: str | None = typer.Option(None, help="minlon,minlat,maxlon,maxlat (EPSG:4490)."),
    crs: str | None = typer.Option(None, help="Output CRS, e.g. EPSG:4547 (default 4490)."),
) -> None:
    """Export entities (active, suspended, provisional) to a file."""
    box = None
    if bbox:
        parts = [float(v) for v in bbox.split(",")]
        if len(parts) != 4:
            raise typer.BadParameter("--bbox takes four numbers")
        box = (parts[0], parts[1], parts[2], parts[3])
    with domain_errors(), Progress(SpinnerColumn(), "{task.description}",
                                   MofNCompleteColumn(), console=console,
                                   transient=True) as bar:
        task = bar.add_task(f"exporting {out.name}", total=None)
        n = export(engine(settings()), out, fmt, Filter(category, dataset, area, box),
                   crs=crs, progress=lambda k: bar.advance(task, k))
    console.print(f"exported {n:,} entities to {out}")
