"""Plain HTML pages for each resource (like pygeoapi's and tipg's): readable by a person,
no scripts needed. Every value is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

STYLE = """body{font:15px/1.5 system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:0 auto;
max-width:1100px;padding:1rem;color:#222}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}a{color:#0b5cad}code{background:#f4f4f4;padding:0 .2rem}
nav{margin-bottom:1rem;color:#666}"""


def page(title: str, body: str, *, json_link: str | None = None) -> str:
    alt = f' · <a href="{escape(json_link)}">JSON</a>' if json_link else ""
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)} · citytwin</title><style>{STYLE}</style></head><body>"
            f'<nav><a href="/?f=html">citytwin</a> · <a href="/collections?f=html">collections'
            f"</a>{alt}</nav><h1>{escape(title)}</h1>{body}</body></html>")


def link(href: str, text: str) -> str:
    return f'<a href="{escape(href)}">{escape(text)}</a>'


def table(rows: list[dict[str, Any]], columns: list[str] | None = None,
          links: dict[str, str] | None = None) -> str:
    """A table of dicts; `links` maps a column to a URL template with {value}."""
    if not rows:
        return "<p>Nothing here.</p>"
    cols = columns or list(rows[0])
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            text = "" if v is None else escape(str(v))
            if links and c in links and v is not None:
                text = f'<a href="{escape(links[c].format(value=v))}">{text}</a>'
            cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def dl(items: dict[str, Any]) -> str:
    return table([{"": k, " ": v} for k, v in items.items()])
