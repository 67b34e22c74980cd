"""The "next month" edition: between the first edition (v1) and the second (v2) some entities
are added, removed, moved (12-40 m, beyond any class's matching tolerance) or changed (their
condition flips and the change date is set). Each entity takes at most one of these."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from sample_gis.entities import EXTRA, Population
from sample_gis.network import Network

RATES = {"removed": 0.008, "moved": 0.01, "changed": 0.02}  # shares of each class's v1 rows
MOVE = (12.0, 40.0)  # metres
MONTH = (np.datetime64("2024-06-01"), np.datetime64("2024-06-28"))


@dataclass
class Changes:
    in_v1: np.ndarray
    in_v2: np.ndarray
    added: np.ndarray
    removed: np.ndarray
    moved: np.ndarray
    changed: np.ndarray
    x2: np.ndarray  # v2 position (metres); the v1 one unless moved
    y2: np.ndarray
    condition2: np.ndarray
    changed_on: np.ndarray  # datetime64[D]; NaT unless moved or changed

    @property
    def touched(self) -> np.ndarray:
        return self.added | self.removed | self.moved | self.changed


def plan(pop: Population, attrs: dict[str, np.ndarray], net: Network, protected: np.ndarray,
         rng: np.random.Generator) -> Changes:
    """Choose, per class, the entities that change; added ones get an install date in the new
    month (attrs is updated in place)."""
    n = len(pop)
    flags = {k: np.zeros(n, bool) for k in ("added", "removed", "moved", "changed")}
    for code in sorted(np.unique(pop.category)):
        idx = np.flatnonzero(pop.category == code)
        n_add = int(round(len(idx) * EXTRA / (1 + EXTRA)))
        free = rng.permutation(idx)
        free = free[~protected[free]]  # protected entities stay as they are in both editions
        flags["added"][free[:n_add]] = True
        start = n_add
        for kind in ("removed", "moved", "changed"):
            if kind == "moved" and pop.geom[idx[0]] is not None:
                continue  # buildings, pipes and parks do not move
            k = int(round((len(idx) - n_add) * RATES[kind]))
            flags[kind][free[start:start + k]] = True
            start += k
    x2, y2 = pop.x.copy(), pop.y.copy()
    m = np.flatnonzero(flags["moved"])
    dist = rng.uniform(*MOVE, len(m))
    ang = rng.uniform(0, 2 * np.pi, len(m))
    nx, ny = pop.x[m] + dist * np.cos(ang), pop.y[m] + dist * np.sin(ang)
    ok = shapely.contains_xy(net.district, nx, ny)
    flags["moved"][m[~ok]] = False  # would leave the district: stays put
    x2[m[ok]], y2[m[ok]] = nx[ok], ny[ok]

    condition2 = attrs["condition"].copy()
    c = np.flatnonzero(flags["changed"])
    condition2[c] = np.where(attrs["condition"][c] == "完好", "破损", "完好")
    days = int((MONTH[1] - MONTH[0]).astype(int))
    changed_on = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    touched = flags["moved"] | flags["changed"]
    changed_on[touched] = MONTH[0] + rng.integers(0, days, touched.sum()).astype(
        "timedelta64[D]")
    a = np.flatnonzero(flags["added"])
    attrs["install_date"][a] = MONTH[0] + rng.integers(0, days, len(a)).astype("timedelta64[D]")
    # A device serial carries its year (vendor 2 + year 2 + class 4 + number): new ones say 24.
    year = str(MONTH[0].astype("datetime64[Y]"))[2:]
    attrs["serial"][a] = [None if v is None else f"{v[:2]}{year}{v[4:]}"
                          for v in attrs["serial"][a]]
    return Changes(in_v1=~flags["added"], in_v2=~flags["removed"], x2=x2, y2=y2,
                   condition2=condition2, changed_on=changed_on, **flags)
