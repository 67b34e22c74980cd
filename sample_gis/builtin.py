"""A small built-in sample (the district, its six streets, a few hundred entities) for the demo
until the full sample-district generator lands. Deterministic for a seed.

Street polygons here are Voronoi cells around rough street centres, clipped to the real
district boundary: they tile the district but are not the official street boundaries."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point, box
from sqlalchemy import Connection, text

from registry import areas, entities
from registry.entities import NewEntity
from sample_gis.boundary import district_boundary

DATASET = "builtin-sample"
DISTRICT = ("440311", "光明区")
STREETS = [  # official codes and names (NBS 2023); centres are approximate
    ("440311001", "光明街道", (113.915, 22.775)),
    ("440311002", "公明街道", (113.885, 22.790)),
    ("440311003", "新湖街道", (113.935, 22.805)),
    ("440311004", "凤凰街道", (113.955, 22.765)),
    ("440311005", "玉塘街道", (113.960, 22.725)),
    ("440311006", "马田街道", (113.895, 22.745)),
]
CLASSES = ["0101", "0102", "0103", "0113", "0118", "0203", "0305", "0307", "0402", "0801",
           "0901", "0701"]
CONDITIONS = ["intact"] * 8 + ["damaged", "lost", "occupied"]
DEPARTMENTS = {"01": "光明区水务局", "02": "光明区交通运输局", "03": "光明区城市管理和综合执法局",
               "04": "光明区城市管理和综合执法局", "07": "光明区住房和建设局",
               "08": "光明区政务服务数据管理局", "09": "深圳市公安局光明分局"}


def street_areas() -> list[areas.Area]:
    district = district_boundary()
    seeds = MultiPoint([c for _, _, c in STREETS])
    cells = shapely.voronoi_polygons(seeds, extend_to=box(*district.buffer(0.05).bounds))
    out = [areas.Area(DISTRICT[0], "district", DISTRICT[1], district)]
    for code, name, centre in STREETS:
        cell = next(c for c in cells.geoms if c.contains(Point(centre)))
        out.append(areas.Area(code, "street", name, cell.intersection(district),
                              parent_code=DISTRICT[0]))
    return out


def sample_entities(n: int = 600, seed: int = 7) -> list[NewEntity]:
    rng = np.random.default_rng(seed)
    district = district_boundary()
    shapely.prepare(district)
    minx, miny, maxx, maxy = district.bounds
    out: list[NewEntity] = []
    while len(out) < n:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        i = len(out)
        category = CLASSES[i % len(CLASSES)]
        geom = box(x, y, x + 0.0002, y + 0.00015) if category == "0701" else Point(x, y)
        if not district.contains(geom):
            continue
        dept = DEPARTMENTS[category[:2]]
        out.append(NewEntity(
            category=category, geometry=geom, name=f"样例{category}-{i + 1:04d}",
            condition=CONDITIONS[int(rng.integers(len(CONDITIONS)))],
            dept_admin=dept, dept_owner=dept, dept_maintainer=dept,
            attributes={"install_year": int(rng.integers(2005, 2025))},
            sources=[(DATASET, f"S{i + 1:05d}")],
        ))
    return out


def load(conn: Connection, *, county: str = DISTRICT[0], n: int = 600, seed: int = 7) -> int:
    """Load the sample once; a second call finds it and does nothing. Returns entities added."""
    done = conn.execute(text("SELECT count(*) FROM crosswalk WHERE dataset = :d"),
                        {"d": DATASET}).scalar()
    if done:
        return 0
    areas.upsert(conn, street_areas())
    codes = entities.register_many(conn, sample_entities(n, seed), county=county,
                                   actor="sample", reason="built-in sample")
    return len(codes)
