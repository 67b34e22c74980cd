"""`citytwin entity show CODE`: the entity card."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.panel import Panel
from rich.table import Table

from api.cli.common import console, domain_errors, engine
from registry import areas, codes, crosswalk, dictionary, reads
from registry.entities import CONDITION_LABELS

app = typer.Typer(help="Entities: look up by code.", no_args_is_help=True)
STATUS_STYLE = {"active": "green", "provisional": "yellow", "suspended": "yellow",
                "retired": "red", "void": "red"}


@app.command()
def show(
    code: str,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for machines."),
) -> None:
    """Print the card of the entity with unified code CODE."""
    with domain_errors(), engine().connect() as conn:
        d = dictionary.load(conn)
        code = str(codes.validate(code, d))
        e = reads.get(conn, code)
        names = areas.names(conn, [e.street_code, e.community_code, e.grid_code])
        sources = crosswalk.sources(conn, code)
        versions = reads.history(conn, code)
    if as_json:
        out = asdict(e) | {"sources": [list(s) for s in sources]}
        console.print_json(json.dumps(out, ensure_ascii=False, default=str))
        return
    cat = d.categories[e.category]
    t = Table(show_header=False, box=None, pad_edge=False)
    style = STATUS_STYLE.get(e.status, "white")
    t.add_row("class", f"{cat.code} {cat.name_zh} ({cat.name_en})")
    t.add_row("name", e.name or "—")
    t.add_row("status", f"[{style}]{e.status}[/]")
    cond = f"{CONDITION_LABELS[e.condition]} ({e.condition})" if e.condition else "—"
    t.add_row("condition", cond)
    for label, value in (("street", e.street_code), ("community", e.community_code),
                         ("grid", e.grid_code)):
        t.add_row(label, f"{value} {names.get(value, '')}" if value else "—")
    pt = e.geometry["coordinates"] if e.geometry["type"] == "Point" else None
    t.add_row("where", f"{pt[0]:.6f}, {pt[1]:.6f} (CGCS2000)" if pt else e.geometry["type"])
    t.add_row("h3 (res 12)", e.h3 or "—")
    t.add_row("主管 / 权属 / 养护", " / ".join(x or "—" for x in
                                          (e.dept_admin, e.dept_owner, e.dept_maintainer)))
    if sources:
        t.add_row("source ids", ", ".join(f"{ds}:{sid}" for ds, sid in sources))
    if e.successors:
        t.add_row("successors", ", ".join(f"{s.to_code} ({s.kind} {s.happened_on})"
                                          for s in e.successors))
    for key, value in sorted(e.attributes.items()):
        t.add_row(f"· {key}", str(value))
    last = versions[-1]
    t.add_row("version", f"{e.version} — {last.change} by {last.actor} on "
                         f"{last.valid_from:%Y-%m-%d %H:%M}" + (f" ({last.reason})"
                                                              if last.reason else ""))
    console.print(Panel(t, title=f"[bold]{e.code}[/]", expand=False))
