"""Export entities to a file (GeoPackage, GeoJSON, Shapefile, CSV, FlatGeobuf), streamed from
a server-side cursor and written in chunks, with codes and source ids, in the CRS asked for.
The columns are what an import reads back: an export re-imports as "unchanged"."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import write
from sqlalchemy import Engine, text

from loaders.read import ImportRefused
from spatial import crs as crs_mod

DRIVERS = {"gpkg": "GPKG", "geojson": "GeoJSON", "shp": "ESRI Shapefile", "csv": "CSV",
           "fgb": "FlatGeobuf"}
# Field names fit a Shapefile's 10 characters; `ct_` fields are the registry's own, which an
# import skips (see loaders/mapping.py).
FIELDS = ["ct_code", "source_id", "category", "name", "ct_status", "condition", "dept_admin",
          "dept_owner", "dept_maint", "attributes", "ct_sources"]
CHUNK = 50_000


@dataclass
class Filter:
    category: str | None = None
    dataset: str | None = None
    area: str | None = None  # a street, community or grid code
    bbox: tuple[float, float, float, float] | None = None  # lon/lat, EPSG:4490


def _sql(f: Filter) -> tuple[str, dict]:
    where, p = ["e.status NOT IN ('retired', 'void')"], {}
    if f.category:
        where.append("e.category = :category")
        p["category"] = f.category
    if f.dataset:
        where.append("EXISTS (SELECT 1 FROM crosswalk c WHERE c.code = e.code "
                     "AND c.dataset = :dataset)")
        p["dataset"] = f.dataset
    if f.area:
        where.append(":area IN (e.street_code, e.community_code, e.grid_code)")
        p["area"] = f.area
    if f.bbox:
        where.append("e.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)")
        p.update(zip(("x0", "y0", "x1", "y1"), map(float, f.bbox), strict=True))
    sid = ("(SELECT min(source_id) FROM crosswalk c WHERE c.code = e.code "
           + ("AND c.dataset = :dataset)" if f.dataset else ")"))
    return f"""
        SELECT e.code, {sid} AS source_id, e.category, e.name, e.status, e.condition,
               e.dept_admin, e.dept_owner, e.dept_maintainer, e.attributes::text,
               (SELECT string_agg(c.dataset || ':' || c.source_id, ';' ORDER BY 1)
                FROM crosswalk c WHERE c.code = e.code) AS sources,
               ST_AsBinary(e.geom) AS wkb, GeometryType(e.geom) AS gtype
        FROM entity e WHERE {' AND '.join(where)} ORDER BY e.code""", p


def export(engine: Engine, out: Path, fmt: str, f: Filter, *, crs: str | None = None,
           chunk: int = CHUNK, progress: Callable[[int], None] = lambda n: None) -> int:
    """Write the entities matching `f`; returns how many. Refuses mixed geometry types for a
    Shapefile (one type per file): filter by class."""
    if fmt not in DRIVERS:
        raise ImportRefused(f"format {fmt!r}: one of {', '.join(DRIVERS)}")
    dst = crs_mod.epsg(crs) if crs else crs_mod.STORAGE
    sql, params = _sql(f)
    out = Path(out)
    written, gtype = 0, None
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk).execute(
            text(sql), params)
        for rows in result.partitions(chunk):
            gtype = _geometry_type(gtype, {r.gtype for r in rows}, fmt)
            geoms = shapely.from_wkb([bytes(r.wkb) for r in rows])
            if dst != crs_mod.STORAGE:
                geoms = _from_storage(geoms, dst)
            cols = [np.array([r[i] for r in rows], dtype=object) for i in range(11)]
            cols[9] = np.array([_compact(a) for a in cols[9]], dtype=object)
            kw = {"layer_options": {"GEOMETRY": "AS_WKT"}} if fmt == "csv" else {}
            write(out, shapely.to_wkb(geoms), cols, FIELDS, driver=DRIVERS[fmt],
                  crs=f"EPSG:{dst}", geometry_type=gtype, encoding="UTF-8",
                  append=written > 0, **kw)
            written += len(rows)
            progress(len(rows))
    if written == 0:
        raise ImportRefused("nothing matches: no file written")
    return written


def _compact(text_: str | None) -> str | None:
    return None if text_ is None else json.dumps(json.loads(text_), ensure_ascii=False,
                                                 sort_keys=True, separators=(",", ":"))


def _geometry_type(current: str | None, types: set[str], fmt: str) -> str:
    names = {"POINT": "Point", "LINESTRING": "LineString", "POLYGON": "Polygon",
             "MULTILINESTRING": "MultiLineString", "MULTIPOLYGON": "MultiPolygon"}
    found = {names.get(t.upper(), "Unknown") for t in types}
    if current:
        found.add(current)
    if len(found) == 1:
        return found.pop()
    if fmt == "shp":
        # One Shapefile type holds both the single and multi form of a family.
        bases = {t.removeprefix("Multi") for t in found}
        if len(bases) == 1 and "Unknown" not in bases:
            return bases.pop()
        raise ImportRefused(f"a Shapefile holds one geometry type; these entities have "
                            f"{', '.join(sorted(found))}: export one class (--category)")
    return "Unknown"


def _from_storage(geoms: np.ndarray, dst: int) -> np.ndarray:
    def xy(c: np.ndarray) -> np.ndarray:
        a, b = crs_mod.transform_xy(c[:, 0], c[:, 1], crs_mod.STORAGE, dst)
        return np.column_stack([a, b])
    return shapely.transform(geoms, xy)

