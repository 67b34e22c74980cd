"""Coordinate conversions the generator needs: CGCS2000 lon/lat (EPSG:4490) ↔ CGCS2000 3-degree
Gauss-Krüger CM 114E (EPSG:4547, metres), and WGS84 → GCJ-02 (the web-map offset PROJ refuses)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import shapely
from pyproj import Transformer

from spatial import crs

LONLAT = 4490
METRES = 4547


@cache
def _transformer(src: int, dst: int) -> Transformer:
    # always_xy: EPSG:4547 is northing-first in its definition; we always pass (x, y).
    return Transformer.from_crs(src, dst, always_xy=True)


def to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = _transformer(METRES, LONLAT).transform(x, y)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def to_metres(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = _transformer(LONLAT, METRES).transform(lon, lat)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


XY = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _apply(geoms: np.ndarray, fn: XY) -> np.ndarray:
    def xy(c: np.ndarray) -> np.ndarray:
        a, b = fn(c[:, 0], c[:, 1])
        return np.column_stack([a, b])
    return shapely.transform(geoms, xy)


def geoms_to_lonlat(geoms: np.ndarray) -> np.ndarray:
    return _apply(geoms, to_lonlat)


def geoms_to_metres(geoms: np.ndarray) -> np.ndarray:
    return _apply(geoms, to_metres)


def to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 (= CGCS2000 at this precision) → GCJ-02, as Chinese web-map platforms store it."""
    return crs.to_gcj02(lon, lat)


def from_gcj02(lon: np.ndarray, lat: np.ndarray, iterations: int = 6) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """GCJ-02 → WGS84 (spatial owns the conversion; the generator and its tests use it)."""
    return crs.from_gcj02(lon, lat, iterations)
