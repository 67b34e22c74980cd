"""`citytwin export`: entities out to a GIS file, streamed, with codes and source ids."""

from __future__ import annotations

from math import isfinite
from pathlib import Path

import typer
from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn

from api.cli.common import console, domain_errors, engine, settings
from loaders.export import BBOX, DRIVERS, ExportRefused, Filter, export


def export_layer(
    out: Path = typer.Argument(..., help="The file to write (its suffix that of --format)."),
    fmt: str = typer.Option(..., "--format", help=f"One of {', '.join(DRIVERS)}."),
    category: str | None = typer.Option(None, help="Only this class (小类 code)."),
    dataset: str | None = typer.Option(None, help="Only entities this dataset delivers "
                                       "(its source ids in `source_id`)."),
    area: str | None = typer.Option(None, help="A street, community or grid code."),
    bbox: str | None = typer.Option(None, help="minlon,minlat,maxlon,maxlat (EPSG:4490)."),
    crs: str | None = typer.Option(None, help="Output CRS, an EPSG code, e.g. EPSG:4547 "
                                   "(default 4490)."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace the file if it exists."),
) -> None:
    """Export entities (active, suspended, provisional) to a file."""
    with domain_errors():
        box = parse_bbox(bbox) if bbox is not None else None
        with Progress(SpinnerColumn(), "{task.description}", MofNCompleteColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task(f"exporting {out.name}", total=None)
            n = export(engine(settings()), out, fmt, Filter(category, dataset, area, box),
                       crs=crs, overwrite=overwrite, progress=lambda k: bar.advance(task, k))
    for note in n.notes:
        console.print(f"note: {note}", markup=False)
    console.print(f"exported {n:,} entities to {out}", markup=False)


def parse_bbox(value: str) -> tuple[float, float, float, float]:
    """`--bbox` as written: four numbers, comma-separated (`export` checks they are degrees
    and minimum first)."""
    try:
        box = [float(v) for v in value.split(",")]
    except ValueError:
        box = []
    if len(box) != 4 or not all(map(isfinite, box)):
        raise ExportRefused(f"--bbox {value!r}: {BBOX}, separated by commas "
                            "(e.g. 113.9,22.7,114.0,22.8)")
    return box[0], box[1], box[2], box[3]
