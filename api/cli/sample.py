"""`citytwin sample load`: the built-in sample district for the demo; `citytwin sample
generate`: the full sample district's files (departments' deliveries, two editions)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from api.cli.common import console, domain_errors, engine, err, settings
from sample_gis import builtin

app = typer.Typer(help="Sample data for the demo and the tests.", no_args_is_help=True)


@app.command()
def load(
    scale: float = typer.Option(1.0, min=0.001, max=100.0, help="Size of the sample."),
    seed: int = typer.Option(7, help="Random seed."),
    small: bool = typer.Option(False, "--small", help="Only the tiny built-in sample "
                               "(six streets, 600 entities), in a second."),
) -> None:
    """Load the sample district into the registry (generated first when missing; once: a
    second run does nothing). Everything is written in one transaction."""
    s = settings()
    if small:
        with domain_errors(), engine(s).begin() as conn:
            added = builtin.load(conn, county=s.county)
        console.print(f"sample: {added} entities added" if added else "sample already loaded")
        return
    from sample_gis.generate import default_out
    from sample_gis.generate import generate as make
    from sample_gis.load import load as load_truth

    with domain_errors():
        m = make(default_out(scale, seed), scale=scale, seed=seed,
                 log=lambda msg: console.print(f"  {msg}"))
        total = m.counts["entities"]["v1"]
        with engine(s).begin() as conn, Progress(
                "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                TimeRemainingColumn(), console=console) as bar:
            task = bar.add_task("registering", total=total)
            added = load_truth(conn, m.root, county=s.county,
                               progress=lambda n: bar.advance(task, n))
    console.print(f"sample: {added:,} entities registered" if added else
                  "sample already loaded")


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
