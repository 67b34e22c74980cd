"""PMTiles v3 export of a tile layer, for offline use and CDNs: every tile of the district's
bounds from minzoom to maxzoom, in tile-id order (a clustered archive)."""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable, Iterator
from pathlib import Path

from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer
from sqlalchemy import Connection

from registry.errors import InvalidParameter
from tiles import grid
from tiles.service import TileService

MAX_TILES = 2_000_000


def tile_range(bounds: tuple[float, float, float, float], z: int) -> Iterator[tuple[int, int]]:
    minx, miny, maxx, maxy = bounds
    n = 1 << z

    def col(lon: float) -> int:
        return min(n - 1, max(0, int((lon + 180) / 360 * n)))

    def row(lat: float) -> int:
        r = math.radians(max(min(lat, 85.0511), -85.0511))
        return min(n - 1, max(0, int((1 - math.asinh(math.tan(r)) / math.pi) / 2 * n)))

    for x in range(col(minx), col(maxx) + 1):
        for y in range(row(maxy), row(miny) + 1):
            yield x, y


def count_tiles(bounds: tuple[float, float, float, float], minzoom: int, maxzoom: int) -> int:
    return sum(sum(1 for _ in tile_range(bounds, z)) for z in range(minzoom, maxzoom + 1))


def export(conn: Connection, service: TileService, layer: str, minzoom: int, maxzoom: int,
           bounds: tuple[float, float, float, float], out: Path,
           progress: Callable[[int], None] = lambda n: None) -> int:
    """Write the archive; returns the number of non-empty tiles written."""
    if not 0 <= minzoom <= maxzoom <= grid.MAX_ZOOM:
        raise InvalidParameter(f"zooms must satisfy 0 ≤ minzoom ≤ maxzoom ≤ {grid.MAX_ZOOM}")
    total = count_tiles(bounds, minzoom, maxzoom)
    if total > MAX_TILES:
        raise InvalidParameter(f"{total} tiles is more than {MAX_TILES}; lower maxzoom")
    jobs = sorted((zxy_to_tileid(z, x, y), z, x, y) for z in range(minzoom, maxzoom + 1)
                  for x, y in tile_range(bounds, z))
    written = 0
    tmp = out.with_suffix(out.suffix + ".part")
    with tmp.open("wb") as f:
        writer = Writer(f)
        for tile_id, z, x, y in jobs:
            served = service.get(conn, layer, z, x, y)
            if not served.empty:
                # An archive is written once and read many times: the smallest gzip.
                writer.write_tile(tile_id, gzip.compress(gzip.decompress(served.gzipped), 9,
                                                         mtime=0))
                written += 1
            progress(1)
        lon = (bounds[0] + bounds[2]) / 2
        lat = (bounds[1] + bounds[3]) / 2
        writer.finalize({
            "tile_type": TileType.MVT, "tile_compression": Compression.GZIP,
            "min_zoom": minzoom, "max_zoom": maxzoom,
            "min_lon_e7": int(bounds[0] * 1e7), "min_lat_e7": int(bounds[1] * 1e7),
            "max_lon_e7": int(bounds[2] * 1e7), "max_lat_e7": int(bounds[3] * 1e7),
            "center_zoom": (minzoom + maxzoom) // 2, "center_lon_e7": int(lon * 1e7),
            "center_lat_e7": int(lat * 1e7),
        }, {"name": f"citytwin {layer}", "format": "pbf",
            "vector_layers": [{"id": i} for i in
                              (service.map_layers if layer == "map" else [layer])]})
    tmp.replace(out)
    return written
