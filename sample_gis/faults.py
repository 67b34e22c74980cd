"""The faults departments' files really have, seeded at known counts: duplicate records inside a
file, missing attributes, invalid geometries (self-intersecting building rings, zero-length
pipes), records outside the district. (城管's copies of 水务 manholes 1-3 m off are made in
`sources`; the forgotten .cpg / .prj sidecars in `writers`.)

The same faults, on the same records, are in both editions: `plan` picks them once, among
entities neither edition changes, and `apply` seeds them into each edition's tables."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry.base import BaseGeometry

from sample_gis import coords
from sample_gis.editions import Changes
from sample_gis.entities import Population, filled
from sample_gis.network import Network
from sample_gis.sources import SOURCES, Delivery, FileSpec, Table

#: (share of a file's records, minimum) per fault.
RATES = {"duplicate": (0.001, 3), "missing": (0.002, 5), "outside": (0.0005, 3),
         "invalid_polygon": (0.005, 5), "invalid_line": (0.001, 3)}
#: Fields a department leaves empty now and then (never empty otherwise).
MISSING_FIELDS = {"chengguan": ["ObjState", "DeptName3", "ORDate"],
                  "shuiwu": ["ZT", "QSDW", "AZRQ"], "zhujian": ["JZCS", "JGRQ", "JZMC"],
                  "iot": ["install_time", "vendor", "address"],
                  "cameras": ["install_date", "status", "device_sn"]}
OUTSIDE = (300.0, 4000.0)  # metres beyond the district boundary


@dataclass
class FilePlan:
    duplicate: np.ndarray  # entity indexes whose record appears twice
    duplicate_at: np.ndarray  # where the copy goes, as a share of the file's length
    missing: np.ndarray
    missing_field: np.ndarray
    invalid: np.ndarray
    outside_template: np.ndarray  # entity whose record an outside record copies
    outside_x: np.ndarray  # where it stands (metres)
    outside_y: np.ndarray
    outside_distance: np.ndarray
    outside_id: list[str] = field(default_factory=list)


def _count(kind: str, n: int) -> int:
    share, least = RATES[kind]
    return min(n, max(least, int(round(n * share))))


def plan(pop: Population, dv: Delivery, changes: Changes, net: Network,
         rng: np.random.Generator) -> dict[str, FilePlan]:
    stable = changes.in_v1 & changes.in_v2 & ~changes.touched
    stable[dv.twin] = False  # the twins carry their own fault: leave them clean
    ring = net.district.buffer(OUTSIDE[1]).difference(net.district.buffer(OUTSIDE[0]))
    out: dict[str, FilePlan] = {}
    for src in SOURCES.values():
        for spec in src.files:
            mine = np.isin(pop.category, spec.categories) & np.not_equal(dv.ids[src.key], None)
            pool = rng.permutation(np.flatnonzero(mine & stable))
            n = int(mine.sum())
            k_dup, k_miss, k_out = (_count(k, n) for k in ("duplicate", "missing", "outside"))
            k_inv = {"polygon": _count("invalid_polygon", n), "line": _count("invalid_line", n)}
            k_inv = k_inv.get(spec.kind, 0) if spec.source != "chengguan" else 0
            dup = np.sort(pool[:k_dup])
            miss = np.sort(pool[k_dup:k_dup + k_miss])
            inv = np.sort(pool[k_dup + k_miss:k_dup + k_miss + k_inv])
            fields = MISSING_FIELDS[src.key]
            ox, oy = _points_in(ring, k_out, rng)
            clean = pool[k_dup + k_miss + k_inv:]  # outside records copy a clean record
            tmpl = np.sort(rng.choice(clean if len(clean) else pool, size=k_out))
            fp = FilePlan(dup, rng.random(len(dup)), miss,
                          np.array(fields, dtype=object)[rng.integers(len(fields), size=len(miss))],
                          inv, tmpl, ox, oy, shapely.distance(
                              net.district.boundary, shapely.points(ox, oy)))
            fp.outside_id = [dv.new_id(src.key, str(code)) for code in pop.category[tmpl]]
            out[spec.key] = fp
    return out


def _points_in(region: BaseGeometry, n: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    minx, miny, maxx, maxy = region.bounds
    xs: list[float] = []
    ys: list[float] = []
    shapely.prepare(region)
    while len(xs) < n:
        x, y = rng.uniform((minx, miny), (maxx, maxy), size=(4 * n, 2)).T
        ok = shapely.contains_xy(region, x, y)
        xs += list(x[ok])
        ys += list(y[ok])
    return np.array(xs[:n]), np.array(ys[:n])


def apply(t: Table, fp: FilePlan) -> Table:
    """The table with the file's faults seeded (rows are copied, never shared)."""
    t = t.take(np.arange(len(t)))
    src = t.source
    for e, f in zip(fp.missing, fp.missing_field, strict=True):
        row = np.searchsorted(t.entity, e)
        col = t.cols[f]
        col[row] = np.datetime64("NaT") if col.dtype.kind == "M" else None
    for e in fp.invalid:
        row = np.searchsorted(t.entity, e)
        t.geom[row] = _break(t.geom[row])
    if len(fp.outside_template):
        rows = np.searchsorted(t.entity, fp.outside_template)
        extra = t.take(rows)
        dx, dy = fp.outside_x - extra.x, fp.outside_y - extra.y
        extra.x, extra.y = fp.outside_x.copy(), fp.outside_y.copy()
        if extra.geom is not None:
            extra.geom = np.array([shapely.affinity.translate(g, a, b) for g, a, b in
                                   zip(extra.geom, dx, dy, strict=True)], dtype=object)
        extra.entity = np.full(len(extra), -1)
        extra.cols[src.id_field] = np.array(fp.outside_id, dtype=object)
        _relocate_text(extra)
        t = _concat(t, extra)
    if len(fp.duplicate):
        rows = np.searchsorted(t.entity[t.entity >= 0], fp.duplicate)
        at = np.floor(fp.duplicate_at * len(t)).astype(int)
        order = np.insert(np.arange(len(t)), at, rows)
        t = t.take(order)
    return t


def _relocate_text(t: Table) -> None:
    """Coordinates written as text (the CSVs) follow the record to where it now stands."""
    lon, lat = coords.to_lonlat(t.x, t.y)
    if "lng" in t.cols:
        glon, glat = coords.to_gcj02(lon, lat)
        t.cols["lng"], t.cols["lat"] = np.round(glon, 6), np.round(glat, 6)
    if "WKT" in t.cols:
        t.cols["WKT"] = np.array([f"POINT ({a:.8f} {b:.8f})" for a, b in
                                  zip(lon, lat, strict=True)], dtype=object)
    if "BGID" in t.cols:
        t.cols["BGID"] = filled("", len(t))


def _break(g: BaseGeometry) -> BaseGeometry:
    """A bow-tie ring (two corners swapped) or a zero-length line, as digitising slips make."""
    c = shapely.get_coordinates(g)
    if g.geom_type == "Polygon":
        return shapely.Polygon([c[0], c[2], c[1], *c[3:]])
    return shapely.LineString([c[0], c[0]])


def _concat(a: Table, b: Table) -> Table:
    geom = None if a.geom is None else np.concatenate([a.geom, b.geom])
    return Table(a.spec, np.concatenate([a.entity, b.entity]), np.concatenate([a.x, b.x]),
                 np.concatenate([a.y, b.y]), geom,
                 {k: np.concatenate([a.cols[k], b.cols[k]]) for k in a.cols})


def records(spec: FileSpec, fp: FilePlan, dv: Delivery) -> dict[str, list[dict]]:
    """The faults of one file as the manifest lists them."""
    ids = dv.ids[spec.source]
    reason = "self-intersecting ring" if spec.kind == "polygon" else "zero-length line"
    return {
        "duplicate_in_file": [{"file": spec.key, "source_id": ids[e], "copies": 2}
                              for e in fp.duplicate],
        "missing_attribute": [{"file": spec.key, "source_id": ids[e], "field": f}
                              for e, f in zip(fp.missing, fp.missing_field, strict=True)],
        "invalid_geometry": [{"file": spec.key, "source_id": ids[e], "reason": reason}
                             for e in fp.invalid],
        "outside_district": [{"file": spec.key, "source_id": i, "distance_m": round(float(d), 1)}
                             for i, d in zip(fp.outside_id, fp.outside_distance, strict=True)],
    }
