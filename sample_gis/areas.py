"""The sample's admin geography: district, its six streets (real names and codes), 29 communities
(real names, codes assigned by the sample) and unit grids, tiling each other exactly.

The geography does not depend on the entity seed: every sample of a scale and seed shares it, so
registries loaded from different samples place entities in the same areas.

Exact tiling in floating point: every boundary line (district, street and community Voronoi edges,
the grid lattice) is noded once on a fixed 1e-8-degree grid (about 1 mm) and polygonized; every
area is the union of its faces, so neighbours share edges vertex for vertex and the union of the
children is exactly the parent."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point, box
from shapely.geometry.base import BaseGeometry

from registry.areas import Area
from sample_gis import boundary

GRID_SIZE = 1e-8  # degrees: the precision grid every overlay of the areas runs on
DISTRICT = ("440311", "光明区")
#: Street code, name, approximate centre (lon, lat; the seed of its Voronoi cell), and the
#: communities as publicly known (../shared/data/guangming_areas.csv, NBS 2023 street codes).
STREETS: list[tuple[str, str, tuple[float, float], list[str]]] = [
    ("440311001", "光明街道", (113.915, 22.775),
     ["光明社区", "东周社区", "翠湖社区", "迳口社区", "白花社区", "碧眼社区"]),
    ("440311002", "公明街道", (113.885, 22.790),
     ["公明社区", "上村社区", "下村社区", "李松蓢社区", "西田社区"]),
    ("440311003", "新湖街道", (113.935, 22.805), ["新羌社区", "圳美社区", "楼村社区"]),
    ("440311004", "凤凰街道", (113.955, 22.765),
     ["凤凰社区", "塘尾社区", "甲子塘社区", "东坑社区"]),
    ("440311005", "玉塘街道", (113.960, 22.725),
     ["玉律社区", "红星社区", "长圳社区", "田寮社区"]),
    ("440311006", "马田街道", (113.895, 22.745),
     ["合水口社区", "将石社区", "石家社区", "薯田埔社区", "马山头社区", "新庄社区",
      "根竹园社区"]),
]
GRID_STEP = (0.005, 0.0045)  # degrees lon, lat: unit grid cells of about 510 m x 500 m
SLIVER = 0.3  # a grid piece under this share of a full cell joins a neighbour
CODE_ORIGIN = {"district": "GB/T 2260", "street": "NBS 2023",
               "community": "assigned by the sample (not official)",
               "grid": "assigned by the sample (not official), CJ/T 213 style"}
_SEED = 440311  # fixed: the geography is the same for every entity seed


@dataclass(frozen=True)
class AdminArea:
    code: str
    level: str
    name: str
    geometry: BaseGeometry  # lon/lat, EPSG:4490
    parent_code: str | None

    @property
    def code_origin(self) -> str:
        return CODE_ORIGIN[self.level]


def _grid(geom: BaseGeometry) -> BaseGeometry:
    return shapely.set_precision(geom, GRID_SIZE)


def _union(faces: list[BaseGeometry]) -> BaseGeometry:
    return shapely.union_all(faces, grid_size=GRID_SIZE)


def _voronoi_edges(seeds: np.ndarray, frame: BaseGeometry) -> BaseGeometry:
    cells = shapely.get_parts(shapely.voronoi_polygons(MultiPoint(seeds), extend_to=frame))
    return shapely.intersection(shapely.union_all(shapely.boundary(cells)), frame)


def _nearest(points: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Index of the nearest seed: the Voronoi cell each point falls in (plain degrees, the
    metric GEOS's Voronoi diagram uses)."""
    d = ((points[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2)
    return d.argmin(axis=1)


def _kmeans_seeds(region: BaseGeometry, k: int, rng: np.random.Generator) -> np.ndarray:
    """k well-spread seeds inside region (Lloyd's k-means on random points), so communities
    are compact rather than slivers."""
    minx, miny, maxx, maxy = region.bounds
    pts = rng.uniform((minx, miny), (maxx, maxy), size=(6000, 2))
    pts = pts[shapely.contains_xy(region, pts[:, 0], pts[:, 1])]
    centres = pts[rng.choice(len(pts), size=k, replace=False)]
    for _ in range(25):
        nearest = _nearest(pts, centres)
        centres = np.array([pts[nearest == j].mean(axis=0) if (nearest == j).any()
                            else centres[j] for j in range(k)])
    # Sorted north-west first, so community numbers read like a map.
    return centres[np.lexsort((centres[:, 0], -np.round(centres[:, 1], 6)))]


def _faces(district: BaseGeometry, lines: list[BaseGeometry]) -> np.ndarray:
    """The faces of the arrangement of every boundary line, noded once on the precision grid:
    areas built as unions of these faces share their edges vertex for vertex."""
    noded = shapely.union_all([district.boundary, *lines], grid_size=GRID_SIZE)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    inside = shapely.contains(district, shapely.point_on_surface(faces))
    return faces[inside]


def _merge_slivers(keys: list[tuple], groups: dict[tuple, list[BaseGeometry]]) -> None:
    """A grid piece under SLIVER of a full cell joins the neighbouring grid of its community
    with which it shares the longest edge."""
    full = GRID_STEP[0] * GRID_STEP[1]
    area = {k: sum(f.area for f in groups[k]) for k in keys}
    for key in sorted(keys, key=lambda k: (area[k], k)):
        if key not in groups or area[key] >= SLIVER * full:
            continue
        comm, i, j = key
        mine = _union(groups[key])
        best, best_len = None, 0.0
        for other in ((comm, i + a, j + b) for a in (-1, 0, 1) for b in (-1, 0, 1)):
            if other == key or other not in groups:
                continue
            shared = shapely.intersection(mine.boundary, _union(groups[other]).boundary).length
            if shared > best_len:
                best, best_len = other, shared
        if best is not None:
            groups[best] += groups.pop(key)
            area[best] += area[key]


@cache
def build() -> tuple[AdminArea, ...]:
    """District, streets, communities, grids (in that order), lon/lat EPSG:4490."""
    rng = np.random.default_rng(_SEED)
    district = _grid(shapely.make_valid(boundary.district_boundary()))
    frame = box(*district.buffer(0.02).bounds)
    street_seeds = np.array([c for _, _, c, _ in STREETS])
    street_cells = shapely.voronoi_polygons(MultiPoint(street_seeds), extend_to=frame)
    lines = [_voronoi_edges(street_seeds, frame)]
    community_seeds = []
    for k, (_, _, _, communities) in enumerate(STREETS):
        cell = next(c for c in street_cells.geoms if c.contains(Point(street_seeds[k])))
        seeds = _kmeans_seeds(cell.intersection(district), len(communities), rng)
        community_seeds.append(seeds)
        # Overshoot the street's edge so every community edge reaches it; the overshoot
        # only cuts faces of the neighbour street, which its unions dissolve again.
        lines.append(_voronoi_edges(seeds, frame).intersection(cell.buffer(0.001)))
    dx, dy = GRID_STEP
    x0 = np.floor(frame.bounds[0] / dx) * dx
    y0 = np.floor(frame.bounds[1] / dy) * dy
    minx, miny, maxx, maxy = frame.bounds
    xs = x0 + dx * np.arange(int((maxx - x0) / dx) + 2)
    ys = y0 + dy * np.arange(int((maxy - y0) / dy) + 2)
    lines += [shapely.LineString([(x, miny), (x, maxy)]) for x in xs]
    lines += [shapely.LineString([(minx, y), (maxx, y)]) for y in ys]
    faces = _faces(district, lines)

    pts = shapely.get_coordinates(shapely.point_on_surface(faces))
    street_of = _nearest(pts, street_seeds)
    comm_of = np.empty(len(faces), dtype=int)
    for k, seeds in enumerate(community_seeds):
        m = street_of == k
        comm_of[m] = _nearest(pts[m], seeds)
    col = np.floor((pts[:, 0] - x0) / dx).astype(int)
    row = np.floor((pts[:, 1] - y0) / dy).astype(int)

    out = [AdminArea(DISTRICT[0], "district", DISTRICT[1], _union(list(faces)), None)]
    for k, (code, name, _, communities) in enumerate(STREETS):
        out.append(AdminArea(code, "street", name, _union(list(faces[street_of == k])),
                             DISTRICT[0]))
        for c, cname in enumerate(communities):
            ccode = f"{code}{c + 1:03d}"
            m = (street_of == k) & (comm_of == c)
            out.append(AdminArea(ccode, "community", cname, _union(list(faces[m])), code))
            groups: dict[tuple, list[BaseGeometry]] = {}
            for f, i, j in zip(faces[m], col[m], row[m], strict=True):
                groups.setdefault((c, int(i), int(j)), []).append(f)
            keys = sorted(groups)
            _merge_slivers(keys, groups)
            # Numbered north to south, west to east.
            order = sorted(groups, key=lambda key: (-key[2], key[1]))
            for g, key in enumerate(order, 1):
                out.append(AdminArea(f"{ccode}{g:03d}", "grid", f"{cname}第{g}网格",
                                     _union(groups[key]), ccode))
    return tuple(out)


def admin_areas() -> list[Area]:
    """The sample's areas as registry areas, ready for `registry.areas.upsert`."""
    return [Area(a.code, a.level, a.name, a.geometry, a.parent_code) for a in build()]


def boundary_source() -> str:
    """Which boundary the areas were cut from: the real polygon or the committed one."""
    return "shared" if boundary.SHARED.exists() else "simplified"
