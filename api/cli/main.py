"""`citytwin`: the command line. Each command group lives in its own module."""

from __future__ import annotations

import typer

from api.cli import code, db, entity, export, importer, qr, sample, serve, tiles

app = typer.Typer(
    name="citytwin",
    help="City digital-twin entity registry: unified codes, PostGIS, H3 and an OGC API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(code.app, name="code")
app.add_typer(entity.app, name="entity")
app.add_typer(code.category_app, name="category")
app.add_typer(sample.app, name="sample")
app.add_typer(tiles.app, name="tiles")
app.add_typer(qr.app, name="qr")
app.command("serve")(serve.serve)
app.command("import")(importer.import_layer)
app.command("export")(export.export_layer)

if __name__ == "__main__":
    app()
