"""Area requests — bbox, polygon, point + radius, H3 cells, admin area — parsed, checked and
brought to the storage CRS. Every refusal says what to fix."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import h3 as h3lib
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from spatial import crs as crslib
from spatial import geometry as geo
from spatial import h3
from spatial.errors import SpatialError

MAX_VERTICES = 10_000
MAX_RADIUS_M = 50_000
MAX_CELLS = 10_000


@dataclass(frozen=True)
class Envelope:
    minx: float
    miny: float
    maxx: float
    maxy: float

    @property
    def geometry(self) -> BaseGeometry:
        return box(self.minx, self.miny, self.maxx, self.maxy)


@dataclass(frozen=True)
class Shape:
    geometry: BaseGeometry  # valid (Multi)Polygon in EPSG:4490
    repaired: bool = False  # the request's polygon was invalid and was repaired


@dataclass(frozen=True)
class Circle:
    lon: float
    lat: float
    radius_m: float

    def polygon(self, segments: int = 64) -> Polygon:
        """The circle as a lon/lat polygon (local metres-per-degree; for covers, not for
        exact tests)."""
        dlat = self.radius_m / 110_574
        dlon = self.radius_m / (111_320 * math.cos(math.radians(self.lat)))
        a = np.linspace(0, 2 * np.pi, segments + 1)
        return Polygon(np.column_stack([self.lon + dlon * np.cos(a), self.lat + dlat * np.sin(a)]))


@dataclass(frozen=True)
class Cells:
    cells: tuple[int, ...]  # BIGINT cells, any resolution ≤ the stored one
    #: True: lines and polygons match by the cells their footprint touches; False: every
    #: entity by its representative point only (what approximate counts use).
    footprint: bool = True


@dataclass(frozen=True)
class Admin:
    code: str


Area = Envelope | Shape | Circle | Cells | Admin


def _numbers(values: Any, n: int, what: str) -> list[float]:
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip() != ""]
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise SpatialError(f"{what} takes {n} numbers separated by commas") from None
    if len(out) != n:
        raise SpatialError(f"{what} takes {n} numbers (got {len(out)})")
    if not all(math.isfinite(v) for v in out):
        raise SpatialError(f"{what} has a number that is not finite")
    return out


def _check_lonlat(lon: float, lat: float, what: str) -> None:
    if not -90 <= lat <= 90:
        raise SpatialError(f"{what}: latitude {lat} is outside -90..90 (lon/lat order?)")
    if not -180 <= lon <= 180:
        raise SpatialError(f"{what}: longitude {lon} is outside -180..180")


def bbox(values: Any, crs: str | int | None = None) -> Envelope:
    """minx,miny,maxx,maxy in `crs` (default EPSG:4490 lon/lat; 6 numbers are refused)."""
    minx, miny, maxx, maxy = _numbers(values, 4, "bbox")
    if minx > maxx or miny > maxy:
        raise SpatialError("bbox is minx,miny,maxx,maxy with min ≤ max on both axes")
    src = crslib.epsg(crs)
    if crslib.is_geographic(src):
        _check_lonlat(minx, miny, "bbox")
        _check_lonlat(maxx, maxy, "bbox")
    if src != crslib.STORAGE:
        # Points along the edges: a projected box is not a lon/lat box (a box of no width
        # or height too).
        xs, ys = np.linspace(minx, maxx, 17), np.linspace(miny, maxy, 17)
        edges = shapely.multipoints(np.column_stack([
            np.concatenate([xs, xs, np.full(17, minx), np.full(17, maxx)]),
            np.concatenate([np.full(17, miny), np.full(17, maxy), ys, ys])]))
        minx, miny, maxx, maxy = crslib.transform(edges, src).bounds
        if not (np.isfinite([minx, miny, maxx, maxy]).all() and -180 <= minx <= maxx <= 180
                and -90 <= miny <= maxy <= 90):
            raise SpatialError(f"bbox is outside the area where EPSG:{src} is defined")
    return Envelope(minx, miny, maxx, maxy)


def polygon(value: Any, crs: str | int | None = None, *,
            max_vertices: int = MAX_VERTICES) -> Shape:
    """A (multi)polygon from GeoJSON or WKT; an invalid one is repaired and flagged."""
    geom = geo.parse(value)
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise SpatialError(f"the area must be a Polygon or MultiPolygon, not {geom.geom_type}")
    vertices = shapely.get_num_coordinates(geom)
    if vertices > max_vertices:
        raise SpatialError(f"the polygon has {vertices} vertices; at most {max_vertices} are "
                           "accepted: simplify it first")
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise SpatialError("the polygon has NaN or infinite coordinates")
    src = crslib.epsg(crs)
    if crslib.is_geographic(src):
        if (np.abs(coords[:, 1]) > 90).any() or (np.abs(coords[:, 0]) > 180).any():
            raise SpatialError("the polygon has coordinates outside lon -180..180 / lat -90..90")
    geom = crslib.transform(geom, src)
    repaired = False
    if not geom.is_valid:
        fixed = shapely.make_valid(geom)
        parts = [g for g in getattr(fixed, "geoms", [fixed])
                 if isinstance(g, Polygon | MultiPolygon)]
        fixed = shapely.union_all(parts) if parts else None
        if fixed is None or fixed.is_empty or fixed.area == 0:
            raise SpatialError(f"the polygon is invalid ({shapely.is_valid_reason(geom)}) and "
                               "cannot be repaired into an area")
        geom, repaired = fixed, True
    return Shape(geom, repaired)


def circle(lon: float, lat: float, radius_m: float, crs: str | int | None = None, *,
           max_radius_m: float = MAX_RADIUS_M) -> Circle:
    x, y, r = _numbers([lon, lat, radius_m], 3, "point and radius")
    if not 0 < r <= max_radius_m:
        raise SpatialError(
            f"radius must be more than 0 and at most {max_radius_m:g} m (got {r:g})"
        )
    src = crslib.epsg(crs)
    if crslib.is_geographic(src):
        _check_lonlat(x, y, "point")
    else:
        (x,), (y,) = crslib.transform_xy(np.array([x]), np.array([y]), src)
    return Circle(x, y, r)


def cells(values: Any, k: int = 0, *, max_cells: int = MAX_CELLS) -> Cells:
    """H3 cells from strings (a list or comma-separated), or one cell and its k-ring."""
    items = [v for v in (values.split(",") if isinstance(values, str) else values) if v]
    if not items:
        raise SpatialError("give at least one H3 cell")
    if k < 0:
        raise SpatialError("k (the ring size) must be 0 or more")
    if k and len(items) != 1:
        raise SpatialError("a k-ring takes exactly one centre cell")
    parsed = [h3.parse(v) for v in items[:max_cells + 1]]
    if k:
        if 3 * k * (k + 1) + 1 > max_cells:
            raise SpatialError(f"a k-ring of {k} has more than {max_cells} cells")
        parsed = [h3lib.str_to_int(c) for c in h3lib.grid_disk(h3.to_str(parsed[0]), k)]
    if len(parsed) > max_cells:
        raise SpatialError(f"at most {max_cells} cells per request")
    for c in parsed:
        if h3.resolution(c) > h3.FINE_RES:
            raise SpatialError(f"cell {h3.to_str(c)} is finer than resolution {h3.FINE_RES}, "
                               "the finest the registry indexes")
    return Cells(tuple(sorted(set(parsed))))


def admin(code: str) -> Admin:
    code = code.strip()
    if not code.isdigit() or not 6 <= len(code) <= 18:
        raise SpatialError(f"{code!r} is not an area code (street 9 digits, community 12, grid "
                           "more)")
    return Admin(code)
