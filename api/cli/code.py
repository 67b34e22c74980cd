"""`citytwin code check` (offline) and `citytwin category list|add`."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from api.cli.common import console, domain_errors, engine, err
from registry import codes, dictionary
from registry.errors import InvalidCode

app = typer.Typer(help="Unified codes: check and explain, offline.", no_args_is_help=True)
category_app = typer.Typer(help="The category dictionary (大类/小类).", no_args_is_help=True)


@app.command()
def check(
    code: str,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for machines."),
) -> None:
    """Validate CODE and explain it (district, 大类/小类, serial); exit 1 when it is bad."""
    try:
        info = codes.explain(code, dictionary.load_seed())
    except InvalidCode as e:
        if as_json:
            console.print_json(json.dumps({"code": code, "valid": False,
                                           "reason": e.detail.get("reason"),
                                           "message": e.message}, ensure_ascii=False))
        else:
            err.print(f"[bold red]invalid:[/] {e.message}")
        raise typer.Exit(1) from None
    if as_json:
        console.print_json(json.dumps(info, ensure_ascii=False))
        return
    table = Table(title=f"{info['code']} [green]valid[/]", show_header=False)
    table.add_row("district", f"{info['county']['code']} {info['county']['name_zh']} "
                              f"({info['county']['name_en']})")
    table.add_row("大类", f"{info['major']['code']} {info['major']['name_zh']} "
                         f"({info['major']['name_en']})")
    table.add_row("小类", f"{info['category']['code']} {info['category']['name_zh']} "
                         f"({info['category']['name_en']})")
    table.add_row("serial", f"{info['serial']:06d}")
    table.add_row("check digit", info["check_digit"])
    console.print(table)


@category_app.command("list")
def list_categories() -> None:
    """The dictionary as the database holds it."""
    with domain_errors(), engine().connect() as conn:
        d = dictionary.load(conn)
    table = Table("code", "名称", "name", "geometry", "standard")
    for c in sorted(d.categories.values(), key=lambda c: c.code):
        table.add_row(c.code, c.name_zh, c.name_en, ",".join(c.geometry_types),
                      "yes" if c.standard else "local")
    console.print(table)


@category_app.command("add")
def add_category(
    code: str, name_zh: str, name_en: str,
    geometry: list[str] = typer.Option(["point"], help="point, line and/or polygon"),
    tolerance_m: float = typer.Option(3.0, help="matching distance for imports"),
) -> None:
    """Add (or rename) a local extension 小类."""
    with domain_errors(), engine().begin() as conn:
        c = dictionary.add_category(conn, code, name_zh, name_en, geometry, tolerance_m)
    console.print(f"category {c.code} {c.name_zh} saved")
