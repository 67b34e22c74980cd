"""The sample's physical town, in EPSG:4547 metres: a road network (arterials and local streets on
a gently warped lattice), a 茅洲河-like main river with tributaries and canals, parks, building
footprints (denser in town centres) and the junctions cameras and signals stand at.

The lattice is warped by a smooth, injective displacement, so roads curve a little while blocks,
and the building slots inside them, still never overlap."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from sample_gis import coords
from sample_gis.areas import STREETS

SPACING = 200.0  # m between local streets
HALF_WIDTH = np.array([16.0, 6.0])  # m from centreline to kerb: arterial, local
#: Industrial zones (lon, lat, weight, sigma km); town centres sit near each street's centre.
INDUSTRY = [(113.870, 22.810, 0.9, 1.4), (113.975, 22.800, 1.0, 1.6),
            (113.905, 22.720, 0.8, 1.2)]
MAIN_RIVER = [(113.946, 22.690), (113.936, 22.724), (113.917, 22.754), (113.901, 22.784),
              (113.877, 22.804), (113.852, 22.816)]
TRIBUTARIES = ["鹅颈水", "东坑水", "木墩河", "楼村水", "新陂头河"]
FOREST_PARKS = [("光明森林公园", 113.990, 22.748, 1500.0), ("大顶岭公园", 113.962, 22.722, 900.0)]
ARTERIAL_NAMES = ["光明大道", "华夏路", "东长路", "光侨路", "公常路", "松白路", "观光路",
                  "光明大街", "河心路", "华裕路", "科裕路", "邦凯路", "长凤路", "创投路",
                  "圳园路", "龙大路", "南光路", "双明大道", "玉律路", "根玉路"]
LOCAL_FIRST = list("安宝长东富光和华嘉建金锦康乐利龙明南鹏平荣瑞盛顺泰田万祥新兴秀雅永裕振")
LOCAL_SECOND = list("园兴和华科民福乐宁春秀田明安景湖德业源")


@dataclass(frozen=True)
class Density:
    """0..1: how urban a place is (town centres 1, hills and fields near 0)."""

    centres: np.ndarray  # (c, 4) x, y, weight, sigma m: residential and commercial centres
    industry: np.ndarray  # the same for industrial zones

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.maximum(_field(self.centres, x, y), 0.8 * _field(self.industry, x, y))

    def industrial(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return 0.8 * _field(self.industry, x, y) > _field(self.centres, x, y)


def _field(c: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.zeros(len(x))
    for cx, cy, w, sigma in c:  # a loop over a handful of centres keeps memory flat
        out = np.maximum(out, w * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma ** 2)))
    return out


@dataclass
class Roads:
    seg: np.ndarray  # (n, 4) straight pieces x0, y0, x1, y1: what entities are placed along
    seg_cls: np.ndarray  # 0 arterial, 1 local
    seg_road: np.ndarray  # index into names
    names: list[str]
    edges: np.ndarray  # LineStrings, one per lattice edge (4 pieces each)
    edge_cls: np.ndarray
    edge_road: np.ndarray

    @property
    def seg_length(self) -> np.ndarray:
        return np.hypot(self.seg[:, 2] - self.seg[:, 0], self.seg[:, 3] - self.seg[:, 1])


@dataclass
class Junctions:
    xy: np.ndarray  # (k, 2)
    arterial: np.ndarray  # bool: two arterials cross here
    axes: np.ndarray  # (k, 2, 2) unit vectors of the two crossing streets
    names: list[str]


@dataclass
class Network:
    district: BaseGeometry  # metres
    density: Density
    roads: Roads
    junctions: Junctions
    rivers: np.ndarray  # LineStrings
    river_names: list[str]
    river_width: np.ndarray
    water: BaseGeometry  # union of the river polygons
    parks: np.ndarray  # Polygons
    park_names: list[str]
    buildings: np.ndarray  # Polygons
    building_industrial: np.ndarray  # bool


def _metres(lonlat: list[tuple[float, float]]) -> np.ndarray:
    a = np.asarray(lonlat, dtype=float)
    return np.column_stack(coords.to_metres(a[:, 0], a[:, 1]))


class _Warp:
    """Lattice (u, v) metres → map (x, y): a rotation plus a smooth displacement whose gradient
    stays well below 1, so the map is injective (blocks never fold over each other)."""

    def __init__(self, origin: np.ndarray, angle: float, rng: np.random.Generator):
        self.origin, self.c, self.s = origin, np.cos(angle), np.sin(angle)
        self.k = rng.uniform(2 * np.pi / 5000, 2 * np.pi / 2200, size=(2, 3, 2))
        self.phase = rng.uniform(0, 2 * np.pi, size=(2, 3))
        self.amp = 55.0

    def __call__(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        du = sum(np.sin(self.k[0, i, 0] * u + self.k[0, i, 1] * v + self.phase[0, i])
                 for i in range(3)) * self.amp / 3
        dv = sum(np.sin(self.k[1, i, 0] * u + self.k[1, i, 1] * v + self.phase[1, i])
                 for i in range(3)) * self.amp / 3
        uu, vv = u + du, v + dv
        return (self.origin[0] + self.c * uu - self.s * vv,
                self.origin[1] + self.s * uu + self.c * vv)


def _blob(x: float, y: float, r: float, rng: np.random.Generator, n: int = 48) -> BaseGeometry:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rr = r * (1 + sum(rng.uniform(-0.12, 0.12) * np.cos(k * t + rng.uniform(0, 6.3))
                      for k in (2, 3, 5)))
    return shapely.Polygon(np.column_stack([x + rr * np.cos(t), y + rr * np.sin(t)]))


def _meander(pts: np.ndarray, amp: float, wave: float, rng: np.random.Generator,
             taper_end: bool = False) -> np.ndarray:
    """Densify a polyline every 40 m and swing it sideways like a lowland river."""
    line = shapely.LineString(pts)
    s = np.linspace(0, line.length, max(int(line.length / 40), 8))
    p = shapely.get_coordinates(shapely.line_interpolate_point(line, s))
    d = np.gradient(p, axis=0)
    n = np.column_stack([-d[:, 1], d[:, 0]]) / np.hypot(d[:, 0], d[:, 1])[:, None]
    off = amp * np.sin(2 * np.pi * s / wave + rng.uniform(0, 6.3))
    off += 0.4 * amp * np.sin(2 * np.pi * s / (wave * 0.37) + rng.uniform(0, 6.3))
    off *= np.minimum(1, s / 300) * (np.minimum(1, (s[-1] - s) / 300) if taper_end else 1)
    return p + n * off[:, None]


def _waters(district: BaseGeometry, rng: np.random.Generator) -> tuple[
        np.ndarray, list[str], np.ndarray, BaseGeometry]:
    """The main river along its real course, tributaries from the hills down to it, and two
    straight flood canals; clipped to the district."""
    main = _meander(_metres(MAIN_RIVER), 70, 1100, rng)
    lines, names, widths = [shapely.LineString(main)], ["茅洲河"], [45.0]
    main_line = lines[0]
    inner = district.buffer(-800)
    minx, miny, maxx, maxy = inner.bounds
    for name in TRIBUTARIES:
        for _ in range(1000):  # a source well away from the main river
            p = rng.uniform((minx, miny), (maxx, maxy))
            if inner.contains(shapely.Point(p)) and main_line.distance(shapely.Point(p)) > 2500:
                break
        end = shapely.get_coordinates(main_line.interpolate(main_line.project(shapely.Point(p))))
        mid = (p + end[0]) / 2 + rng.normal(0, 400, 2)
        lines.append(shapely.LineString(_meander(np.array([p, mid, end[0]]), 35, 600, rng,
                                                 taper_end=True)))
        names.append(name)
        widths.append(15.0)
    for k in range(2):  # straight flood canals, the way they are dug
        a = rng.uniform((minx, miny), (maxx, maxy))
        ang = rng.uniform(0, np.pi)
        b = a + 2500 * np.array([np.cos(ang), np.sin(ang)])
        lines.append(shapely.LineString([a, b]))
        names.append(f"排洪渠{k + 1}号")
        widths.append(10.0)
    lines = shapely.intersection(np.array(lines), district)
    keep = shapely.length(lines) > 100  # a canal dug just beyond the boundary is not ours
    lines, names, widths = lines[keep], [n for n, k in zip(names, keep, strict=True) if k], \
        np.array(widths)[keep]
    water = shapely.union_all(shapely.buffer(lines, widths / 2))
    return lines, names, widths, water


def _parks(district: BaseGeometry, density: Density,
           rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Two forest parks in the hills and community parks in town, none overlapping."""
    polys, names = [], []
    for name, lon, lat, r in FOREST_PARKS:
        (x, y), = _metres([(lon, lat)])
        polys.append(_blob(x, y, r, rng))
        names.append(name)
    minx, miny, maxx, maxy = district.bounds
    k = 0
    while k < 36:
        x, y = rng.uniform((minx, miny), (maxx, maxy))
        if (not district.contains(shapely.Point(x, y))
                or density(np.array([x]), np.array([y]))[0] < 0.15):
            continue
        blob = _blob(x, y, rng.uniform(70, 260), rng, 24)
        if any(blob.intersects(p) for p in polys):
            continue
        k += 1
        polys.append(blob)
        names.append(f"社区公园{k}号")
    clipped = [_polygons(g) for g in shapely.intersection(np.array(polys), district)]
    keep = [k for k, g in enumerate(clipped) if g.area > 2000]  # drop crumbs of edge parks
    return np.array([clipped[k] for k in keep], dtype=object), [names[k] for k in keep]


def _polygons(g: BaseGeometry) -> BaseGeometry:
    """The polygonal part of an overlay result (clipping may leave stray lines or points)."""
    parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon"]
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def build(district_lonlat: BaseGeometry, rng: np.random.Generator,
          buildings: int = 45000) -> Network:
    """The town inside the district (lon/lat), with about `buildings` footprints."""
    district = coords.geoms_to_metres(np.array([district_lonlat]))[0]
    shapely.prepare(district)
    centres = np.array([[*_metres([c])[0], rng.uniform(0.85, 1.0), rng.uniform(1500, 2300)]
                        for _, _, c, _ in STREETS])
    centres[:, :2] += rng.normal(0, 400, (len(centres), 2))
    industry = np.array([[*_metres([(lon, lat)])[0], w, s * 1000]
                         for lon, lat, w, s in INDUSTRY])
    density = Density(centres, industry)
    rivers, river_names, river_width, water = _waters(district, rng)
    parks, park_names = _parks(district, density, rng)
    park_union = shapely.union_all(parks)
    shapely.prepare(park_union)
    shapely.prepare(water)
    minx, miny, maxx, maxy = district.bounds
    n = int(np.hypot(maxx - minx, maxy - miny) / SPACING) + 3
    warp = _Warp(np.array([(minx + maxx) / 2, (miny + maxy) / 2]),
                 np.radians(rng.uniform(8, 22)), rng)
    idx = np.arange(n) - n // 2  # lattice line numbers, centred on the district
    roads, e, arterial = _roads(district, density, park_union, warp, idx, rng)
    junctions = _junctions(roads, e, arterial, warp)
    footprints, industrial = _buildings(district, density, warp, idx, park_union, water,
                                        buildings, rng)
    return Network(district, density, roads, junctions, rivers, river_names, river_width,
                   water, parks, park_names, footprints, industrial)


def _roads(district: BaseGeometry, density: Density, parks: BaseGeometry, warp: _Warp,
           idx: np.ndarray, rng: np.random.Generator) -> tuple[Roads, np.ndarray, np.ndarray]:
    """Every lattice edge inside the district on an arterial line, and local edges kept with a
    probability that grows with density (none in parks)."""
    n, half = len(idx), len(idx) // 2
    art_u, art_v = _arterial_lines(n, rng), _arterial_lines(n, rng)
    ii, jj = np.meshgrid(idx[:-1], idx, indexing="ij")
    e_u = np.column_stack([ii.ravel(), jj.ravel(), np.zeros(ii.size, int)])
    ii, jj = np.meshgrid(idx, idx[:-1], indexing="ij")
    e_v = np.column_stack([ii.ravel(), jj.ravel(), np.ones(ii.size, int)])
    e = np.vstack([e_u, e_v])  # (i, j, axis): from node (i, j) one step along axis
    arterial = np.where(e[:, 2] == 0, art_v[e[:, 1] + half], art_u[e[:, 0] + half])
    t = np.linspace(0, 1, 5)  # 4 pieces per edge, so the warp shows as gentle curves
    u = (e[:, 0, None] + np.where(e[:, 2, None] == 0, t, 0)) * SPACING
    v = (e[:, 1, None] + np.where(e[:, 2, None] == 1, t, 0)) * SPACING
    x, y = warp(u, v)
    inside = shapely.contains_xy(district, x.ravel(), y.ravel()).reshape(x.shape).all(axis=1)
    keep_p = np.where(arterial, 1.0, 0.06 + 0.94 * density(x[:, 2], y[:, 2]) ** 0.8)
    in_park = shapely.contains_xy(parks, x[:, 2], y[:, 2])
    keep = inside & (rng.random(len(e)) < keep_p) & (arterial | ~in_park)
    e, x, y, arterial = e[keep], x[keep], y[keep], arterial[keep]
    # One name per lattice line: arterials from the list, local streets made up.
    names = _road_names(2 * n, rng)
    for k, a in enumerate(np.concatenate([art_v, art_u])):
        if a:
            names[k] = ARTERIAL_NAMES[int(rng.integers(len(ARTERIAL_NAMES)))]
    line_key = np.where(e[:, 2] == 0, e[:, 1] + half, n + e[:, 0] + half)
    cls = np.where(arterial, 0, 1).astype(np.int8)
    roads = Roads(
        seg=np.column_stack([x[:, :-1].ravel(), y[:, :-1].ravel(),
                             x[:, 1:].ravel(), y[:, 1:].ravel()]),
        seg_cls=np.repeat(cls, 4), seg_road=np.repeat(line_key, 4), names=names,
        edges=shapely.linestrings(np.stack([x, y], axis=2)), edge_cls=cls, edge_road=line_key)
    return roads, e, arterial


def _arterial_lines(n: int, rng: np.random.Generator) -> np.ndarray:
    """Which lattice lines are arterials: every 6th to 10th line."""
    out = np.zeros(n, bool)
    k = int(rng.integers(0, 6))
    while k < n:
        out[k] = True
        k += int(rng.integers(6, 11))
    return out


def _road_names(n: int, rng: np.random.Generator) -> list[str]:
    a = rng.integers(len(LOCAL_FIRST), size=n)
    b = rng.integers(len(LOCAL_SECOND), size=n)
    return [f"{LOCAL_FIRST[i]}{LOCAL_SECOND[j]}路" for i, j in zip(a, b, strict=True)]


def _junctions(roads: Roads, e: np.ndarray, arterial: np.ndarray, warp: _Warp) -> Junctions:
    """Nodes where three or more kept edges meet (T and cross junctions)."""
    end = e[:, :2] + np.where(e[:, 2:3] == 0, [[1, 0]], [[0, 1]])
    nodes = np.vstack([e[:, :2], end])
    art = np.concatenate([arterial, arterial])
    axis = np.concatenate([e[:, 2], e[:, 2]])
    road = np.concatenate([roads.edge_road, roads.edge_road])
    uniq, inv, deg = np.unique(nodes, axis=0, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    art_u = np.bincount(inv, weights=art & (axis == 0), minlength=len(uniq)) > 0
    art_v = np.bincount(inv, weights=art & (axis == 1), minlength=len(uniq)) > 0
    road_u = np.zeros(len(uniq), int)
    road_v = np.zeros(len(uniq), int)
    road_u[inv[axis == 0]] = road[axis == 0]
    road_v[inv[axis == 1]] = road[axis == 1]
    j = deg >= 3
    u, v = uniq[j, 0] * SPACING, uniq[j, 1] * SPACING
    x, y = warp(u, v)
    axes = []
    for du, dv in ((1.0, 0.0), (0.0, 1.0)):
        ax, ay = warp(u + du, v + dv)
        a = np.column_stack([ax - x, ay - y])
        axes.append(a / np.hypot(a[:, 0], a[:, 1])[:, None])
    names = [f"{roads.names[a]}与{roads.names[b]}交叉口"
             for a, b in zip(road_u[j], road_v[j], strict=True)]
    return Junctions(np.column_stack([x, y]), art_u[j] & art_v[j], np.stack(axes, axis=1),
                     names)


def _buildings(district: BaseGeometry, density: Density, warp: _Warp, idx: np.ndarray,
               parks: BaseGeometry, water: BaseGeometry, target: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Footprints in slots of an m x m sub-lattice of each block, the slots chosen by density
    (weighted sampling without replacement), so centres fill up and hills stay empty."""
    inset = 12.0  # m from the street centreline: half a local street and a pavement
    bi, bj = np.meshgrid(idx[:-1], idx[:-1], indexing="ij")
    bx, by = warp((bi.ravel() + 0.5) * SPACING, (bj.ravel() + 0.5) * SPACING)
    in_district = shapely.contains_xy(district, bx, by)
    m = max(4, int(np.ceil(np.sqrt(2.5 * max(target, 1) / max(in_district.sum(), 1)))))
    q = (SPACING - 2 * inset) / m
    bi, bj = bi.ravel()[in_district], bj.ravel()[in_district]
    k = np.arange(m)
    shape = (len(bi), m, m)
    su = np.broadcast_to(bi[:, None, None] * SPACING + inset + (k[None, :, None] + 0.5) * q,
                         shape).ravel()
    sv = np.broadcast_to(bj[:, None, None] * SPACING + inset + (k[None, None, :] + 0.5) * q,
                         shape).ravel()
    sx, sy = warp(su, sv)
    ok = (shapely.contains_xy(district.buffer(-q), sx, sy) & ~shapely.contains_xy(parks, sx, sy)
          & ~shapely.contains_xy(water.buffer(q), sx, sy))
    w = np.where(ok, density(sx, sy) ** 1.5 + 0.003, 0.0)
    # Efraimidis-Spirakis: the largest log(u)/w are a weighted sample without replacement.
    keys = np.where(ok, np.log(rng.random(len(w))) / np.maximum(w, 1e-12), -np.inf)
    take = min(target, int(ok.sum()))
    chosen = np.sort(np.argpartition(-keys, take - 1)[:take]) if take else np.zeros(0, int)
    su, sv = su[chosen], sv[chosen]
    industrial = density.industrial(sx[chosen], sy[chosen])
    lo = np.where(industrial, 0.75, 0.45)  # factories fill their plots
    bw = rng.uniform(lo, 0.92) * q
    bh = rng.uniform(lo, 0.92) * q
    rot = rng.uniform(-0.05, 0.05, len(su))[:, None]
    cu = np.array([-0.5, 0.5, 0.5, -0.5, -0.5])
    cv = np.array([-0.5, -0.5, 0.5, 0.5, -0.5])
    # Rotated by < 3 degrees, a footprint of at most 0.92 of the slot stays inside it.
    pu = su[:, None] + bw[:, None] * cu * np.cos(rot) - bh[:, None] * cv * np.sin(rot)
    pv = sv[:, None] + bw[:, None] * cu * np.sin(rot) + bh[:, None] * cv * np.cos(rot)
    px, py = warp(pu, pv)
    return shapely.polygons(np.stack([px, py], axis=2)), industrial
