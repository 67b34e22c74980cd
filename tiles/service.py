"""Serving tiles: sources by layer id, the composite map tile (MVT layers concatenate), and the
cache in front of them, storing gzip bytes so a cached tile costs no compression."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, replace

from sqlalchemy import Connection

from registry.errors import NotFound
from registry.layers import Catalog
from tiles import grid
from tiles.cache import TileCache
from tiles.sources import TileSource, build

MAP = "map"  # the composite of every layer the style draws
#: gzip level of a tile made on a miss. Level 6 took 25 ms for a 1 MB tile of 24,000 points —
#: a third of the request's CPU —, level 1 6.5 ms for 17 % more bytes (bench/tiles.py).
GZIP_LEVEL = 1
DENSITY = "-density"  # suffix: a layer's H3 hexagon counts at every zoom


@dataclass(frozen=True)
class Served:
    gzipped: bytes
    aggregated: bool
    empty: bool
    etag: str
    cached: bool = False


class TileService:
    def __init__(self, catalog: Catalog, *, budget: int = 25_000, cache_tiles: int = 20_000,
                 check_every: float = 0.5) -> None:
        self.sources: dict[str, TileSource] = build(catalog, budget)
        self.map_layers = [i for i in self.sources if i != "entities"]
        self.cache = TileCache(cache_tiles, check_every)

    def layer_ids(self) -> list[str]:
        return list(self.sources)

    def get(self, conn: Connection, layer_id: str, z: int, x: int, y: int) -> Served:
        base = layer_id.removesuffix(DENSITY)
        if layer_id != MAP and (base not in self.sources
                                or (base != layer_id and self.sources[base].hex_sql is None)):
            raise NotFound(f"no tile layer {layer_id!r}; the layers are "
                           f"{', '.join([MAP, *self.sources])}, and LAYER{DENSITY} for the "
                           "hexagon counts of an entity layer")
        grid.check(z, x, y)
        self.cache.sync(conn)
        key = (layer_id, z, x, y)
        hit = self.cache.get(key)
        if hit is not None:
            return replace(hit, cached=True)
        if base != layer_id:
            tiles = [self.sources[base].hexagons(conn, z, x, y)]
        else:
            ids = self.map_layers if layer_id == MAP else [layer_id]
            tiles = [self.sources[i].tile(conn, z, x, y) for i in ids]
        data = b"".join(t.data for t in tiles)  # MVT layers concatenate into one tile
        served = Served(gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0),
                        any(t.aggregated for t in tiles), not data,
                        '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"')
        self.cache.put(key, served)
        return served

    def changed(self) -> None:
        """A write went through this process: look at the change feed on the next request."""
        self.cache.mark_dirty()
