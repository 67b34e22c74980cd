"""Web Mercator tile arithmetic: z/x/y checks, bounds, and which H3 resolution aggregates
points at a zoom."""

from __future__ import annotations

import math

import h3

from registry.errors import InvalidParameter

WORLD = 20037508.342789244  # half the Web Mercator world, metres
MAX_ZOOM = 22
#: Below this zoom points are shown as H3 hexagon aggregates (a raw z12 tile of 1M points was
#: 5.3 MB and took 0.75 s); from it on, raw features within the per-tile budget.
RAW_MINZOOM = 14
_RES_BY_ZOOM = {10: 7, 11: 7, 12: 8, 13: 9}


def check(z: int, x: int, y: int) -> None:
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidParameter(f"zoom must be 0..{MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise InvalidParameter(f"at zoom {z}, x and y must be 0..{n - 1}")


def bounds_3857(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    size = 2 * WORLD / (1 << z)
    minx = -WORLD + x * size
    maxy = WORLD - y * size
    return minx, maxy - size, minx + size, maxy


def bounds_lonlat(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    n = 1 << z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def h3_resolution(z: int) -> int:
    """The hexagon size that reads well at zoom z (a few dozen pixels across)."""
    return 6 if z < 10 else _RES_BY_ZOOM.get(z, 9)


#: Raw tiles carry BUFFER pixels of margin (of EXTENT) so lines and polygons show no seams.
EXTENT = 4096
BUFFER = 64


def margin(z: int, hexagons: bool) -> float:
    """How far past its edges (as a fraction of its width) a tile reads data: the MVT buffer
    for raw features; a hexagon and a bit for aggregates, so edge cells count all their points.
    The cache widens invalidation by the larger of the two."""
    if not hexagons:
        return BUFFER / EXTENT
    tile_m = 2 * WORLD / (1 << z)
    return 2.2 * h3.average_hexagon_edge_length(h3_resolution(z), "m") / tile_m
