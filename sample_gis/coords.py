"""Coordinate conversions the generator needs: CGCS2000 lon/lat (EPSG:4490) ↔ CGCS2000 3-degree
Gauss-Krüger CM 114E (EPSG:4547, metres), and WGS84 → GCJ-02 (the web-map offset PROJ refuses)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import shapely
from pyproj import Transformer
from xyconvert import wgs2gcj

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
    if len(lon) == 0:
        return np.empty(0), np.empty(0)
    out = wgs2gcj(np.column_stack([lon, lat]))
    return out[:, 0].copy(), out[:, 1].copy()


def from_gcj02(lon: np.ndarray, lat: np.ndarray, iterations: int = 6) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """GCJ-02 → WGS84 by fixed-point iteration of the forward formula (mm after a few steps;
    the one-step inverse most libraries ship is only good to 1-2 m)."""
    g = np.column_stack([lon, lat])
    w = g.copy()
    for _ in range(iterations):
        w -= wgs2gcj(w) - g
    return w[:, 0].copy(), w[:, 1].copy()
