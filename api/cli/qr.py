"""`citytwin qr sheet`: printable QR tags for the entities of a street (PDF or SVG)."""

from __future__ import annotations

from pathlib import Path

import segno
import typer
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from api.cli.common import console, domain_errors, engine, settings
from registry import dictionary, search
from registry.errors import InvalidInput
from registry.search import Query
from spatial import area

app = typer.Typer(help="QR tags that open the inspector's page.", no_args_is_help=True)
COLS, ROWS = 3, 5
FONT = "STSong-Light"  # a CID font every PDF reader has: no font file to ship


def tags(street: str) -> list[tuple[str, str, str]]:
    """(code, class name, name) of the living entities of a street, by code."""
    with engine().connect() as conn:
        d = dictionary.load(conn)
        rows = search.find(conn, Query(area=area.admin(street), limit=10_000))
    return [(r.code, d.categories[r.category].name_zh, r.name or "") for r in rows]


def write_pdf(out: Path, items: list[tuple[str, str, str]], base: str) -> int:
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    pdf = canvas.Canvas(str(out), pagesize=A4)
    w, h = A4
    cell_w, cell_h = (w - 20 * mm) / COLS, (h - 20 * mm) / ROWS
    pages = 0
    for i, (code, klass, name) in enumerate(items):
        slot = i % (COLS * ROWS)
        if slot == 0 and i:
            pdf.showPage()
        if slot == 0:
            pages += 1
        x = 10 * mm + (slot % COLS) * cell_w
        y = h - 10 * mm - (slot // COLS + 1) * cell_h
        widget = QrCodeWidget(f"{base}/e/{code}", barLevel="M")
        x0, y0, x1, y1 = widget.getBounds()
        size = 36 * mm
        drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
        drawing.add(widget)
        renderPDF.draw(drawing, pdf, x + (cell_w - size) / 2, y + 14 * mm)
        pdf.setFont("Helvetica", 9)
        pdf.drawCentredString(x + cell_w / 2, y + 10 * mm, code)
        pdf.setFont(FONT, 9)
        pdf.drawCentredString(x + cell_w / 2, y + 5 * mm, f"{klass} {name}"[:24])
    pdf.save()
    return pages


def write_svg(out: Path, items: list[tuple[str, str, str]], base: str) -> None:
    cell_w, cell_h = 70, 56  # millimetres
    rows = (len(items) + COLS - 1) // COLS
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{COLS * cell_w}mm" '
             f'height="{rows * cell_h}mm" viewBox="0 0 {COLS * cell_w} {rows * cell_h}" '
             'font-family="sans-serif">']
    for i, (code, klass, name) in enumerate(items):
        x, y = (i % COLS) * cell_w, (i // COLS) * cell_h
        qr = segno.make(f"{base}/e/{code}", error="m")
        inner = qr.svg_inline(scale=1, border=0, omitsize=True)
        n = qr.symbol_size(scale=1, border=0)[0]
        parts.append(f'<svg x="{x + 17}" y="{y + 3}" width="36" height="36" '
                     f'viewBox="0 0 {n} {n}">{inner.split(">", 1)[1]}')
        label = f"{klass} {name}"[:24].replace("&", "&amp;").replace("<", "&lt;")
        parts.append(f'<text x="{x + 35}" y="{y + 45}" font-size="4" '
                     f'text-anchor="middle">{code}</text>'
                     f'<text x="{x + 35}" y="{y + 51}" font-size="4" '
                     f'text-anchor="middle">{label}</text>')
    parts.append("</svg>")
    out.write_text("".join(parts), encoding="utf-8")


@app.command()
def sheet(out: Path = typer.Argument(..., help="OUT.pdf or OUT.svg"),
          street: str = typer.Option(..., help="the street (街道) code, e.g. 440311001")) -> None:
    """Print QR tags for every living entity of a street; each links to /e/{code}."""
    base = settings().public_url.rstrip("/")
    with domain_errors():
        if out.suffix.lower() not in (".pdf", ".svg"):
            raise InvalidInput("the sheet is written as .pdf or .svg")
        items = tags(street)
        if not items:
            raise InvalidInput(f"street {street} has no entities to tag")
        if out.suffix.lower() == ".pdf":
            pages = write_pdf(out, items, base)
            console.print(f"{out}: {len(items)} tags on {pages} pages, linking to {base}/e/…")
        else:
            write_svg(out, items, base)
            console.print(f"{out}: {len(items)} tags, linking to {base}/e/…")
