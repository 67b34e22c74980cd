"""Admin placement of many points at once: the rule of the SQL `area_code()` (of the areas of a
level that a point intersects, the one with the lowest code) run in Python over numpy arrays,
so that an import of a million points does not make three index look-ups per row in SQL
(3.8 of 5 s of an import's SQL, bench/import.py). Lines and polygons stay with `place_sql`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import Connection, text

LEVELS = ("street", "community", "grid")


@dataclass
class Placer:
    """The streets, communities and grids of the registry, prepared, in code order."""

    areas: dict[str, list[tuple[str, shapely.Geometry, tuple[float, float, float, float]]]]

    @classmethod
    def load(cls, conn: Connection) -> Placer:
        areas: dict[str, list[tuple[str, shapely.Geometry, tuple[float, ...]]]] = {
            level: [] for level in LEVELS}
        for level, code, wkb in conn.execute(text(
                "SELECT level, code, ST_AsBinary(geom) FROM admin_area "
                "WHERE level IN ('street', 'community', 'grid') ORDER BY level, code")):
            g = shapely.from_wkb(bytes(wkb))
            shapely.prepare(g)
            areas[level].append((code, g, tuple(g.bounds)))
        return cls(areas)

    def codes(self, level: str) -> list[str]:
        """The codes of a level's areas, in the order `place_index` counts them."""
        return [code for code, _, _ in self.areas[level]]

    def lookup(self, level: str, index: np.ndarray) -> np.ndarray:
        """The codes at `place_index`'s numbers (an object array; None for -1)."""
        return np.array([*self.codes(level), None], dtype=object)[index]

    def place(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Per level, the code of each point (an object array; None where no area holds it)."""
        return {level: self.lookup(level, index)
                for level, index in self.place_index(x, y).items()}

    def place_index(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Per level, the index of each point's area in `codes(level)` (-1 where none holds
        it): numbers, not a million strings."""
        n = len(x)
        order = np.argsort(x, kind="stable")
        xs, ys = x[order], y[order]
        out: dict[str, np.ndarray] = {}
        for level, items in self.areas.items():
            found = np.full(n, -1, dtype=np.int32)
            free = np.ones(n, dtype=bool)
            for k, (_, geom, (minx, miny, maxx, maxy)) in enumerate(items):  # lowest code first
                lo = np.searchsorted(xs, minx, side="left")
                hi = np.searchsorted(xs, maxx, side="right")
                if lo >= hi:
                    continue
                window = np.arange(lo, hi)
                window = window[free[lo:hi] & (ys[lo:hi] >= miny) & (ys[lo:hi] <= maxy)]
                if not len(window):
                    continue
                hit = window[shapely.intersects_xy(geom, xs[window], ys[window])]
                found[hit] = k
                free[hit] = False
            placed = np.empty(n, dtype=np.int32)
            placed[order] = found
            out[level] = placed
        return out
