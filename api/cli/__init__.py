"""The `citytwin` command line (Typer + Rich)."""
