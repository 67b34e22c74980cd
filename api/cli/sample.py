"""`citytwin sample load`: the built-in sample district for the demo; `citytwin sample
generate`: the full sample district's files (departments' deliveries, two editions)."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.common import console, domain_errors, engine, err, settings
from sample_gis import builtin

#: The crosswalk dataset of a sample that earlier versions registered from its truth file.
TRUTH_MARK = "sample-truth"

app = typer.Typer(help="Sample data for the demo and the tests.", no_args_is_help=True)


@app.command()
def load(
    scale: float = typer.Option(1.0, min=0.001, max=100.0, help="Size of the sample."),
    seed: int = typer.Option(7, help="Random seed."),
    small: bool = typer.Option(False, "--small", help="Only the tiny built-in sample "
                               "(six streets, 600 entities), in a second."),
) -> None:
    """Load the sample district into the registry (generated first when missing): each
    department's files imported through the loaders, as GIS staff would import them — one
    transaction a file; a second run finds every file unchanged and changes nothing."""
    s = settings()
    if small:
        with domain_errors(), engine(s).begin() as conn:
            added = builtin.load(conn, county=s.county)
        console.print(f"sample: {added} entities added" if added else "sample already loaded")
        return
    # Imported here: they pull in GDAL, and the other commands should start fast.
    from collections import Counter

    from sqlalchemy import text

    from loaders.pipeline import SUMMARY, Options, run
    from registry import areas
    from sample_gis import areas as sample_areas
    from sample_gis.generate import default_out
    from sample_gis.generate import generate as make

    with domain_errors():
        m = make(default_out(scale, seed), scale=scale, seed=seed,
                 log=lambda msg: console.print(f"  {msg}"))
        eng = engine(s)
        with eng.begin() as conn:
            if conn.execute(text("SELECT 1 FROM crosswalk WHERE dataset = :d LIMIT 1"),
                            {"d": TRUTH_MARK}).first():
                console.print("sample already loaded (from its truth file)")
                return
            if not conn.execute(text("SELECT 1 FROM import_batch WHERE actor = 'sample' "
                                     "LIMIT 1")).first():  # the areas before the first file
                areas.upsert(conn, sample_areas.admin_areas(), place=True)
        totals: Counter[str] = Counter()
        for key, info in sorted(m["files"]["v1"].items()):
            source = m["sources"][key.split("/")[0]]
            # the CRS a file does not say: the department's, as the manifest documents it
            crs = None if info["crs_in_file"] else source["crs"]
            # a dataset a layer (城管/manhole_covers): one layer's records are not missing
            # from the department's next
            dataset = f"{source['dataset']}/{info['layer'] or Path(info['path']).stem}"
            report = run(eng, m.path(info["path"]),
                         Options(dataset=dataset, layer=info["layer"], crs=crs,
                                 actor="sample"), county=s.county)
            counts = report.counts
            totals.update(counts)
            console.print(f"  {key}: " + ", ".join(f"{k} {counts[k]:,}" for k in SUMMARY
                                                   if counts.get(k)))
    console.print("sample: " + ", ".join(f"{k} {totals[k]:,}" for k in SUMMARY
                                         if totals.get(k)))


@app.command()
def generate(
    scale: float = typer.Option(1.0, min=0.001, max=100.0,
                                help="Size: 1 is about 300,000 entities, 10 about 3 million."),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same files."),
    out: Path | None = typer.Option(None, help="Folder to write to (default: "
                                    ".citytwin/sample/scale-<s>-seed-<n>/)."),
    force: bool = typer.Option(False, "--force", help="Regenerate even if the folder holds "
                               "a complete sample of this scale and seed."),
) -> None:
    """Generate the sample district's files (no database needed): each department's
    deliveries with their faults, a second monthly edition, admin areas, truth, manifest."""
    # Imported here: it pulls in GDAL, and the other commands should start fast.
    from sample_gis.generate import default_out
    from sample_gis.generate import generate as make

    steps: list[str] = []  # stays empty when the cached sample is returned

    def log(msg: str) -> None:
        steps.append(msg)
        console.print(f"  {msg}")

    try:
        m = make(out or default_out(scale, seed), scale=scale, seed=seed, force=force, log=log)
    except (OSError, ValueError) as e:
        err.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(1) from None
    c = m.counts
    faults = ", ".join(f"{k.replace('_', ' ')} {v['count']:,}" for k, v in m["faults"].items())
    console.print(f"sample {'' if steps else '(cached) '}in {m.root}")
    console.print(f"  entities: {c['entities']['v1']:,} (v1), {c['entities']['v2']:,} (v2) "
                  f"in {c['categories']} categories from {c['sources']} sources")
    console.print(f"  records: {c['records']['v1']:,} (v1) in {len(m['files']['v1'])} "
                  f"files; areas: {c['areas']}")
    console.print(f"  faults: {faults}")
    console.print(f"  manifest hash {m.hash}")
