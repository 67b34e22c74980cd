"""Geometry parsing, validation and repair (shapely 2), in lon/lat (CGCS2000 ≈ WGS84)."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point, shape
from shapely.geometry.base import BaseGeometry

from spatial.errors import GeometryTypeError, InvalidGeometry

FAMILY = {
    "Point": "point", "MultiPoint": "point",
    "LineString": "line", "MultiLineString": "line",
    "Polygon": "polygon", "MultiPolygon": "polygon",
}


def parse(value: Any) -> BaseGeometry:
    """A geometry from GeoJSON (dict), WKT (str), WKB (bytes) or a shapely geometry."""
    if isinstance(value, BaseGeometry):
        return value
    try:
        if isinstance(value, dict):
            _check_geojson(value)
            return shape(value)
        if isinstance(value, bytes | bytearray | memoryview):
            return shapely.from_wkb(bytes(value))
        if isinstance(value, str):
            return shapely.from_wkt(value)
    except (shapely.errors.ShapelyError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise InvalidGeometry(f"cannot read the geometry: {e}") from None
    raise InvalidGeometry(
        f"a geometry is GeoJSON, WKT or WKB; got {type(value).__name__}"
    )


_GEOJSON_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                  "MultiPolygon", "GeometryCollection")
_LONLAT_CRS = ("urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84",
               "urn:ogc:def:crs:EPSG::4490", "urn:ogc:def:crs:EPSG::4326", "EPSG:4490",
               "EPSG:4326")


def _check_geojson(value: dict[str, Any]) -> None:
    """GeoJSON's shape, checked before shapely reads it (its errors name Python internals)."""
    kind = value.get("type")
    if kind not in _GEOJSON_TYPES:
        raise InvalidGeometry(f"a GeoJSON geometry has a type: one of {', '.join(_GEOJSON_TYPES)}"
                              f"; got {kind!r}")
    crs = ((value.get("crs") or {}).get("properties") or {}).get("name")
    if crs is not None and crs not in _LONLAT_CRS:
        raise InvalidGeometry(f"the geometry's crs {crs!r} is not taken: send lon/lat (CRS84 "
                              "or EPSG:4490)")
    if kind == "GeometryCollection":
        for g in value.get("geometries") or []:
            if isinstance(g, dict):
                _check_geojson(g)
        return
    coords = value.get("coordinates")
    depth = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2,
             "Polygon": 2, "MultiPolygon": 3}[kind]

    def ok(c: Any, d: int) -> bool:
        if d == 0:
            return isinstance(c, list | tuple) and len(c) in (2, 3) and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in c)
        return isinstance(c, list | tuple) and all(ok(x, d - 1) for x in c)

    if not ok(coords, depth):
        raise InvalidGeometry(f"a GeoJSON {kind} needs coordinates as "
                              f"{'[' * depth}[x, y]{']' * depth} (numbers, lon then lat)")


def family(geom: BaseGeometry) -> str | None:
    """point, line or polygon; None for collections."""
    return FAMILY.get(geom.geom_type)


def clean(value: Any, allowed: tuple[str, ...] | list[str] = ("point", "line", "polygon"),
          *, lonlat: bool = True) -> tuple[BaseGeometry, bool]:
    """Validate a geometry for storage: refuse empty, NaN/infinite, out-of-range and disallowed
    types; repair invalid rings when the repair keeps the type. Returns (geometry, repaired)."""
    geom = parse(value)
    if geom.is_empty:
        raise InvalidGeometry("the geometry is empty")
    coords = shapely.get_coordinates(geom)
    if coords.size == 0 or not np.isfinite(coords).all():
        raise InvalidGeometry("the geometry has NaN or infinite coordinates")
    if lonlat:
        xs, ys = coords[:, 0], coords[:, 1]
        if xs.min() < -180 or xs.max() > 180 or ys.min() < -90 or ys.max() > 90:
            raise InvalidGeometry(
                "coordinates are outside lon -180..180 / lat -90..90: "
                "are they metres (a projected CRS) or is the axis order swapped?"
            )
    if isinstance(geom, MultiPoint) and len(geom.geoms) == 1:
        geom = geom.geoms[0]
    fam = family(geom)
    if fam is None or (geom.geom_type == "MultiPoint"):
        raise GeometryTypeError(
            f"a {geom.geom_type} is not stored as one entity; "
            "give a Point, (Multi)LineString or (Multi)Polygon"
        )
    if fam not in allowed:
        raise GeometryTypeError(
            f"a {geom.geom_type} is not allowed here; allowed: {', '.join(allowed)}"
        )
    repaired = False
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        fixed = shapely.make_valid(geom)
        if fixed.geom_type == "GeometryCollection":
            parts = [g for g in fixed.geoms if family(g) == fam]
            fixed = shapely.union_all(parts) if parts else fixed
        if family(fixed) != fam or fixed.is_empty or not fixed.is_valid:
            raise InvalidGeometry(f"invalid geometry ({reason}) and no repair keeps its type")
        geom, repaired = fixed, True
    return shapely.force_2d(geom), repaired


def representative_point(geom: BaseGeometry) -> Point:
    """The point an entity is placed and indexed by (same GEOS algorithm as PostGIS's
    ST_PointOnSurface, so Python and SQL agree)."""
    return geom if isinstance(geom, Point) else geom.point_on_surface()


def representative_points(geoms: np.ndarray) -> np.ndarray:
    """`representative_point` of an array of geometries, vectorised."""
    points = geoms.copy()
    other = shapely.get_type_id(geoms) != 0
    points[other] = shapely.point_on_surface(geoms[other])
    return points
