"""Spatial benchmark (issue 5): area queries, hexbins and growth, against bare SQL and PostGIS
geometry on the same tables.

What it measures, on two databases in the local cluster (or on CITYTWIN_DATABASE_URL's server):
`citytwin_bench_spatial_1` with N entities in 光明 (default 300,000) and
`citytwin_bench_spatial_10` with 10 × N: 光明's N identical rows plus 9 × N over the other
Shenzhen districts (the registry grows by districts; a window in 光明 returns the same rows at
both scales). Both are built directly with COPY in the registry's shape (bench/_synthetic.py),
then `registry.maintenance.optimize` (CLUSTER by H3 + VACUUM ANALYZE), whose time is reported.

1. 1 km bbox fetch (windows in dense parts, ~3,000 rows each): `search.find` and `search.codes`
   against the hand-written `geom && ST_MakeEnvelope(...) AND status = ANY(...)` through
   psycopg, and our own SQL through psycopg (to split SQL from Python); target ≤ 1.5×;
2. res-8 hexbins of one class (0118 street lamps) over the whole table: `aggregate.hexbins`
   against the same grouping done with PostGIS geometry (square cells of the same area by
   ST_SnapToGrid in degrees and on EPSG:4547, and an ST_HexagonGrid join, at scale 1 only:
   over a minute a run city-wide); the fastest geometry method is the baseline; target ≥ 10×
   district-wide (scale 1), city-wide (scale 10) for information;
3. growth, scale 10 / scale 1 for the same windows: code look-up (`features.entity_feature` on
   an autocommit connection), the 1 km bbox and the 500 m radius `search.find`; target ≤ 1.3×.
   The look-ups are timed on their second pass over the same random codes, so that both
   tables are equally warm: the 3M table does not fit `shared_buffers` beside the 300k one,
   and a first touch measures the page cache (for information: first touch 1.37×, warm 1.01×
   after a cluster restart);
4. for information: exact vs H3-approximate count of 5 km polygons, the first page (100 by
   code) of a 5 km polygon on a transaction and on an autocommit connection, KNN
   `search.nearest` k=5.

Every query is warmed up, then timed over many different windows (the same, seeded, at both
scales). The variants of a measure and the two scales take turns window by window, so the noise
of a shared machine falls on all of them alike. Medians and p95 are printed with the ratios and
PASS/FAIL. Run it with

    .venv/bin/python bench/spatial.py [--n 300000] [--scale 10] [--reuse] [--explain]

`--reuse` keeps databases already loaded with the same parameters, migrated to the code's head
first (`_synthetic.upgrade_reused`; a re-run then takes one to three minutes instead of six or
seven on 2 cores); `--scale 1` runs the base scale only;
`--explain` prints EXPLAIN ANALYZE of the main queries. Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as `python bench/spatial.py`, this folder comes first on sys.path: put the project root in
# its place (bench/registry.py would shadow the `registry` package).
if Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection, Engine, text

from bench import _synthetic as synthetic
from bench._sql import captured
from registry import features, search
from registry.aggregate import hexbins
from registry.db import make_engine
from registry.search import LIVE, Query
from registry.settings import Settings
from spatial import area, h3

DATABASE = "citytwin_bench_spatial_{scale}"
HEX_CLASS = "0118"  # street lamps, 14 % of the entities
HEX_RES = 8
WINDOW_M = 1000
WINDOW_ROWS = (2700, 3300)  # rows a 1 km window in a dense part holds at scale 1
RADIUS_M = 500
POLYGON_M = 5000
PAGE = 100
PAGES = 12  # polygons for the first-page query: it can take seconds at scale 10
WARMUP = 10
TARGET_BBOX = 1.5
TARGET_HEX = 10.0
TARGET_GROWTH = 1.3
BARE_BBOX_SQL = """
    SELECT code, category, status, condition, name, dept_admin, dept_owner, dept_maintainer,
           street_code, community_code, grid_code, version, ST_AsGeoJSON(geom, 9, 0)
    FROM citytwin.entity
    WHERE geom && ST_MakeEnvelope(%s, %s, %s, %s, 4490) AND status = ANY(%s)"""
H3_HEX_SQL = f"""
    SELECT {h3.sql_parent("h3", HEX_RES)} AS cell, count(*)
    FROM citytwin.entity WHERE category = %s AND status = ANY(%s) GROUP BY 1 ORDER BY 1"""
#: The same grouping with geometry. Res-8 H3 cells average 0.737 km²: squares of 858 m and
#: hexagons of 532 m edge have that area.
GEOMETRY_HEX_SQL = {
    "ST_SnapToGrid in degrees (858 m squares)": """
        SELECT ST_SnapToGrid(geom, %(dx)s, %(dy)s) AS cell, count(*) FROM citytwin.entity
        WHERE category = %(cls)s AND status = ANY(%(live)s) GROUP BY 1""",
    "ST_SnapToGrid on EPSG:4547 (858 m squares)": """
        SELECT ST_SnapToGrid(ST_Transform(geom, 4547), 858) AS cell, count(*)
        FROM citytwin.entity WHERE category = %(cls)s AND status = ANY(%(live)s) GROUP BY 1""",
    "ST_HexagonGrid on EPSG:4547 joined (532 m hexagons)": """
        WITH hex AS MATERIALIZED (
            SELECT h.i, h.j, ST_Transform(h.geom, 4490) AS geom
            FROM ST_HexagonGrid(532, ST_Transform(
                ST_MakeEnvelope(%(minx)s, %(miny)s, %(maxx)s, %(maxy)s, 4490), 4547)) h)
        SELECT hex.i, hex.j, count(*) FROM hex JOIN citytwin.entity e
            ON ST_Intersects(e.geom, hex.geom)
        WHERE e.category = %(cls)s AND e.status = ANY(%(live)s) GROUP BY 1, 2""",
}

console = Console(log_path=False, width=120)


# --- timing ----------------------------------------------------------------------------------


@dataclass
class Timings:
    """Per-call latencies in seconds, and what each call returned (rows)."""

    seconds: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)

    def ms(self, q: float = 50) -> float:
        return float(np.percentile(self.seconds, q)) * 1000

    @property
    def mean_rows(self) -> float:
        return float(np.mean(self.rows)) if self.rows else 0.0


Runner = Callable[[Any], Any]


def interleaved(runners: dict[str, Runner], args: Sequence[Any],
                warmup: int = WARMUP) -> dict[str, Timings]:
    """Time every runner on every arg, the runners taking turns (in a rotating order) arg by
    arg, so that the noise of a shared machine falls on all of them alike. Each runner is
    warmed up on the first `warmup` args first; a result's len() is its row count."""
    names = list(runners)
    for a in args[:warmup]:
        for name in names:
            runners[name](a)
    out = {name: Timings() for name in names}
    for i, a in enumerate(args):
        for name in names[i % len(names):] + names[:i % len(names)]:
            t0 = time.perf_counter()
            result = runners[name](a)
            out[name].seconds.append(time.perf_counter() - t0)
            out[name].rows.append(len(result) if hasattr(result, "__len__") else 1)
    return out


# --- the workload: windows, circles, polygons, codes -------------------------------------------


@dataclass(frozen=True)
class Workload:
    boxes: list[tuple[float, float, float, float]]  # 1 km boxes, ~3,000 rows each at scale 1
    centres: list[tuple[float, float]]  # their centres: 500 m circles, KNN points
    polygons: list[dict[str, Any]]  # GeoJSON 24-gons 5 km across


def half_sizes(lat: float, metres: float) -> tuple[float, float]:
    return (metres / 2 / synthetic.m_per_deg_lon(lat), metres / 2 / synthetic.M_PER_DEG_LAT)


def workload(n: int, seed: int, windows: int) -> Workload:
    """Windows in dense parts of 光明, chosen on its generated points (the same at every scale,
    so --reuse needs no database to choose them)."""
    xy, _ = synthetic.points(synthetic.city(n, 1, seed)[0])
    rng = np.random.default_rng(seed + 1)
    lo, hi = (round(r * n / 300_000) for r in WINDOW_ROWS)
    boxes: list[tuple[float, float, float, float]] = []
    for i in rng.permutation(len(xy)):
        x, y = xy[i]
        hx, hy = half_sizes(y, WINDOW_M)
        inside = (np.abs(xy[:, 0] - x) <= hx) & (np.abs(xy[:, 1] - y) <= hy)
        if lo <= inside.sum() <= hi:
            boxes.append((x - hx, y - hy, x + hx, y + hy))
        if len(boxes) == windows:
            break
    centres = [((a + c) / 2, (b + d) / 2) for a, b, c, d in boxes]
    polygons = [polygon(x, y, POLYGON_M / 2, rng) for x, y in centres[:max(windows // 2, 12)]]
    return Workload(boxes, centres, polygons)


def polygon(x: float, y: float, radius_m: float, rng: np.random.Generator) -> dict[str, Any]:
    """A slightly irregular 24-gon around (x, y), as GeoJSON."""
    hx, hy = half_sizes(y, 2 * radius_m)
    a = np.linspace(0, 2 * np.pi, 25)[:-1]
    r = rng.uniform(0.9, 1.0, size=24)
    ring = np.column_stack([x + hx * r * np.cos(a), y + hy * r * np.sin(a)]).tolist()
    return {"type": "Polygon", "coordinates": [ring + ring[:1]]}


# --- connections and the SQL our path sends ----------------------------------------------------


@dataclass
class Db:
    """One scale's database and its connections, open for the whole measurement."""

    scale: int
    rows: int
    url: str
    load: synthetic.LoadTimes | None
    engine: Engine = field(init=False)
    pg: psycopg.Connection = field(init=False)  # plain psycopg, autocommit: the baselines
    tx: Connection = field(init=False)  # SQLAlchemy; each call in its own transaction
    ac: Connection = field(init=False)  # SQLAlchemy autocommit, as `api.deps.get_conn` gives
    t: dict[str, Timings] = field(default_factory=dict)
    approx_error: float = 0.0  # mean |approx − exact| / exact of the polygon counts
    hex_cells: int = 0

    @contextmanager
    def connected(self) -> Iterator[Db]:
        self.engine = make_engine(Settings(database_url=self.url))
        with synthetic.psycopg_connect(self.url) as self.pg, self.engine.connect() as self.tx, \
                self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as self.ac:
            yield self
        self.engine.dispose()

    def in_tx(self, fn: Callable[[Connection], Any]) -> Any:
        """fn in its own transaction: search's `SET LOCAL plan_cache_mode` applies."""
        with self.tx.begin():
            return fn(self.tx)

    def captured_sql(self, fn: Callable[[Connection], Any]) -> tuple[str, dict[str, Any]]:
        """The last statement and parameters fn sent (ours, verbatim)."""
        return captured(self.engine, fn)[-1]

    def find_sql(self, q: Query) -> tuple[str, dict[str, Any]]:
        """`search.find`'s statement for q, verbatim, in psycopg's parameter style."""
        with self.engine.begin() as conn:
            sql, params = search.find_sql(conn, q)
            compiled = text(sql).compile(dialect=conn.dialect)
            return str(compiled), compiled.construct_params(params)


# --- the measurements, each interleaved over the scales -----------------------------------------


def record(dbs: list[Db], timings: dict[str, Timings]) -> None:
    """Runner names are `scale|query`: file each under its scale."""
    for key, t in timings.items():
        scale, name = key.split("|", 1)
        next(db for db in dbs if db.scale == int(scale)).t[name] = t


def bbox_runners(db: Db, w: Workload) -> dict[str, Runner]:
    live = list(LIVE)
    sql, params = db.find_sql(Query(area=area.bbox(w.boxes[0]), limit=10_000))

    def verbatim(b: tuple[float, ...]) -> list[Any]:
        corners = dict(zip(("minx", "miny", "maxx", "maxy"), b, strict=True))
        return db.pg.execute(sql, {**params, **corners}).fetchall()

    def q(b: tuple[float, ...]) -> Query:
        return Query(area=area.bbox(b), limit=10_000)

    return {
        "bbox: bare SQL (psycopg, && + status)":
            lambda b: db.pg.execute(BARE_BBOX_SQL, (*b, live)).fetchall(),
        "bbox: our SQL verbatim (psycopg)": verbatim,
        "bbox: search.find (transaction)": lambda b: db.in_tx(lambda c: search.find(c, q(b))),
        "bbox: search.codes (transaction)": lambda b: db.in_tx(lambda c: search.codes(c, q(b))),
        "bbox: search.find (autocommit, as routes)": lambda b: search.find(db.ac, q(b)),
    }


def point_runners(db: Db) -> dict[str, Runner]:
    return {
        "radius 500 m: search.find (transaction)": lambda p: db.in_tx(lambda c: search.find(
            c, Query(area=area.circle(p[0], p[1], RADIUS_M), limit=10_000))),
        "KNN: search.nearest k=5": lambda p: db.in_tx(
            lambda c: search.nearest(c, p[0], p[1], 5)),
    }


def lookup_runner(db: Db, k: int, seed: int) -> tuple[str, Runner]:
    sample = synthetic.sample_codes(db.pg, k, seed)
    return ("code look-up: entity_feature (autocommit)",
            lambda i: features.entity_feature(db.ac, sample[i]))


def count_runners(db: Db) -> dict[str, Runner]:
    def count(shape: area.Shape, approx: bool) -> tuple[int, bool]:
        return db.in_tx(lambda c: search.count(c, Query(area=shape, approx=approx)))

    return {"count 5 km polygon: exact": lambda sh: count(sh, False),
            "count 5 km polygon: approx (H3 res 9)": lambda sh: count(sh, True)}


def page_runners(db: Db) -> dict[str, Runner]:
    """The first page of a polygon query (sorted by code, the default), on a transaction and on
    an autocommit connection (where the plan may become generic after a few runs)."""
    def page(c: Connection, shape: area.Shape) -> list[dict[str, Any]]:
        return search.find(c, Query(area=shape, limit=PAGE))

    return {f"5 km polygon, first {PAGE} by code: search.find (transaction)":
            lambda sh: db.in_tx(lambda c: page(c, sh)),
            f"5 km polygon, first {PAGE} by code: search.find (autocommit, as routes)":
            lambda sh: page(db.ac, sh)}


def count_accuracy(db: Db, shapes: list[area.Shape]) -> None:
    """Mean rows and the approximate count's mean relative error."""
    pairs = [(db.in_tx(lambda c, sh=sh: search.count(c, Query(area=sh)))[0],
              db.in_tx(lambda c, sh=sh: search.count(c, Query(area=sh, approx=True)))[0])
             for sh in shapes]
    db.t["count 5 km polygon: exact"].rows = [e for e, _ in pairs]
    db.t["count 5 km polygon: approx (H3 res 9)"].rows = [a for _, a in pairs]
    db.approx_error = float(np.mean([abs(a - e) / e for e, a in pairs]))


def hexbin_runners(db: Db, extent: tuple[float, float, float, float]) -> dict[str, Runner]:
    live = list(LIVE)
    lat = (extent[1] + extent[3]) / 2
    dx, dy = (2 * h for h in half_sizes(lat, 858))
    params = {"cls": HEX_CLASS, "live": live, "dx": dx, "dy": dy,
              **dict(zip(("minx", "miny", "maxx", "maxy"), extent, strict=True))}
    runners: dict[str, Runner] = {
        "hexbin res 8: aggregate.hexbins": lambda _: db.in_tx(
            lambda c: hexbins(c, HEX_RES, Query(categories=[HEX_CLASS]))),
        "hexbin res 8: hand-written H3 SQL (psycopg)":
            lambda _: db.pg.execute(H3_HEX_SQL, (HEX_CLASS, live)).fetchall(),
    }
    for name, sql in GEOMETRY_HEX_SQL.items():
        if "HexagonGrid" in name and db.scale > 1:
            continue  # ~10x slower than snapping at scale 1, over a minute a run city-wide
        runners[f"hexbin geometry: {name}"] = \
            lambda _, sql=sql: db.pg.execute(sql, params).fetchall()
    return runners


def explain(db: Db, w: Workload) -> None:
    """EXPLAIN ANALYZE of our bbox SQL and the bare one (first window), our hexbin SQL, and
    our first page of the first polygon."""
    b = w.boxes[0]
    plans = {
        "bbox, our SQL": db.find_sql(Query(area=area.bbox(b), limit=10_000)),
        "bbox, bare SQL": (BARE_BBOX_SQL, (*b, list(LIVE))),
        "hexbins, our SQL": db.captured_sql(
            lambda c: hexbins(c, HEX_RES, Query(categories=[HEX_CLASS]))),
        f"5 km polygon, first {PAGE} by code, our SQL": db.find_sql(
            Query(area=area.polygon(w.polygons[0]), limit=PAGE)),
    }
    for name, (sql, params) in plans.items():
        rows = db.pg.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
        console.print(f"[bold]scale {db.scale}, {name}[/bold]")
        console.print("\n".join(r[0] for r in rows), markup=False, highlight=False, soft_wrap=True)


def measure(dbs: list[Db], w: Workload, args: argparse.Namespace) -> None:
    def each(make: Callable[[Db], dict[str, Runner]]) -> dict[str, Runner]:
        return {f"{db.scale}|{name}": fn for db in dbs for name, fn in make(db).items()}

    console.log(f"bbox fetches: {len(w.boxes)} windows of {WINDOW_M} m")
    record(dbs, interleaved(each(lambda db: bbox_runners(db, w)), w.boxes))
    console.log(f"radius {RADIUS_M} m and KNN: {len(w.centres)} points")
    record(dbs, interleaved(each(point_runners), w.centres))
    console.log(f"code look-ups: {args.lookups}")
    record(dbs, interleaved(each(lambda db: dict([lookup_runner(db, args.lookups, args.seed)])),
                            range(args.lookups), warmup=args.lookups))
    console.log(f"polygon counts: {len(w.polygons)} polygons")
    shapes = [area.polygon(p) for p in w.polygons]
    record(dbs, interleaved(each(count_runners), shapes, warmup=2))
    for db in dbs:
        count_accuracy(db, shapes)
    console.log(f"first pages of polygon queries: {PAGES} polygons")
    record(dbs, interleaved(each(page_runners), shapes[:PAGES], warmup=1))
    console.log(f"hexbins: {args.hex_reps} runs of each")
    record(dbs, interleaved(each(lambda db: hexbin_runners(db, extent_of(db.scale, args))),
                            range(args.hex_reps), warmup=1))
    for db in dbs:
        db.hex_cells = int(db.t["hexbin res 8: aggregate.hexbins"].rows[0])
        if args.explain:
            explain(db, w)


# --- set-up ------------------------------------------------------------------------------------


def prepare(scale: int, args: argparse.Namespace) -> Db:
    """The loaded database of a scale (loaded now unless --reuse finds it loaded already)."""
    districts = synthetic.city(args.n, scale, args.seed)
    name = DATABASE.format(scale=scale)
    rows = sum(d.n for d in districts)
    if args.reuse:
        url = synthetic.database(name, fresh=False, log=console.log)
        if synthetic.loaded_marker(url) == synthetic.marker(districts):
            console.log(f"reusing {name} ({rows:,} entities)")
            synthetic.upgrade_reused(url, console.log)
            return Db(scale, rows, url, None)
    url = synthetic.database(name, fresh=True, log=console.log)
    console.log(f"loading {name}: {rows:,} entities in {len(districts)} districts")
    return Db(scale, rows, url, synthetic.load(url, districts, console.log))


def extent_of(scale: int, args: argparse.Namespace) -> tuple[float, float, float, float]:
    bounds = np.array([d.polygon.bounds for d in synthetic.city(args.n, scale, args.seed)])
    return (*bounds[:, :2].min(axis=0), *bounds[:, 2:].max(axis=0))


# --- report ------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "[green]PASS[/green]" if ok else "[red]FAIL[/red]"


def figures_table(scales: list[Db]) -> Table:
    table = Table(title="median / p95 ms (mean rows)", title_justify="left")
    table.add_column("query")
    for s in scales:
        table.add_column(f"scale {s.scale} ({s.rows:,})", justify="right")
    for name in scales[0].t:
        cells = []
        for s in scales:
            t = s.t.get(name)
            if t is None:
                cells.append("not run")
                continue
            rows = f" ({t.mean_rows:,.0f})" if t.mean_rows > 1 else ""
            cells.append(f"{t.ms(50):.2f} / {t.ms(95):.2f}{rows}")
        table.add_row(name, *cells)
    return table


def load_table(scales: list[Db]) -> Table:
    table = Table(title="load (bench/_synthetic.py) and registry.maintenance.optimize",
                  title_justify="left")
    for col in ("scale", "rows", "generate + COPY s", "indexes s", "optimize s"):
        table.add_column(col, justify="right")
    for s in scales:
        if s.load:
            table.add_row(str(s.scale), f"{s.rows:,}", f"{s.load.copy_s:.1f}",
                          f"{s.load.index_s:.1f}", f"{s.load.optimize_s:.1f}")
        else:
            table.add_row(str(s.scale), f"{s.rows:,}", "reused", "", "")
    return table


def targets(scales: list[Db]) -> tuple[Table, bool]:
    table = Table(title="targets (ratios of medians, this run)", title_justify="left")
    for col in ("measure", "ratio", "target", "verdict"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    ok = True

    def row(name: str, ratio: float, target: str, good: bool, graded: bool = True) -> None:
        nonlocal ok
        ok &= good or not graded
        table.add_row(name, f"{ratio:.2f}x", target, verdict(good) if graded else "info")

    bare = "bbox: bare SQL (psycopg, && + status)"
    for s in scales:
        for ours, graded in (("bbox: search.find (transaction)", True),
                             ("bbox: search.find (autocommit, as routes)", True),
                             ("bbox: search.codes (transaction)", True),
                             ("bbox: our SQL verbatim (psycopg)", False)):
            r = s.t[ours].ms() / s.t[bare].ms()
            row(f"scale {s.scale}: {ours.removeprefix('bbox: ')} / bare", r,
                f"≤ {TARGET_BBOX}", r <= TARGET_BBOX, graded)
    for s in scales:
        geometry = {k: v.ms() for k, v in s.t.items() if k.startswith("hexbin geometry")}
        fastest = min(geometry, key=geometry.get)
        r = geometry[fastest] / s.t["hexbin res 8: aggregate.hexbins"].ms()
        where = "district-wide" if s.scale == 1 else "city-wide"
        row(f"scale {s.scale} ({where}): fastest geometry "
            f"({fastest.removeprefix('hexbin geometry: ')}) / hexbins", r, f"≥ {TARGET_HEX:g}",
            r >= TARGET_HEX, s.scale == 1)
    if len(scales) > 1:
        base, big = scales[0], scales[-1]
        for name in ("code look-up: entity_feature (autocommit)",
                     "bbox: search.find (transaction)", "radius 500 m: search.find (transaction)"):
            r = big.t[name].ms() / base.t[name].ms()
            row(f"growth scale {big.scale} / {base.scale}: {name}", r, f"≤ {TARGET_GROWTH}",
                r <= TARGET_GROWTH)
    return table, ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=300_000, help="entities at scale 1 (光明)")
    p.add_argument("--scale", type=int, default=10, help="the larger scale (1: base only)")
    p.add_argument("--reuse", action="store_true", help="keep databases already loaded")
    p.add_argument("--windows", type=int, default=80, help="bbox / radius / KNN windows")
    p.add_argument("--lookups", type=int, default=10_000, help="look-ups by code")
    p.add_argument("--hex-reps", type=int, default=7, help="timed runs of each hexbin query")
    p.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of key queries")
    p.add_argument("--seed", type=int, default=5)
    args = p.parse_args(argv)

    started = time.perf_counter()
    w = workload(args.n, args.seed, args.windows)
    scale_list = [1] if args.scale == 1 else [1, args.scale]
    scales = [prepare(scale, args) for scale in scale_list]
    with ExitStack() as stack:
        for db in scales:
            stack.enter_context(db.connected())
        measure(scales, w, args)

    console.print(load_table(scales))
    console.print(figures_table(scales))
    table, ok = targets(scales)
    console.print(table)
    for s in scales:
        console.print(f"scale {s.scale}: H3 approximate count off by {s.approx_error:.1%} on "
                      f"average; {s.hex_cells} res-{HEX_RES} cells of class {HEX_CLASS}")
    console.print(f"{len(w.boxes)} windows of {WINDOW_M} m, {len(w.polygons)} polygons; "
                  f"{os.cpu_count()} CPUs; {time.perf_counter() - started:.0f} s in all")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
