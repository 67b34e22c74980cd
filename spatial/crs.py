"""Coordinate reference systems: parse what users write (EPSG codes, OGC URIs, CRS84) and
transform to and from the storage CRS, CGCS2000 lon/lat (EPSG:4490), always x/y order."""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pyproj
import shapely
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from spatial.errors import SpatialError

STORAGE = 4490
CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_EPSG_URI = re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/0/(\d+)$")


def epsg(value: str | int | None) -> int:
    """The EPSG code a user means: 4547, "EPSG:4547", an OGC URI, or CRS84 (→ 4326 lon/lat).
    None means the storage CRS."""
    if value is None or value == "":
        return STORAGE
    text = str(value).strip()
    if text.upper() in ("CRS84", "OGC:CRS84") or text == CRS84_URI:
        return 4326
    m = _EPSG_URI.match(text)
    code = m.group(1) if m else text.upper().removeprefix("EPSG:")
    if not code.isdigit():
        raise SpatialError(f"unknown CRS {text!r}: give an EPSG code such as EPSG:4547 or CRS84")
    try:
        pyproj.CRS.from_epsg(int(code))
    except CRSError:
        raise SpatialError(f"unknown CRS EPSG:{code}") from None
    return int(code)


@cache
def _transformer(src: int, dst: int) -> pyproj.Transformer:
    # always_xy: EPSG:4547 and 4490 put northing / latitude first in their definitions.
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


def transform_xy(x: np.ndarray, y: np.ndarray, src: int, dst: int = STORAGE
                 ) -> tuple[np.ndarray, np.ndarray]:
    if src == dst:
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    a, b = _transformer(src, dst).transform(x, y, errcheck=False)
    return np.asarray(a, dtype=float), np.asarray(b, dtype=float)


def transform(geom: BaseGeometry, src: int, dst: int = STORAGE) -> BaseGeometry:
    if src == dst:
        return geom

    def xy(coords: np.ndarray) -> np.ndarray:
        a, b = transform_xy(coords[:, 0], coords[:, 1], src, dst)
        return np.column_stack([a, b])

    out = shapely.transform(geom, xy)
    if not np.isfinite(shapely.get_coordinates(out)).all():
        raise SpatialError(f"coordinates cannot be transformed from EPSG:{src} to EPSG:{dst}: "
                           "are they in that CRS?")
    return out


def is_geographic(code: int) -> bool:
    return pyproj.CRS.from_epsg(code).is_geographic


def uri(code: int | None) -> str:
    """The OGC URI of an EPSG code; None is CRS84 (lon/lat)."""
    return CRS84_URI if code is None else f"http://www.opengis.net/def/crs/EPSG/0/{code}"


def output(value: str | None, allowed: list[str], param: str = "crs"
           ) -> tuple[int, bool, str]:
    """(srid to transform to, latitude/northing first?, URI) for a `crs` (or `param`) request
    parameter. CRS84 is the storage CRS read lon/lat (CGCS2000 ≈ WGS84 here, no transform)."""
    text = (value or CRS84_URI).strip()
    code = None if text in (CRS84_URI, "CRS84", "OGC:CRS84") else epsg(text)
    name = "CRS84" if code is None else f"EPSG:{code}"
    if name not in allowed:
        raise SpatialError(f"{param} {text!r} is not offered; use one of "
                           + ", ".join(uri(None if a == "CRS84" else epsg(a)) for a in allowed))
    if code is None:
        return STORAGE, False, CRS84_URI
    axis = pyproj.CRS.from_epsg(code).axis_info
    lat_first = bool(axis) and axis[0].direction.lower() in ("north", "south")
    return code, lat_first, uri(code)


# GCJ-02 and BD-09 are the offsets Chinese web maps apply by law; PROJ has no definition for
# them, so they are converted here (xyconvert implements the public algorithm) before any
# other transform or H3 cell is computed. Strings, not EPSG codes, name them.
OFFSET_CRS = ("gcj02", "bd09")


def to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 (= CGCS2000 at this precision) → GCJ-02."""
    from xyconvert import wgs2gcj

    if len(lon) == 0:
        return np.empty(0), np.empty(0)
    out = wgs2gcj(np.column_stack([lon, lat]).astype(float))
    return out[:, 0].copy(), out[:, 1].copy()


def from_gcj02(lon: np.ndarray, lat: np.ndarray, iterations: int = 6
               ) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS84 by fixed-point iteration of the forward formula: millimetres after a
    few steps, where the one-step inverse libraries ship is only good to 1-2 m."""
    from xyconvert import wgs2gcj

    if len(lon) == 0:
        return np.empty(0), np.empty(0)
    g = np.column_stack([lon, lat]).astype(float)
    w = g.copy()
    for _ in range(iterations):
        w -= wgs2gcj(w) - g
    return w[:, 0].copy(), w[:, 1].copy()


def from_bd09(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 (Baidu) → WGS84: BD-09 is a closed-form offset of GCJ-02, then as above."""
    from xyconvert import bd2gcj

    if len(lon) == 0:
        return np.empty(0), np.empty(0)
    g = bd2gcj(np.column_stack([lon, lat]).astype(float))
    return from_gcj02(g[:, 0], g[:, 1])


def offset_to_storage(geoms: np.ndarray, kind: str) -> np.ndarray:
    """Geometries in GCJ-02 or BD-09 lon/lat → CGCS2000 lon/lat (vectorised over an array)."""
    fn = {"gcj02": from_gcj02, "bd09": from_bd09}[kind]

    def xy(c: np.ndarray) -> np.ndarray:
        a, b = fn(c[:, 0], c[:, 1])
        return np.column_stack([a, b])
    return shapely.transform(geoms, xy)
