"""Density aggregates for the map: counts per H3 cell (res 6-10) and per street / community /
grid, under any query filter. H3 parents are computed from the stored res-12 cell with bit
arithmetic in SQL: a group-by on a BIGINT, no geometry touched."""

from __future__ import annotations

from sqlalchemy import Connection, text

from registry.db import fetch_named
from registry.errors import InvalidParameter
from registry.search import LIVE, Query, category_sql, compile_query
from spatial import h3

HEX_RESOLUTIONS = range(6, 11)
LEVELS = {"street": "street_code", "community": "community_code", "grid": "grid_code"}


def hexbins(conn: Connection, res: int, q: Query | None = None) -> list[tuple[str, int]]:
    """(cell, count) for the entities matching `q`, by their res-`res` cell. Filtered by class
    and status only, at res 8 or coarser, the counts come from the `h3_count` summary."""
    if res not in HEX_RESOLUTIONS:
        raise InvalidParameter(f"hexbin resolution must be {HEX_RESOLUTIONS.start}.."
                               f"{HEX_RESOLUTIONS.stop - 1}")
    q = q or Query()
    if res <= SUMMARY_RES and _summary_serves(q):
        return _from_summary(conn, res, q)
    c = compile_query(conn, q, unprepared=True)
    rows = fetch_named(
        conn, f"""SELECT {h3.sql_parent('e.h3', res)} AS cell, count(*) AS n
                  FROM {c.source} WHERE {c.where} AND e.h3 IS NOT NULL
                  GROUP BY 1 ORDER BY 1""", c.params)
    return [(h3.to_str(r.cell), r.n) for r in rows]


SUMMARY_RES = 8


def _summary_serves(q: Query) -> bool:
    return (q.area is None and q.department is None and not q.attributes
            and q.filter is None and q.after is None)


def _from_summary(conn: Connection, res: int, q: Query) -> list[tuple[str, int]]:
    params: dict = {"statuses": list(LIVE if q.statuses is None else q.statuses)}
    where = ["e.status = ANY(CAST(:statuses AS text[]))"]
    if q.categories:
        where.append(category_sql(conn, q.categories, params))
    rows = conn.execute(
        text(f"""SELECT {h3.sql_parent('e.cell', res)} AS cell, sum(e.n) AS n
                 FROM h3_count e WHERE {' AND '.join(where)}
                 GROUP BY 1 HAVING sum(e.n) > 0 ORDER BY 1"""), params,
    )
    return [(h3.to_str(r.cell), int(r.n)) for r in rows]


def by_area(conn: Connection, level: str, q: Query | None = None
            ) -> list[tuple[str | None, str | None, int]]:
    """(area code, area name, count) per street, community or grid; None for outside."""
    if level not in LEVELS:
        raise InvalidParameter(f"aggregate by one of {', '.join(LEVELS)}")
    column = LEVELS[level]  # from the whitelist above
    c = compile_query(conn, q or Query(), unprepared=True)
    rows = fetch_named(
        conn, f"""SELECT g.code, a.name, g.n FROM (
                      SELECT e.{column} AS code, count(*) AS n
                      FROM {c.source} WHERE {c.where} GROUP BY 1) g
                  LEFT JOIN admin_area a ON a.code = g.code
                  ORDER BY g.code NULLS LAST""", c.params)
    return [(r.code, r.name, r.n) for r in rows]
