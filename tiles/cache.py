"""An in-process tile cache that a write invalidates exactly where it touched.

Every entity write appends a version with a sequence number (`entity_version.seq`). The cache
remembers the last sequence it has seen; when the registry has moved on (checked at most every
`check_every` seconds, and at once after a write through this process), it reads the changed
versions' old and new bounding boxes and drops only the cached tiles they intersect, at every
zoom. Imports and other workers write versions too, so they invalidate the same way."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from sqlalchemy import Connection, text

from tiles import grid

Key = tuple[str, int, int, int]
BBox = tuple[float, float, float, float]

_LATEST = text("SELECT max(seq) FROM entity_version")
_CHANGED = text("""
    SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (
        SELECT ST_Envelope(coalesce(v.geom, (SELECT e.geom FROM entity e WHERE e.code = v.code)))
               AS b FROM entity_version v  -- a thin open version: the entity's (0007)
        WHERE v.seq > :since AND v.seq <= :upto
        UNION ALL
        SELECT ST_Envelope(p.geom) FROM entity_version v
        JOIN entity_version p ON p.code = v.code AND p.version = v.version - 1
        WHERE v.seq > :since AND v.seq <= :upto) s
    LIMIT :cap
""")


class TileCache:
    def __init__(self, max_tiles: int = 20_000, check_every: float = 0.5,
                 max_changes: int = 5_000) -> None:
        self.max_tiles = max_tiles
        self.check_every = check_every
        self.max_changes = max_changes
        self._tiles: OrderedDict[Key, Any] = OrderedDict()
        self._seq: int | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self.hits = self.misses = self.evicted = 0

    def get(self, key: Key) -> Any | None:
        with self._lock:
            value = self._tiles.get(key)
            if value is None:
                self.misses += 1
                return None
            self._tiles.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Key, value: Any) -> None:
        with self._lock:
            self._tiles[key] = value
            self._tiles.move_to_end(key)
            while len(self._tiles) > self.max_tiles:
                self._tiles.popitem(last=False)

    def sync(self, conn: Connection, *, force: bool = False) -> None:
        """Drop the tiles that changes since the last sync touched."""
        now = time.monotonic()
        if not force and now - self._checked < self.check_every:
            return
        self._checked = now
        latest = conn.execute(_LATEST).scalar() or 0
        if self._seq is None or latest < self._seq:  # first use, or a reset database
            self.clear(latest)
            return
        if latest == self._seq:
            return
        boxes = conn.execute(_CHANGED, {"since": self._seq, "upto": latest,
                                        "cap": self.max_changes + 1}).all()
        if len(boxes) > self.max_changes:
            self.clear(latest)  # a large import: start afresh
            return
        self.invalidate([tuple(b) for b in boxes])
        self._seq = latest

    def mark_dirty(self) -> None:
        self._checked = 0.0

    def invalidate(self, boxes: list[BBox]) -> int:
        with self._lock:
            doomed = [key for key in self._tiles if _touches(key, boxes)]
            for key in doomed:
                del self._tiles[key]
            self.evicted += len(doomed)
            return len(doomed)

    def clear(self, seq: int | None = None) -> None:
        with self._lock:
            self._tiles.clear()
            self._seq = seq

    def __len__(self) -> int:
        return len(self._tiles)


def _touches(key: Key, boxes: list[BBox]) -> bool:
    _, z, x, y = key
    minx, miny, maxx, maxy = grid.bounds_lonlat(z, x, y)
    m = max(grid.margin(z, True), grid.margin(z, False))  # how far past its edges it read
    w, h = (maxx - minx) * m, (maxy - miny) * m
    minx, miny, maxx, maxy = minx - w, miny - h, maxx + w, maxy + h
    return any(b[0] <= maxx and b[2] >= minx and b[1] <= maxy and b[3] >= miny for b in boxes)
