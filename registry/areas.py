"""Admin areas (district / street / community / unit grid) and entity placement in them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import Connection, text

from registry import versions
from registry.errors import GeometryError, InvalidInput, NotFound
from registry.models import AREA_LEVELS
from spatial import geometry as geo
from spatial.errors import SpatialError


@dataclass
class Area:
    code: str
    level: str
    name: str
    geometry: Any  # polygon or multipolygon, lon/lat EPSG:4490
    parent_code: str | None = None


def _multipolygon(value: Any) -> MultiPolygon:
    try:
        geom, _ = geo.clean(value, ("polygon",))
    except SpatialError as e:
        raise GeometryError(f"area geometry: {e}") from None
    return MultiPolygon([geom]) if isinstance(geom, Polygon) else geom


def upsert(conn: Connection, areas: list[Area], *, place: bool = True) -> None:
    """Add or replace areas; then re-derive the placement of the entities (unless told not)."""
    for a in areas:
        if a.level not in AREA_LEVELS:
            raise InvalidInput(f"area level {a.level!r} is not one of {', '.join(AREA_LEVELS)}")
    conn.execute(
        text("""INSERT INTO admin_area (code, level, name, parent_code, geom)
                SELECT code, level, name, parent, ST_GeomFromWKB(wkb, 4490)
                FROM unnest(CAST(:code AS text[]), CAST(:level AS text[]),
                            CAST(:name AS text[]), CAST(:parent AS text[]),
                            CAST(:wkb AS bytea[])) AS t(code, level, name, parent, wkb)
                ON CONFLICT (code) DO UPDATE SET level = EXCLUDED.level, name = EXCLUDED.name,
                    parent_code = EXCLUDED.parent_code, geom = EXCLUDED.geom"""),
        {"code": [a.code for a in areas], "level": [a.level for a in areas],
         "name": [a.name for a in areas], "parent": [a.parent_code for a in areas],
         "wkb": [shapely.to_wkb(_multipolygon(a.geometry)) for a in areas]},
    )
    if place:
        replace_placement(conn)


def replace_placement(conn: Connection) -> int:
    """Re-derive every entity's street / community / grid (after areas change). Versions are
    not written: placement is derived data, not a change of the entity — but a thin open
    version (registry.versions) gets its state first, as every other version keeps its own."""
    conn.execute(text("""
        CREATE TEMP TABLE replaced_placement ON COMMIT DROP AS
        SELECT code, s, c, g
        FROM (SELECT code, street_code, community_code, grid_code,
                     area_code('street', pt) s, area_code('community', pt) c,
                     area_code('grid', pt) g
              FROM (SELECT *, ST_PointOnSurface(geom) pt FROM entity) x) p
        WHERE (street_code, community_code, grid_code) IS DISTINCT FROM (s, c, g)
    """))
    conn.execute(versions.fill_sql("v.code IN (SELECT code FROM replaced_placement)"))
    n = conn.execute(text("""
        UPDATE entity e SET street_code = p.s, community_code = p.c, grid_code = p.g
        FROM replaced_placement p WHERE e.code = p.code
    """)).rowcount
    conn.execute(text("DROP TABLE replaced_placement"))
    return n


def get(conn: Connection, code: str) -> dict[str, Any]:
    row = conn.execute(
        text("""SELECT code, level, name, parent_code, ST_AsGeoJSON(geom, 7, 0)::json AS geometry
                FROM admin_area WHERE code = :c"""), {"c": code},
    ).first()
    if row is None:
        raise NotFound(f"no street, community or grid has the code {code}")
    return dict(row._mapping)


def names(conn: Connection, codes: list[str | None]) -> dict[str, str]:
    wanted = [c for c in codes if c]
    rows = conn.execute(
        text("SELECT code, name FROM admin_area WHERE code = ANY(CAST(:c AS text[]))"),
        {"c": wanted},
    )
    return {r.code: r.name for r in rows}


def extent(conn: Connection) -> list[float]:
    """[minx, miny, maxx, maxy] of the district (or of the streets), lon/lat."""
    row = conn.execute(text(
        "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM ("
        " SELECT coalesce((SELECT ST_Extent(geom) FROM admin_area WHERE level = 'district'),"
        "  (SELECT ST_Extent(geom) FROM admin_area WHERE level = 'street'),"
        "  ST_MakeEnvelope(-180, -85, 180, 85)) AS b) s")).one()
    return [round(v, 6) for v in row]
