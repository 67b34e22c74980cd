"""`citytwin import`: a department's layer into the registry, with a progress bar, a summary
table and the changelog as a report."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from api.cli.common import console, domain_errors, engine, settings
from loaders.pipeline import SUMMARY, Options, run


def import_layer(
    path: Path = typer.Argument(..., exists=True, help="Shapefile (.shp or .zip), GeoPackage, "
                                "GeoJSON(Seq), CSV, FileGDB, KML, FlatGeobuf."),
    dataset: str = typer.Option(..., "--dataset", help="The source dataset (crosswalk name), "
                                "e.g. 城管."),
    layer: str | None = typer.Option(None, help="Layer of a multi-layer file."),
    mapping: Path | None = typer.Option(None, exists=True, help="Field mapping (YAML)."),
    crs: str | None = typer.Option(None, help="Source CRS: EPSG:4547, gcj02, bd09, ..."),
    encoding: str | None = typer.Option(None, help="Text encoding, e.g. GBK."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report only; change nothing."),
    retire_missing: bool = typer.Option(
        False, "--retire-missing", help="Retire the entities missing from this file (of the "
        "classes it delivers; not those another dataset delivers)."),
    report: Path | None = typer.Option(None, help="Write the changelog here (JSON)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when anything was refused."),
    full: bool = typer.Option(False, "--full", help="Read and compare the file even when it "
                              "and the registry are unchanged since its last import."),
    wait: bool = typer.Option(False, "--wait", help="Wait for another import of the same "
                              "dataset instead of refusing."),
) -> None:
    """Import a layer: validated, matched, duplicate-free, in one transaction."""
    if report is not None:
        _writable(report)
    s = settings()
    opts = Options(dataset=dataset, layer=layer, mapping=mapping, crs=crs, encoding=encoding,
                   dry_run=dry_run, retire_missing=retire_missing, wait=wait, full=full,
                   actor=os.environ.get("USER", "import"))
    with domain_errors(), Progress("[progress.description]{task.description}", BarColumn(),
                                   MofNCompleteColumn(), TaskProgressColumn(),
                                   "[cyan]{task.fields[rate]}", TimeRemainingColumn(),
                                   console=console, transient=True) as bar:
        task = bar.add_task(f"importing {path.name}", total=None, rate="")

        def progress(done: int, total: int) -> None:
            speed = bar.tasks[task].speed
            bar.update(task, completed=done, total=total,
                       rate=f"{speed:,.0f}/s" if speed else "")

        result = run(engine(s), path, opts, county=s.county, progress=progress)
    counts = result.counts
    table = Table(title=f"{'DRY RUN: ' if dry_run else ''}{path.name} → {dataset}")
    table.add_column("outcome")
    table.add_column("records", justify="right")
    for key in SUMMARY + tuple(k for k in counts if k not in SUMMARY):
        table.add_row(key, f"{counts[key]:,}")
    console.print(table)
    for note in result.notes:
        console.print(f"note: {escape(note)}")
    for kind in ("refused", "review", "duplicate"):
        _reasons(kind, result.lists.get(kind, []))
    if counts["added"] == counts["changed"] == counts["retired"] == 0 and counts["unchanged"]:
        console.print(f"unchanged: {counts['unchanged']:,}")
    if report:
        report.write_text(json.dumps(result.as_json(), ensure_ascii=False, indent=1,
                                     default=str), encoding="utf-8")
    if strict and counts["refused"]:
        raise typer.Exit(1)


def _writable(path: Path) -> None:
    """The report's path, checked before the import: once it has committed, a report that
    cannot be written would lose the list of new codes."""
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a folder: give a file name, e.g. "
                                 f"{path / 'report.json'}", param_hint="--report")
    if not path.parent.is_dir():
        raise typer.BadParameter(f"folder {path.parent} does not exist",
                                 param_hint="--report")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise typer.BadParameter(f"{path} cannot be written", param_hint="--report")


def _reasons(kind: str, items: list[dict]) -> None:
    """The commonest reasons of a list, so that a whole file's problem (a wrong class, a
    geometry type the class does not take) shows on the console, not only in the report."""
    if not items:
        return
    counts = Counter(_generic(str(r.get("reason", ""))) for r in items)
    for reason, n in counts.most_common(3):
        console.print(f"{kind} {n:,}: {escape(reason)}")
    if len(counts) > 3:
        console.print(f"{kind}: {len(counts) - 3} other reasons (see --report)")


def _generic(reason: str) -> str:
    """A reason without the record's own numbers ("outside the district by 812 m")."""
    return re.sub(r"\d[\d.,]*", "N", reason) if "outside the district" in reason or \
        "first: record" in reason else reason
