"""Where each entity of the sample stands: lamps at regular spacing along kerbs, trees in the
pavement, manholes over the pipes, shelters on arterials, signals and cameras on poles at
junctions, sensors in manhole covers and lamp posts, buildings in blocks, all in EPSG:4547 metres.

`place` returns a `Population`: one row per physical entity (v1 and the ones that appear in
the next month's edition), with its category, position, geometry and placement hints; the
attributes departments record are filled in by `sample_gis.attributes`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import shapely

from sample_gis.network import HALF_WIDTH, Network

#: Entities per category at scale 1 (before thinning and clipping), about 300,000 in all.
COUNTS = {
    "0101": 7000, "0102": 8000, "0103": 9000, "0104": 12000, "0105": 6000, "0106": 3000,
    "0107": 6000, "0111": 3000, "0113": 5000, "0118": 25000, "0121": 2000, "0203": 900,
    "0207": 7000, "0208": 2400, "0301": 300, "0305": 6000, "0307": 5000, "0308": 2000,
    "0402": 70000, "0603": 400, "0150": 10000, "0151": 10000, "buildings": 45000,
    "0801": 4000, "0802": 600, "0803": 1200, "0804": 1200, "0805": 6000,
    "cameras": 41000,
}
#: Same-class points closer than this are thinned out (m), so a loader matching within the
#: class tolerance (3 m by default) never sees two candidates; manholes have a wider gap so
#: the other department's copy 1-3 m away stays unambiguous.
MIN_GAP = {"0101": 10.0, "0102": 10.0, "0103": 10.0, "0203": 12.0}
DEFAULT_GAP = 6.0
NO_GAP = ("0208", "08", "09")  # devices are told apart by serial, not by distance
EXTRA = 0.015  # share of entities placed for the next month's edition only
#: (half widths of the streets, count) → metres left of the centreline.
Offset = Callable[[np.ndarray, int], np.ndarray | float]


@dataclass
class Batch:
    category: np.ndarray | str
    x: np.ndarray
    y: np.ndarray
    geom: np.ndarray | None = None  # metres; None for points
    place: np.ndarray | None = None  # street or junction name
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.x)

    def take(self, idx: np.ndarray) -> Batch:
        cat = self.category if isinstance(self.category, str) else self.category[idx]
        return Batch(cat, self.x[idx], self.y[idx],
                     None if self.geom is None else self.geom[idx],
                     None if self.place is None else self.place[idx],
                     {k: v[idx] for k, v in self.extra.items()})


@dataclass
class Population:
    category: np.ndarray  # <U4
    x: np.ndarray  # representative point, metres
    y: np.ndarray
    geom: np.ndarray  # object: None for points, LineString / Polygon (metres) otherwise
    place: np.ndarray  # object: street or junction name ('' when none)
    extra: dict[str, np.ndarray]  # object columns, None where a class has no such value

    def __len__(self) -> int:
        return len(self.x)


def filled(value: object, n: int) -> np.ndarray:
    """An object array holding one shared value (np.full copies a str into every cell)."""
    out = np.empty(n, dtype=object)
    out.fill(value)
    return out


def _n(key: str, scale: float) -> int:
    return max(3, int(round(COUNTS[key] * scale * (1 + EXTRA))))


class _Placer:
    def __init__(self, net: Network, rng: np.random.Generator):
        self.net, self.rng, self.r = net, rng, net.roads
        self.length = self.r.seg_length
        mid_x = (self.r.seg[:, 0] + self.r.seg[:, 2]) / 2
        mid_y = (self.r.seg[:, 1] + self.r.seg[:, 3]) / 2
        self.seg_density = net.density(mid_x, mid_y)
        d = self.r.seg[:, 2:] - self.r.seg[:, :2]
        self.dir = d / np.maximum(self.length, 1e-9)[:, None]
        self.hw = HALF_WIDTH[self.r.seg_cls]

    def along(self, n: int, offset: Offset, *, cls: int | None = None,
              regular: bool = False, side: int | np.ndarray = 0, weight: float = 0.0) -> Batch:
        """n points along the streets, `offset(hw, n)` metres left (side +1) or right (-1) of
        the centreline; regular spacing or random (weighted by density**weight)."""
        rng = self.rng
        segs = np.flatnonzero(self.r.seg_cls == cls) if cls is not None else np.arange(
            len(self.length))
        length = self.length[segs]
        if regular:
            cum = np.cumsum(length)
            s = (np.arange(n) + rng.random()) * cum[-1] / n
            k = np.minimum(np.searchsorted(cum, s, side="right"), len(cum) - 1)
            t = (s - (cum[k] - length[k])) / length[k]
        else:
            w = length * self.seg_density[segs] ** weight
            k = rng.choice(len(segs), size=n, p=w / w.sum())
            t = rng.random(n)
        seg = segs[k]
        if np.isscalar(side) and side == 0:
            side = rng.choice([-1, 1], size=n)
        off = np.asarray(offset(self.hw[seg], n)) * side
        d = self.dir[seg]
        x = self.r.seg[seg, 0] + t * self.length[seg] * d[:, 0] - off * d[:, 1]
        y = self.r.seg[seg, 1] + t * self.length[seg] * d[:, 1] + off * d[:, 0]
        place = np.array(self.r.names, dtype=object)[self.r.seg_road[seg]]
        return Batch("", x, y, place=place, extra={"_dir": d})

    def corners(self, n: int, arterial_weight: float, reach: tuple[float, float]) -> Batch:
        """n points at junction corners, `reach` metres along one of the two streets."""
        rng, j = self.rng, self.net.junctions
        w = np.where(j.arterial, arterial_weight, 1.0) * (0.3 + self.net.density(*j.xy.T))
        k = rng.choice(len(j.xy), size=n, p=w / w.sum())
        su, sv = rng.choice([-1, 1], size=(2, n))
        hw = np.where(j.arterial[k], HALF_WIDTH[0], HALF_WIDTH[1]) + 2.0
        along = rng.integers(0, 2, n)  # which street the pole stands along
        d = rng.uniform(*reach, n)
        au, av = j.axes[k, 0], j.axes[k, 1]
        fu = su * np.where(along == 0, hw + d, hw)
        fv = sv * np.where(along == 1, hw + d, hw)
        x = j.xy[k, 0] + fu * au[:, 0] + fv * av[:, 0]
        y = j.xy[k, 1] + fu * au[:, 1] + fv * av[:, 1]
        corner = np.array(["东北角", "西北角", "东南角", "西南角"], dtype=object)[
            (su < 0).astype(int) + 2 * (sv < 0).astype(int)]
        names = np.array(j.names, dtype=object)[k]
        return Batch("", x, y, place=names, extra={"_corner": corner, "_junction": k})

    def near(self, b: Batch, n: int, dist: tuple[float, float]) -> Batch:
        """n points dist metres from points of b (sensors in covers, controllers in posts)."""
        k = self.rng.choice(len(b), size=n, replace=n > len(b))
        r = self.rng.uniform(*dist, n)
        a = self.rng.uniform(0, 2 * np.pi, n)
        return Batch("", b.x[k] + r * np.cos(a), b.y[k] + r * np.sin(a),
                     place=b.place[k] if b.place is not None else None,
                     extra={"_host": k})

    def riverbank(self, n: int) -> Batch:
        rng, net = self.rng, self.net
        length = shapely.length(net.rivers)
        k = rng.choice(len(length), size=n, p=length / length.sum())
        s = rng.random(n)
        p = shapely.get_coordinates(shapely.line_interpolate_point(net.rivers[k], s,
                                                                   normalized=True))
        q = shapely.get_coordinates(shapely.line_interpolate_point(
            net.rivers[k], np.minimum(s * length[k] + 1.0, length[k]) / length[k],
            normalized=True))
        d = q - p
        d /= np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)[:, None]
        off = (net.river_width[k] / 2 + rng.uniform(1, 4, n)) * rng.choice([-1, 1], n)
        return Batch("", p[:, 0] - off * d[:, 1], p[:, 1] + off * d[:, 0],
                     place=np.array(net.river_names, dtype=object)[k])

    def in_parks(self, n: int) -> Batch:
        rng, parks = self.rng, self.net.parks
        area = shapely.area(parks)
        k = rng.choice(len(parks), size=n, p=area / area.sum())
        xs, ys = np.empty(n), np.empty(n)
        for i, p in enumerate(k):  # a handful of toilets: rejection sampling is fine
            minx, miny, maxx, maxy = parks[p].bounds
            while True:
                x, y = rng.uniform((minx, miny), (maxx, maxy))
                if parks[p].contains(shapely.Point(x, y)):
                    xs[i], ys[i] = x, y
                    break
        return Batch("", xs, ys, place=np.array(self.net.park_names, dtype=object)[k])


def _kerb(extra: float) -> Offset:
    """A fixed distance from the kerb (negative: inside the carriageway)."""
    return lambda hw, n: hw + extra


def place(net: Network, scale: float, rng: np.random.Generator) -> Population:
    p = _Placer(net, rng)
    u = rng.uniform
    out: list[Batch] = []

    def add(cat: str, b: Batch) -> Batch:
        b.category = cat
        out.append(b)
        return b

    # Lamps: both kerbs of arterials, staggered; one kerb of local streets.
    n = _n("0118", scale)
    art = p.length[net.roads.seg_cls == 0].sum()
    n_art = int(n * 2 * art / (2 * art + p.length[net.roads.seg_cls == 1].sum())) // 2
    lamps = [p.along(n_art, _kerb(-0.8), cls=0, regular=True, side=s) for s in (1, -1)]
    lamps.append(p.along(n - 2 * n_art, _kerb(-0.6), cls=1, regular=True, side=1))
    lamp = add("0118", _concat(lamps))
    add("0402", _concat([p.along(_n("0402", scale) // 2, _kerb(1.8), regular=True, side=s)
                         for s in (1, -1)]))
    add("0113", p.along(_n("0113", scale), _kerb(0.6), regular=True, side=-1))
    n = _n("0203", scale) // 2
    add("0203", _concat([p.along(n, _kerb(2.5), cls=0, regular=True, side=s) for s in (1, -1)]))
    # Manholes over the pipes: water main 3 m left of the centreline, drains to the right.
    add("0101", p.along(_n("0101", scale), lambda hw, n: u(2.7, 3.3, n), side=1))
    add("0102", p.along(_n("0102", scale), lambda hw, n: u(2.7, 3.3, n), side=-1))
    add("0103", p.along(_n("0103", scale), lambda hw, n: np.minimum(hw - 0.5, u(4.7, 5.3, n)),
                        side=-1))
    add("0104", p.along(_n("0104", scale), _kerb(-0.3)))
    add("0105", p.along(_n("0105", scale), _kerb(2.0), side=1))
    add("0106", p.near(lamp, _n("0106", scale), (1.0, 1.6)))
    add("0107", p.along(_n("0107", scale), _kerb(2.5), side=-1))
    add("0111", p.along(_n("0111", scale), lambda hw, n: u(-1, 1, n) * (hw - 1.5)))
    add("0121", p.along(_n("0121", scale), lambda hw, n: hw + u(4, 9, n), weight=1.0))
    n = _n("0207", scale)
    add("0207", _concat([p.corners(n // 2, 4.0, (3, 25)),
                         p.along(n - n // 2, _kerb(0.5), weight=0.5)]))
    add("0208", p.corners(_n("0208", scale), 8.0, (0.0, 1.5)))
    n = _n("0301", scale)
    add("0301", _concat([p.in_parks(n * 2 // 5),
                         p.along(n - n * 2 // 5, lambda hw, n: hw + u(5, 12, n), weight=2.0)]))
    add("0305", p.along(_n("0305", scale), _kerb(1.2), weight=1.5))
    add("0307", p.along(_n("0307", scale), lambda hw, n: hw + u(3, 8, n), weight=2.5))
    add("0308", p.along(_n("0308", scale), _kerb(2.8), weight=1.5))
    add("0603", p.riverbank(_n("0603", scale)))
    # IoT devices: in manhole covers and lamp posts, on river banks, on pavements.
    covers = _concat([b for b in out if b.category in ("0101", "0102", "0103", "0105")])
    add("0801", p.near(covers, _n("0801", scale), (0.05, 0.2)))
    n = _n("0802", scale)
    add("0802", _concat([p.riverbank(n * 3 // 4), p.along(n - n * 3 // 4, _kerb(-0.3))]))
    add("0803", p.along(_n("0803", scale), _kerb(2.0), weight=1.0))
    add("0804", p.along(_n("0804", scale), _kerb(2.2), weight=1.5))
    add("0805", p.near(lamp, _n("0805", scale), (0.05, 0.15)))
    _cameras(p, _n("cameras", scale), add)
    points = _thin([_inside(b, net) for b in out], net)
    lines = _pipes(net, scale, rng)
    polys = _buildings_and_parks(net, rng)
    return _population(points + lines + polys)


def _cameras(p: _Placer, n: int, add: Callable[[str, Batch], Batch]) -> None:
    """Most cameras on poles near junctions (traffic ones mostly at arterial crossings), the
    rest along streets, denser in the centres."""
    rng = p.rng
    n_j = int(n * 0.58)
    at = p.corners(n_j, 6.0, (1, 14))
    art = p.net.junctions.arterial[at.extra["_junction"]]
    kind = np.where(rng.random(n_j) < np.where(art, 0.55, 0.2), "0902",
                    np.where(rng.random(n_j) < 0.8, "0901", "0903"))
    street = p.along(n - n_j, _kerb(0.8), weight=1.5)
    kind2 = rng.choice(["0901", "0902", "0903"], size=n - n_j, p=[0.62, 0.08, 0.30])
    for cat in ("0901", "0902", "0903"):
        b = _concat([at.take(np.flatnonzero(kind == cat)),
                     street.take(np.flatnonzero(kind2 == cat))])
        add(cat, b)


def _concat(bs: list[Batch]) -> Batch:
    """Batches end to end; an attribute some of them lack is None there."""
    extra = {}
    for k in sorted(set().union(*(b.extra for b in bs))):
        parts = [b.extra.get(k) for b in bs]
        if all(p is not None for p in parts):
            extra[k] = np.concatenate(parts)
        elif all(p is None or p.ndim == 1 for p in parts):
            extra[k] = np.concatenate([np.full(len(b), None, dtype=object) if p is None
                                       else p.astype(object) for b, p in zip(bs, parts,
                                                                             strict=True)])
    return Batch(bs[0].category, np.concatenate([b.x for b in bs]),
                 np.concatenate([b.y for b in bs]), None,
                 np.concatenate([b.place for b in bs]), extra)


def _inside(b: Batch, net: Network) -> Batch:
    return b.take(np.flatnonzero(shapely.contains_xy(net.district, b.x, b.y)))


def _thin(bs: list[Batch], net: Network) -> list[Batch]:
    """Drop a point with a same-class neighbour closer than its class's gap (the later one of
    each pair), the gap shrinking at large scales where spacing gets tight."""
    road_m = net.roads.seg_length.sum()
    out = []
    for b in bs:
        cat = str(b.category)
        if cat.startswith(NO_GAP) or len(b) < 2:
            out.append(b)
            continue
        gap = min(MIN_GAP.get(cat, DEFAULT_GAP), 0.25 * road_m / len(b))
        pts = shapely.points(b.x, b.y)
        i, j = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=gap)
        drop = np.zeros(len(b), bool)
        for a, c in zip(i[i < j], j[i < j], strict=True):  # pairs are few: a loop is fine
            if not drop[a]:
                drop[c] = True
        out.append(b.take(np.flatnonzero(~drop)))
    return out


def _pipes(net: Network, scale: float, rng: np.random.Generator) -> list[Batch]:
    """Water mains 3 m left and drains 3 m right of each street's centreline, cut into
    pieces (3-point lines) so the count follows the scale."""
    out = []
    edges = net.roads.edges
    for cat, side in (("0150", 1.0), ("0151", -1.0)):
        n = _n(cat, scale)
        per = max(1, int(np.ceil(n / len(edges))))
        pick = np.sort(rng.choice(len(edges) * per, size=min(n, len(edges) * per),
                                  replace=False))
        e, k = pick // per, pick % per
        t = (k[:, None] + np.array([0.0, 0.5, 1.0])) / per
        pts = shapely.get_coordinates(shapely.line_interpolate_point(
            np.repeat(edges[e], 3), t.ravel(), normalized=True)).reshape(-1, 3, 2)
        d = pts[:, 2] - pts[:, 0]
        d /= np.hypot(d[:, 0], d[:, 1])[:, None]
        normal = np.column_stack([-d[:, 1], d[:, 0]]) * 3.0 * side
        lines = shapely.linestrings(pts + normal[:, None, :])
        ok = shapely.contains(net.district, lines)
        rep = shapely.get_coordinates(shapely.point_on_surface(lines[ok]))
        diameter = rng.choice([200, 300, 400, 600, 800], size=ok.sum(),
                              p=[0.35, 0.3, 0.15, 0.12, 0.08])
        out.append(Batch(cat, rep[:, 0], rep[:, 1], lines[ok],
                         np.array(net.roads.names, dtype=object)[net.roads.edge_road[e[ok]]],
                         {"diameter": diameter.astype(object)}))
    return out


def _buildings_and_parks(net: Network, rng: np.random.Generator) -> list[Batch]:
    b = net.buildings
    rep = shapely.get_coordinates(shapely.point_on_surface(b))
    town = rng.choice(["0701", "0702", "0704"], size=len(b), p=[0.76, 0.11, 0.13])
    cat = np.where(net.building_industrial, "0703", town)
    bb = Batch(cat, rep[:, 0], rep[:, 1], b, filled("", len(b)),
               {"_industrial": net.building_industrial})
    rep = shapely.get_coordinates(shapely.point_on_surface(net.parks))
    parks = Batch("0405", rep[:, 0], rep[:, 1], net.parks,
                  np.array(net.park_names, dtype=object))
    return [bb, parks]


def _population(bs: list[Batch]) -> Population:
    n = sum(len(b) for b in bs)
    cat = np.concatenate([np.broadcast_to(np.asarray(b.category, dtype="<U4"), len(b))
                          for b in bs])
    geom = np.empty(n, dtype=object)
    place = np.empty(n, dtype=object)
    extra: dict[str, np.ndarray] = {}
    start = 0
    for b in bs:
        sl = slice(start, start + len(b))
        if b.geom is not None:
            geom[sl] = b.geom
        place[sl] = b.place if b.place is not None else ""
        for k, v in b.extra.items():
            if k in ("_dir", "_host", "_junction"):
                continue
            extra.setdefault(k.lstrip("_"), np.full(n, None, dtype=object))[sl] = v
        start += len(b)
    return Population(cat, np.concatenate([b.x for b in bs]), np.concatenate([b.y for b in bs]),
                      geom, place, extra)
