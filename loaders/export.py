"""Export entities to a file (GeoPackage, GeoJSON, Shapefile, CSV, FlatGeobuf), streamed from
a server-side cursor and written in chunks, with codes and source ids, in the CRS asked for.
The columns are what an import reads back: an export re-imports as "unchanged".

Nothing half-written: the format and the name's suffix, the CRS, the bbox, the folder, a file
already there (replaced only with `overwrite`), the geometry types and filters that name
nothing are checked before the first row is written. The file is written under a temporary
name in its folder (a Shapefile: every part) and moved into place once complete; on any
failure the temporary files are removed and a file already at the path is left as it was.

`ct_sources` is every `dataset:source_id` of the entity, sorted, joined with `;`. A dataset
name may hold `:`, a source id `:` and `;`: in both a backslash escapes `\\`, `:` and `;`.
Split on each unescaped `;`, a pair at its unescaped `:`, then drop the escaping backslashes.

A Shapefile text field holds 254 bytes. A longer value (mostly the `attributes` JSON) is left
empty, not cut: a cut JSON is not JSON and a cut name is wrong without a sign. The export
returns a note saying how many records lost which field, and that a GeoPackage, FlatGeobuf or
GeoJSON export keeps them whole."""

from __future__ import annotations

import json
import os
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyogrio.raw import write
from sqlalchemy import Connection, Engine, text

from registry.errors import CitytwinError
from spatial import crs as crs_mod
from spatial.errors import SpatialError


class ExportRefused(CitytwinError):
    status, code = 422, "export_refused"


DRIVERS = {"gpkg": "GPKG", "geojson": "GeoJSON", "shp": "ESRI Shapefile", "csv": "CSV",
           "fgb": "FlatGeobuf"}
SUFFIXES = {"gpkg": (".gpkg",), "geojson": (".geojson", ".json"), "shp": (".shp",),
            "csv": (".csv",), "fgb": (".fgb",)}
# The files of a Shapefile (an index or metadata of an older one is removed on overwrite).
SHP_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".shp.xml")
# Field names fit a Shapefile's 10 characters; `ct_` fields are the registry's own, which an
# import skips (see loaders/mapping.py).
FIELDS = ["ct_code", "source_id", "category", "name", "ct_status", "condition", "dept_admin",
          "dept_owner", "dept_maint", "attributes", "ct_sources"]
CHUNK = 50_000
DBF_TEXT = 254  # bytes in a Shapefile (DBF) text field
GEOMETRY_NAMES = {"POINT": "Point", "LINESTRING": "LineString", "POLYGON": "Polygon",
                  "MULTIPOINT": "MultiPoint", "MULTILINESTRING": "MultiLineString",
                  "MULTIPOLYGON": "MultiPolygon", "GEOMETRYCOLLECTION": "GeometryCollection"}
# ct_sources: a backslash before each backslash, `:` and `;` (see the module docstring).
ESCAPE = {"special": r"([\\:;])", "escaped": r"\\\1"}
BBOX = "--bbox takes four numbers minlon,minlat,maxlon,maxlat"


@dataclass
class Filter:
    category: str | None = None
    dataset: str | None = None
    area: str | None = None  # a street, community or grid code
    bbox: tuple[float, float, float, float] | None = None  # lon/lat, EPSG:4490


class Exported(int):
    """How many entities were written (an int), with `notes` to show the user."""

    notes: tuple[str, ...] = ()


def check_bbox(box: tuple[float, float, float, float]) -> None:
    x0, y0, x1, y1 = box
    shown = ",".join(f"{v:.10g}" for v in box)
    if not (all(-180 <= x <= 180 for x in (x0, x1)) and all(-90 <= y <= 90 for y in (y0, y1))):
        raise ExportRefused(f"--bbox {shown} is not in degrees: {BBOX} in lon/lat "
                            "(EPSG:4490; longitude -180..180, latitude -90..90)")
    if x0 > x1 or y0 > y1:
        raise ExportRefused(f"--bbox {shown}: a minimum is greater than its maximum; {BBOX}")


def output_crs(value: str | None) -> int:
    """The EPSG code to write in: EPSG codes of a horizontal CRS only."""
    if value is None or not str(value).strip():
        return crs_mod.STORAGE
    if str(value).strip().lower() in ("gcj02", "bd09"):
        raise ExportRefused(f"--crs {value}: not supported for export (an offset of web maps, "
                            "not a CRS); give an EPSG code such as EPSG:4490 (the default) "
                            "or EPSG:4547")
    try:
        code = crs_mod.epsg(value)
    except SpatialError:
        raise ExportRefused(f"--crs {value!r} is not a known CRS: give an EPSG code such as "
                            "EPSG:4490 (the default) or EPSG:4547") from None
    crs = pyproj.CRS.from_epsg(code)
    if not (crs.is_geographic or crs.is_projected):
        raise ExportRefused(f"--crs {value}: EPSG:{code} ({crs.name}) is not a CRS of "
                            "lon/lat or map coordinates; give one such as EPSG:4547")
    return code


def check_path(out: Path, fmt: str, *, overwrite: bool) -> None:
    """Refuse, before anything is written, a path the export cannot or should not write."""
    suffixes = SUFFIXES[fmt]
    if out.is_dir():
        raise ExportRefused(f"{out} is a folder: give a file name, e.g. "
                            f"{out / ('entities' + suffixes[0])}")
    if out.suffix.lower() not in suffixes:
        raise ExportRefused(f"{out}: a --format {fmt} file's name ends in "
                            f"{' or '.join(suffixes)} (e.g. {out.stem or 'entities'}"
                            f"{suffixes[0]})")
    folder = out.parent
    if not folder.is_dir():
        raise ExportRefused(f"folder {folder} does not exist: create it first, or give a path "
                            "in an existing folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportRefused(f"cannot write in folder {folder}: permission denied")
    parts = [out.with_suffix(s) for s in (".shx", ".dbf")] if fmt == "shp" else []
    if not overwrite and any(p.exists() for p in (out, *parts)):
        raise ExportRefused(f"{out} already exists: give --overwrite to replace it, or "
                            "another file name")


def export(engine: Engine, out: Path, fmt: str, f: Filter, *, crs: str | None = None,
           overwrite: bool = False, chunk: int = CHUNK,
           progress: Callable[[int], None] = lambda n: None) -> Exported:
    """Write the entities matching `f`; returns how many, with notes. Refuses mixed geometry
    types for a Shapefile (one type per file): filter by class."""
    if fmt not in DRIVERS:
        raise ExportRefused(f"--format {fmt!r}: give one of {', '.join(DRIVERS)}")
    dst = output_crs(crs)
    if f.bbox:
        check_bbox(f.bbox)
    out = Path(out)
    check_path(out, fmt, overwrite=overwrite)
    where, params = _where(f)
    # One snapshot for the geometry-type query and the export itself.
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        types = dict(conn.execute(text(f"SELECT GeometryType(e.geom), count(*) FROM entity e "
                                       f"WHERE {where} GROUP BY 1"), params).all())
        if not types:
            raise ExportRefused(_nothing(conn, f))
        tmp = out.with_name(f".{out.stem}.{secrets.token_hex(4)}.part{out.suffix}")
        # The layer is named for the file asked for (a Shapefile's is its file's name).
        opts = {"driver": DRIVERS[fmt], "layer": tmp.stem if fmt == "shp" else out.stem,
                "crs": f"EPSG:{dst}", "geometry_type": _layer_type(types, fmt),
                "encoding": "UTF-8"}
        if fmt == "csv":
            opts["layer_options"] = {"GEOMETRY": "AS_WKT"}
        try:
            written, emptied = _write(conn, _sql(where, f), {**params, **ESCAPE}, tmp, opts,
                                      dst, chunk, progress)
            _move_into_place(tmp, out, fmt)
        except (DataSourceError, DataLayerError, OSError) as e:
            raise ExportRefused(f"writing {out} failed: {e}; no file written") from None
        finally:
            for p in _parts(tmp):
                p.unlink(missing_ok=True)
    result = Exported(written)
    result.notes = (_note(emptied, written),) if emptied else ()
    return result


def _where(f: Filter) -> tuple[str, dict]:
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
    return " AND ".join(where), p


def _sql(where: str, f: Filter) -> str:
    """The rows to write; binds `special` and `escaped` (`ESCAPE`) besides the filter's."""
    sid = ("(SELECT min(source_id) FROM crosswalk c WHERE c.code = e.code "
           + ("AND c.dataset = :dataset)" if f.dataset else ")"))
    esc = "regexp_replace({}, :special, :escaped, 'g')"
    return f"""
        SELECT e.code, {sid} AS source_id, e.category, e.name, e.status, e.condition,
               e.dept_admin, e.dept_owner, e.dept_maintainer, e.attributes::text,
               (SELECT string_agg({esc.format('c.dataset')} || ':' ||
                                  {esc.format('c.source_id')}, ';'
                                  ORDER BY c.dataset, c.source_id)
                FROM crosswalk c WHERE c.code = e.code) AS sources,
               ST_AsBinary(e.geom) AS wkb
        FROM entity e WHERE {where} ORDER BY e.code"""


def _nothing(conn: Connection, f: Filter) -> str:
    """Why nothing matches: a filter that names nothing that exists, else the combination."""
    def one(sql: str, value: str) -> object:
        return conn.execute(text(sql), {"v": value}).scalar()

    wrong = []
    if f.category and one("SELECT 1 FROM category WHERE code = :v", f.category) is None:
        wrong.append(f"--category {f.category} is not a class in the dictionary (see "
                     "`citytwin category list`)")
    if f.area:
        level = one("SELECT level FROM admin_area WHERE code = :v", f.area)
        if level is None:
            wrong.append(f"--area {f.area} is not the code of a street, community or grid")
        elif level == "district":
            wrong.append(f"--area {f.area} is the district: give a street, community or grid "
                         "code, or leave --area out")
    if f.dataset and one("SELECT 1 FROM crosswalk WHERE dataset = :v LIMIT 1",
                         f.dataset) is None:
        known = conn.execute(text("SELECT dataset FROM crosswalk GROUP BY 1 ORDER BY 1 "
                                  "LIMIT 6")).scalars().all()
        shown = ", ".join(known[:5]) + (", …" if len(known) > 5 else "")
        wrong.append(f"--dataset {f.dataset} has delivered no entities (datasets: "
                     f"{shown or 'none yet'})")
    if wrong:
        return "; ".join(wrong) + ": no file written"
    if f.category or f.dataset or f.area or f.bbox:
        return "nothing matches these filters together: no file written"
    return "the registry has no active, suspended or provisional entities: no file written"


def _layer_type(types: dict[str, int], fmt: str) -> str:
    """The layer's geometry type. A Shapefile holds one; its polygon and line types hold
    the single and multi form of their family (its point and multipoint types do not)."""
    names = {GEOMETRY_NAMES.get(t.upper(), t): n for t, n in types.items()}
    if fmt != "shp":
        return names.popitem()[0] if len(names) == 1 else "Unknown"
    bases = {t.removeprefix("Multi") for t in names}
    if len(names) == 1 and bases <= {"Point", "LineString", "Polygon"}:
        return next(iter(names))
    if len(bases) == 1 and bases <= {"LineString", "Polygon"}:
        return bases.pop()
    found = ", ".join(f"{t} ({n:,})" for t, n in sorted(names.items()))
    raise ExportRefused(f"a Shapefile holds one geometry type; these entities have {found}: "
                        "export one class (--category), or use --format gpkg or fgb, which "
                        "hold any mix")


def _write(conn: Connection, sql: str, params: dict, tmp: Path, opts: dict, dst: int,
           chunk: int, progress: Callable[[int], None]) -> tuple[int, Counter]:
    """Stream the rows into `tmp` (pyogrio's `write` options `opts`); how many, and how many
    values of each field a Shapefile could not hold."""
    written, emptied = 0, Counter()
    result = conn.execution_options(stream_results=True, yield_per=chunk).execute(
        text(sql), params)
    for rows in result.partitions(chunk):
        geoms = shapely.from_wkb([bytes(r.wkb) for r in rows])
        if dst != crs_mod.STORAGE:
            geoms = _from_storage(geoms, dst)
        cols = [np.array([r[i] for r in rows], dtype=object) for i in range(len(FIELDS))]
        cols[9] = np.array([_compact(a) for a in cols[9]], dtype=object)
        if opts["driver"] == DRIVERS["shp"]:
            _fit_dbf(cols, emptied)
        write(tmp, shapely.to_wkb(geoms), cols, FIELDS, append=written > 0, **opts)
        written += len(rows)
        progress(len(rows))
    return written, emptied


def _fit_dbf(cols: list[np.ndarray], emptied: Counter) -> None:
    """Empty (not cut) the values a DBF text field cannot hold; count them by field."""
    for name, col in zip(FIELDS, cols, strict=True):
        for i, v in enumerate(col):  # 63 characters are at most 252 bytes in UTF-8
            if v is not None and len(v) > DBF_TEXT // 4 and len(v.encode()) > DBF_TEXT:
                col[i] = None
                emptied[name] += 1


def _note(emptied: Counter, written: int) -> str:
    lost = ", ".join(f"{n:,} of {written:,} records' {field}" for field, n in emptied.items())
    again = (" (importing this file would take them as emptied)"
             if any(not k.startswith("ct_") for k in emptied) else "")
    return (f"a Shapefile text field holds at most {DBF_TEXT} bytes: {lost} did not fit and "
            f"were left empty in the file, not cut{again}; a GeoPackage, FlatGeobuf or "
            "GeoJSON export keeps them whole")


def _parts(tmp: Path) -> list[Path]:
    """The temporary file and whatever GDAL made beside it (a Shapefile's parts, journals)."""
    return [p for p in tmp.parent.iterdir() if p.name.startswith(tmp.stem)]


def _move_into_place(tmp: Path, out: Path, fmt: str) -> None:
    if fmt != "shp":
        tmp.replace(out)
        return
    upper = out.suffix.isupper()  # GDAL names the parts in lower case: as the user's .SHP
    made = {out.with_name(out.stem + (p.name[len(tmp.stem):].upper() if upper else
                                      p.name[len(tmp.stem):])): p for p in _parts(tmp)}
    for new, p in made.items():
        p.replace(new)
    names = {(out.stem + s).lower() for s in SHP_PARTS}
    for old in out.parent.iterdir():  # an older Shapefile's index or metadata: now wrong
        if old.name.lower() in names and old not in made:
            old.unlink()


def _compact(text_: str | None) -> str | None:
    return None if text_ is None else json.dumps(json.loads(text_), ensure_ascii=False,
                                                 sort_keys=True, separators=(",", ":"))


def _from_storage(geoms: np.ndarray, dst: int) -> np.ndarray:
    def xy(c: np.ndarray) -> np.ndarray:
        a, b = crs_mod.transform_xy(c[:, 0], c[:, 1], crs_mod.STORAGE, dst)
        return np.column_stack([a, b])
    out = shapely.transform(geoms, xy)
    if not np.isfinite(shapely.get_coordinates(out)).all():
        raise ExportRefused(f"some entities lie outside where EPSG:{dst} is defined (their "
                            "coordinates cannot be expressed in it): give another --crs")
    return out
