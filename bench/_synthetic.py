"""Synthetic entity tables for the spatial benchmark, built directly (COPY), in the registry's
shape: a migrated database, the district and its streets as admin areas, and `citytwin.entity`
rows with codes minted by `registry.codes.make` (serials 1..n per county and class, recorded in
`serial_counter`), status `active`, version 1, the res-12 H3 cell of `spatial.h3.cell`, and the
street placement `citytwin.area_code('street', …)` would give (computed with shapely).

Points are clustered like a real district: a mixture of Gaussians around town centres (about one
per 13 km², 350–900 m wide) plus a uniform background, kept inside the district polygon; twelve
point classes with realistic shares. Everything is deterministic for a seed.

Scale 1 is 光明 alone. A larger scale keeps 光明's rows identical (same seed) and spreads the
other (scale − 1) × n entities over the other Shenzhen districts in proportion to their area: the
table grows the way a registry grows (more districts), while a 1 km window in 光明 returns the
same rows at every scale. Only `entity` is filled: the version history is not read by the queries
measured here.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import psycopg
import shapely
from psycopg import sql
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy.engine import make_url

from registry import areas, codes, dictionary, maintenance, migrate
from registry.db import ensure_database, make_engine
from registry.settings import Settings
from sample_gis.boundary import SHARED, district_boundary
from sample_gis.builtin import street_areas
from spatial import h3

GUANGMING = "440311"
#: Point classes and their shares of all entities.
SHARES = {
    "0402": 0.24,  # 行道树 street tree
    "0118": 0.14,  # 路灯 street lamp
    "0103": 0.10,  # 雨水井盖 storm-water manhole cover
    "0102": 0.09,  # 污水井盖 sewage manhole cover
    "0101": 0.08,  # 上水井盖 water-supply manhole cover
    "0305": 0.07,  # 垃圾箱 litter bin
    "0105": 0.06,  # 电力井盖 power manhole cover
    "0207": 0.06,  # 交通标志牌 traffic sign
    "0107": 0.05,  # 通讯井盖 telecom manhole cover
    "0113": 0.04,  # 消防设施 fire hydrant
    "0901": 0.04,  # 治安监控摄像机 public-security camera
    "0801": 0.03,  # 井盖监测传感器 manhole-cover sensor
}
DEPARTMENTS = {"01": "水务局", "02": "交通运输局", "03": "城市管理和综合执法局",
               "04": "城市管理和综合执法局", "08": "政务服务数据管理局", "09": "公安分局"}
CONDITIONS = {"intact": 0.90, "damaged": 0.06, "occupied": 0.03, "lost": 0.01}
#: Shenzhen districts of the shared file (`qh`) and their GB/T 2260 codes. 大鹏 is a functional
#: area carved out of 龙岗 and has no code of its own: its entities are minted under 龙岗's.
COUNTIES = {"罗湖": "440303", "福田": "440304", "南山": "440305", "宝安": "440306",
            "龙岗": "440307", "盐田": "440308", "龙华": "440309", "坪山": "440310",
            "光明": GUANGMING, "大鹏": "440307"}
CENTRES_PER_KM2 = 12 / 155.5  # about twelve town centres in 光明
SIGMA_M = (350.0, 900.0)
BACKGROUND = 0.2
CHUNK = 200_000  # rows per COPY block: bounds the memory of a load
COLUMNS = ("code", "county", "category", "serial", "status", "condition", "name", "dept_admin",
           "dept_owner", "dept_maintainer", "attributes", "geom", "street_code", "h3", "version",
           "valid_from", "recorded_at", "created_at")
M_PER_DEG_LAT = 110_574.0


def m_per_deg_lon(lat: float) -> float:
    return 111_320.0 * math.cos(math.radians(lat))


@dataclass(frozen=True)
class District:
    county: str
    name: str
    polygon: BaseGeometry = field(repr=False)
    n: int
    seed: int

    @property
    def km2(self) -> float:
        lat = self.polygon.centroid.y
        return self.polygon.area * M_PER_DEG_LAT * m_per_deg_lon(lat) / 1e6


def city(n: int, scale: int, seed: int) -> list[District]:
    """光明 with n entities, plus (scale − 1) × n over the other districts by area."""
    home = District(GUANGMING, "光明", district_boundary(), n, seed)
    if scale == 1:
        return [home]
    if not SHARED.exists():
        raise SystemExit(f"--scale {scale} spreads the extra entities over the other Shenzhen "
                         f"districts of {SHARED}, which is missing")
    doc = json.loads(SHARED.read_text(encoding="utf-8"))
    others = [(f["properties"]["qh"], shape(f["geometry"])) for f in doc["features"]
              if f["properties"]["qh"] != home.name]
    lat = home.polygon.centroid.y
    km2 = [g.area * M_PER_DEG_LAT * m_per_deg_lon(lat) / 1e6 for _, g in others]
    extra = (scale - 1) * n
    counts = np.floor(np.array(km2) / sum(km2) * extra).astype(int)
    counts[np.argmax(counts)] += extra - counts.sum()
    return [home] + [District(COUNTIES[name], name, g, int(k), seed + 1 + i)
                     for i, ((name, g), k) in enumerate(zip(others, counts, strict=True))]


# --- points ----------------------------------------------------------------------------------


def _uniform_inside(rng: np.random.Generator, polygon: BaseGeometry, n: int) -> np.ndarray:
    minx, miny, maxx, maxy = polygon.bounds
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        xy = rng.uniform((minx, miny), (maxx, maxy), size=(2 * n + 16, 2))
        xy = xy[shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])]
        out.append(xy)
        have += len(xy)
    return np.concatenate(out)[:n]


def points(d: District) -> tuple[np.ndarray, np.ndarray]:
    """(n × 2 lon/lat, n class indexes into SHARES), deterministic for the district's seed."""
    rng = np.random.default_rng(d.seed)
    shapely.prepare(d.polygon)
    k = max(3, round(CENTRES_PER_KM2 * d.km2))
    centres = _uniform_inside(rng, d.polygon, k)
    weights = rng.gamma(2.0, size=k)
    weights /= weights.sum()
    sigma = rng.uniform(*SIGMA_M, size=k)
    lat = centres[:, 1].mean()
    scale = np.column_stack([sigma / m_per_deg_lon(lat), sigma / M_PER_DEG_LAT])
    out: list[np.ndarray] = []
    have = 0
    while have < d.n:
        m = int((d.n - have) * 1.3) + 16
        which = rng.choice(k, size=m, p=weights)
        xy = centres[which] + rng.normal(size=(m, 2)) * scale[which]
        background = rng.random(m) < BACKGROUND
        xy[background] = rng.uniform(d.polygon.bounds[:2], d.polygon.bounds[2:],
                                     size=(int(background.sum()), 2))
        xy = xy[shapely.contains_xy(d.polygon, xy[:, 0], xy[:, 1])]
        out.append(xy)
        have += len(xy)
    xy = np.concatenate(out)[:d.n]
    classes = rng.choice(len(SHARES), size=d.n, p=list(SHARES.values()))
    return xy, classes


# --- rows ------------------------------------------------------------------------------------


@dataclass
class Minting:
    """Serials per (county, class), 1..n in the order entities are generated."""

    last: dict[tuple[str, str], int] = field(default_factory=dict)

    def next(self, county: str, category: str) -> int:
        s = self.last.get((county, category), 0) + 1
        self.last[(county, category)] = s
        return s


def place(xy: np.ndarray, streets: list[tuple[str, BaseGeometry]]) -> list[str | None]:
    """The street code `area_code('street', point)` gives: the lowest code whose polygon
    intersects the point (boundary included), else None."""
    out = np.full(len(xy), None, dtype=object)
    for code, geom in sorted(streets, key=lambda s: s[0], reverse=True):
        shapely.prepare(geom)
        out[shapely.intersects_xy(geom, xy[:, 0], xy[:, 1])] = code
    return out.tolist()


def _copy_text(value: object) -> str:
    return r"\N" if value is None else str(value)


def blocks(d: District, minting: Minting, streets: list[tuple[str, BaseGeometry]],
           now: str) -> Iterator[str]:
    """COPY text blocks of at most CHUNK rows for one district."""
    xy, classes = points(d)
    names = dictionary.load_seed().categories
    cats = list(SHARES)
    rng = np.random.default_rng(d.seed + 10_000)
    conditions = rng.choice(list(CONDITIONS), size=d.n, p=list(CONDITIONS.values()))
    for lo in range(0, d.n, CHUNK):
        part = xy[lo:lo + CHUNK]
        geoms = shapely.to_wkb(shapely.set_srid(shapely.points(part), 4490), hex=True,
                               include_srid=True)
        street = place(part, streets)
        lines = []
        for i, (x, y) in enumerate(part.tolist()):
            cat = cats[classes[lo + i]]
            serial = minting.next(d.county, cat)
            dept = DEPARTMENTS[cat[:2]]
            row = (codes.make(d.county, cat, serial), d.county, cat, serial, "active",
                   conditions[lo + i], f"{names[cat].name_zh}{serial:06d}", dept, dept, dept,
                   "{}", geoms[i], street[i], h3.cell(y, x), 1, now, now, now)
            lines.append("\t".join(map(_copy_text, row)))
        yield "\n".join(lines) + "\n"


# --- the database ----------------------------------------------------------------------------


def psycopg_connect(url: str) -> psycopg.Connection:
    """A plain autocommit psycopg connection to the database of a SQLAlchemy URL."""
    u = make_url(url)
    return psycopg.connect(
        host=u.query.get("host", u.host), port=u.query.get("port", u.port), user=u.username,
        password=u.password, dbname=u.database, autocommit=True,
        options="-c search_path=citytwin,public -c jit=off",
    )


def database(name: str, *, fresh: bool, log: Callable[[str], None]) -> str:
    """The URL of database `name` (PostGIS) on CITYTWIN_DATABASE_URL's server or in the local
    cluster; dropped and created again when `fresh`, created when missing."""
    return ensure_database(Settings(), name, fresh=fresh, log=log)


def marker(districts: list[District]) -> str:
    """What a loaded database says about itself (COMMENT ON DATABASE), for --reuse."""
    return "citytwin bench/spatial: " + ", ".join(
        f"{d.county}:{d.name}:{d.n}:{d.seed}" for d in districts)


def loaded_marker(url: str) -> str | None:
    with psycopg_connect(url) as pg:
        return pg.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                          "WHERE datname = current_database()").fetchone()[0]


def upgrade_reused(url: str, log: Callable[[str], None]) -> None:
    """Bring a reused database to the code's schema head (idempotent): a database loaded before
    a migration lacks its tables, e.g. 0003's h3_count, which the migration fills from the
    existing rows. Then VACUUM ANALYZE that summary, as a fresh load's optimize would."""
    engine = make_engine(Settings(database_url=url))
    with engine.connect() as conn:
        before = migrate.current_revision(conn)
    after = migrate.upgrade(engine)
    engine.dispose()
    if before != after:
        log(f"  migrated {make_url(url).database}: {before} -> {after}")
    with psycopg_connect(url) as pg:
        pg.execute("VACUUM (ANALYZE) citytwin.h3_count")


@dataclass
class LoadTimes:
    rows: int = 0
    copy_s: float = 0.0  # generate + COPY
    index_s: float = 0.0  # secondary indexes built after the COPY
    optimize_s: float = 0.0  # registry.maintenance.optimize: CLUSTER by H3 + VACUUM ANALYZE


def admin_areas(districts: list[District]) -> list[areas.Area]:
    """光明 and its six streets (the built-in sample's), and the other districts as
    district-level areas."""
    out = street_areas()
    out += [areas.Area(d.county, "district", d.name, d.polygon) for d in districts[1:]
            if d.county != GUANGMING and d.name != "大鹏"]
    return out


def load(url: str, districts: list[District], log: Callable[[str], None]) -> LoadTimes:
    """Migrate, add the admin areas, COPY the entities, build indexes, optimize."""
    engine = make_engine(Settings(database_url=url))
    migrate.upgrade(engine)
    with engine.begin() as conn:
        areas.upsert(conn, admin_areas(districts))
    streets = [(a.code, a.geometry) for a in street_areas() if a.level == "street"]
    times = LoadTimes()
    minting = Minting()
    now = datetime.now(UTC).isoformat()
    with psycopg_connect(url) as pg:
        definitions = _drop_secondary_indexes(pg)
        start = time.perf_counter()
        copy = sql.SQL("COPY citytwin.entity ({}) FROM STDIN").format(
            sql.SQL(", ").join(map(sql.Identifier, COLUMNS)))
        for d in districts:
            log(f"  {d.name} ({d.county}): {d.n:,} entities, {d.km2:.0f} km²")
            with pg.cursor() as cur, cur.copy(copy) as cp:
                for block in blocks(d, minting, streets, now):
                    cp.write(block)
            times.rows += d.n
        times.copy_s = time.perf_counter() - start
        start = time.perf_counter()
        for definition in definitions:
            pg.execute(definition)
        times.index_s = time.perf_counter() - start
        with pg.cursor() as cur:
            cur.executemany(
                "INSERT INTO citytwin.serial_counter (county, category, last_serial) "
                "VALUES (%s, %s, %s)", [(c, k, s) for (c, k), s in minting.last.items()])
    start = time.perf_counter()
    maintenance.optimize(engine)
    times.optimize_s = time.perf_counter() - start
    engine.dispose()
    with psycopg_connect(url) as pg:
        pg.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(make_url(url).database), sql.Literal(marker(districts))))
    return times


def _drop_secondary_indexes(pg: psycopg.Connection) -> list[str]:
    """Drop the entity indexes other than the primary key (a bulk build after the COPY is
    faster than maintaining them row by row); returns their definitions to recreate them."""
    rows = pg.execute("""SELECT i.relname, pg_get_indexdef(i.oid)
                         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                         WHERE x.indrelid = 'citytwin.entity'::regclass AND NOT x.indisprimary
                         ORDER BY 1""").fetchall()
    for name, _ in rows:
        pg.execute(sql.SQL("DROP INDEX citytwin.{}").format(sql.Identifier(name)))
    return [definition for _, definition in rows]


def sample_codes(pg: psycopg.Connection, k: int, seed: int) -> list[str]:
    """k codes of existing entities, uniform over the table (serials are dense per class)."""
    counters = pg.execute("SELECT county, category, last_serial FROM citytwin.serial_counter "
                          "ORDER BY 1, 2").fetchall()
    weights = np.array([c[2] for c in counters], dtype=float)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(counters), size=k, p=weights / weights.sum())
    return [codes.make(counters[i][0], counters[i][1], int(rng.integers(1, counters[i][2] + 1)))
            for i in picks]
