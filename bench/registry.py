"""Registry benchmark (issue 2): mint + register point entities, then look them up by code.

What it measures, all on one fresh database `citytwin_bench` (in the project's local cluster, or
on CITYTWIN_DATABASE_URL's server when that is set):

1. write: `registry.entities.register_many` of N random points inside the district (four point
   classes, 10,000 per transaction) → entities/s, codes minted and placed in the admin areas;
2. baselines, through psycopg directly on the same database: a bare primary-key SELECT
   (code, name, ST_AsGeoJSON) and the full feature SQL of `registry/features.py`; and
   `features.entity_feature()` through the SQLAlchemy pool (what the route runs, in process);
3. read: `GET /entities/{code}` over HTTP against `uvicorn api.app:create_app` (1 worker,
   keep-alive httpx clients): sequential latency, then throughput with C concurrent clients.

It prints a table with the rates and the ratio of the API's median look-up latency to the bare
primary-key SELECT's. Run it with

    .venv/bin/python bench/registry.py [--n 100000] [--lookups 10000] [--concurrency 8]

(`make bench` runs it with the defaults). Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

# Run as `python bench/registry.py`, this folder comes first on sys.path and this file would
# shadow the `registry` package: put the project root in its place.
if Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import numpy as np
import psycopg
import shapely
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from bench import _peer as peer
from bench._synthetic import psycopg_connect
from registry import areas, entities, features, migrate
from registry.db import ensure_database, make_engine
from registry.entities import NewEntity
from registry.settings import Settings
from sample_gis.boundary import district_boundary
from sample_gis.builtin import street_areas

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "citytwin_bench"
COUNTY = "440311"
CLASSES = ("0101", "0118", "0305", "0402")  # manhole cover, street lamp, litter bin, tree
BATCH = 10_000
WARMUP = 200
BARE_PK_SQL = "SELECT code, name, ST_AsGeoJSON(geom) FROM citytwin.entity WHERE code = %s"

console = Console(log_path=False)


@dataclass
class Timings:
    """Per-operation latencies in seconds, and the wall time of the whole run."""

    seconds: list[float] = field(default_factory=list)
    wall: float = 0.0

    def ms(self, q: float) -> float:
        return float(np.percentile(self.seconds, q)) * 1000

    @property
    def rate(self) -> float:
        return len(self.seconds) / self.wall


def timed(fn: Callable[[str], object], keys: list[str]) -> Timings:
    """Call fn(key) for each key, timing each call and the whole loop."""
    t = Timings()
    start = time.perf_counter()
    for key in keys:
        t0 = time.perf_counter()
        fn(key)
        t.seconds.append(time.perf_counter() - t0)
    t.wall = time.perf_counter() - start
    return t


# --- the database ---------------------------------------------------------------------------


def bench_database_url() -> str:
    """A fresh, empty `citytwin_bench` (PostGIS) on CITYTWIN_DATABASE_URL's server or locally."""
    return ensure_database(Settings(), DATABASE, fresh=True, log=console.log)


# --- write: mint + register ------------------------------------------------------------------


def random_points(n: int, seed: int) -> np.ndarray:
    """n (lon, lat) points uniformly inside the district boundary."""
    rng = np.random.default_rng(seed)
    district = district_boundary()
    shapely.prepare(district)
    minx, miny, maxx, maxy = district.bounds
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        xy = rng.uniform((minx, miny), (maxx, maxy), size=(2 * n, 2))
        xy = xy[shapely.contains_xy(district, xy[:, 0], xy[:, 1])]
        out.append(xy)
        have += len(xy)
    return np.concatenate(out)[:n]


def new_entities(points: np.ndarray) -> list[NewEntity]:
    return [
        NewEntity(CLASSES[i % len(CLASSES)], {"type": "Point", "coordinates": [x, y]},
                  name=f"bench-{i + 1:06d}", condition="intact")
        for i, (x, y) in enumerate(points.tolist())
    ]


def register(engine: Engine, items: list[NewEntity]) -> tuple[list[str], float]:
    """Register items BATCH per transaction; returns the codes and the elapsed seconds."""
    codes: list[str] = []
    start = time.perf_counter()
    for i in range(0, len(items), BATCH):
        with engine.begin() as conn:
            codes += entities.register_many(conn, items[i:i + BATCH], county=COUNTY,
                                            actor="bench", reason="bench/registry.py")
    return codes, time.perf_counter() - start


# --- baselines on the same database ----------------------------------------------------------


def bare_pk(pg: psycopg.Connection, codes: list[str]) -> Timings:
    def lookup(code: str) -> None:
        pg.execute(BARE_PK_SQL, (code,)).fetchone()

    timed(lookup, codes[:WARMUP])
    return timed(lookup, codes)


def feature_sql(pg: psycopg.Connection, engine: Engine, codes: list[str]) -> Timings:
    sql = str(features._FEATURE.compile(dialect=engine.dialect))  # the route's SQL, verbatim

    def lookup(code: str) -> None:
        pg.execute(sql, {"code": code}).fetchone()

    timed(lookup, codes[:WARMUP])
    return timed(lookup, codes)


def entity_feature(engine: Engine, codes: list[str]) -> Timings:
    """What the route does per request, minus HTTP: check an autocommit connection out (as
    `api.deps.get_conn` does), run, return it."""
    def lookup(code: str) -> None:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            features.entity_feature(conn, code)

    timed(lookup, codes[:WARMUP])
    return timed(lookup, codes)


# --- read: the HTTP API ----------------------------------------------------------------------


@dataclass
class Answer:
    code: str
    status: int
    feature_id: str | None


def check(answers: list[Answer]) -> list[str]:
    """Every look-up must be a 200 whose Feature id is the code asked for."""
    return [f"{a.code}: HTTP {a.status}, id {a.feature_id!r}" for a in answers
            if a.status != 200 or a.feature_id != a.code]


def http_lookups(base: str, codes: list[str]) -> tuple[Timings, list[Answer]]:
    """Sequential look-ups on one keep-alive client; bodies are parsed after the timing."""
    t = Timings()
    responses: list[tuple[str, httpx.Response]] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        start = time.perf_counter()
        for code in codes:
            t0 = time.perf_counter()
            r = client.get(f"/entities/{code}")
            t.seconds.append(time.perf_counter() - t0)
            responses.append((code, r))
        t.wall = time.perf_counter() - start
    answers = [Answer(code, r.status_code, r.json().get("id") if r.status_code == 200 else None)
               for code, r in responses]
    return t, answers


def http_concurrent(base: str, codes: list[str], concurrency: int) -> tuple[Timings, list[Answer]]:
    """The codes split over `concurrency` threads, each with its own keep-alive client."""
    chunks = [codes[i::concurrency] for i in range(concurrency)]
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda chunk: http_lookups(base, chunk), chunks))
    wall = time.perf_counter() - start
    t = Timings([s for r, _ in results for s in r.seconds], wall)
    return t, [a for _, answers in results for a in answers]


# --- the run ---------------------------------------------------------------------------------


def report(rows: list[tuple[str, str]], title: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100_000, help="entities to register")
    p.add_argument("--lookups", type=int, default=10_000, help="look-ups by code")
    p.add_argument("--concurrency", type=int, default=8, help="concurrent HTTP clients")
    p.add_argument("--seed", type=int, default=2)
    args = p.parse_args(argv)
    if args.lookups > args.n:
        p.error("--lookups cannot exceed --n")

    url = bench_database_url()
    engine = make_engine(Settings(database_url=url))
    migrate.upgrade(engine)
    with engine.begin() as conn:
        areas.upsert(conn, street_areas())
    items = new_entities(random_points(args.n, args.seed))
    console.log(f"registering {args.n:,} points in {DATABASE}, {BATCH:,} per transaction ...")
    codes, write_s = register(engine, items)
    with psycopg_connect(url) as pg:
        pg.execute("VACUUM ANALYZE citytwin.entity")
        sample = [str(c) for c in np.random.default_rng(args.seed).choice(
            codes, size=args.lookups, replace=False)]
        console.log(f"baselines: {args.lookups:,} look-ups each through psycopg and SQLAlchemy")
        pk = bare_pk(pg, sample)
        feat = feature_sql(pg, engine, sample)
    inproc = entity_feature(engine, sample)
    engine.dispose()

    with peer.serve_citytwin(url, 1, log=console.log) as server:
        base = server.base
        http_lookups(base, sample[:WARMUP])
        console.log(f"API: {args.lookups:,} sequential look-ups, then {args.concurrency} clients")
        seq, seq_answers = http_lookups(base, sample)
        conc, conc_answers = http_concurrent(base, sample, args.concurrency)
    failures = check(seq_answers) + check(conc_answers)

    report([
        ("register (mint + insert), entities/s", f"{args.n / write_s:,.0f}"),
        (f"  {args.n:,} entities in", f"{write_s:.1f} s"),
        ("bare PK SELECT (psycopg), median / p95 ms", f"{pk.ms(50):.3f} / {pk.ms(95):.3f}"),
        ("feature SQL (psycopg), median / p95 ms", f"{feat.ms(50):.3f} / {feat.ms(95):.3f}"),
        ("entity_feature() via SQLAlchemy pool, median ms", f"{inproc.ms(50):.3f}"),
        ("API GET /entities/{code} sequential, median / p95 ms",
         f"{seq.ms(50):.2f} / {seq.ms(95):.2f}"),
        ("API sequential, req/s", f"{seq.rate:,.0f}"),
        (f"API at concurrency {args.concurrency}, req/s", f"{conc.rate:,.0f}"),
        (f"API at concurrency {args.concurrency}, median / p95 ms",
         f"{conc.ms(50):.2f} / {conc.ms(95):.2f}"),
        ("ratio API median / bare PK median", f"{seq.ms(50) / pk.ms(50):.1f}x"),
        ("ratio API median / feature SQL median", f"{seq.ms(50) / feat.ms(50):.1f}x"),
        ("failed look-ups", f"{len(failures)} of {2 * args.lookups:,}"),
    ], f"citytwin registry bench: n={args.n:,}, lookups={args.lookups:,}, {os.cpu_count()} CPUs")
    for line in failures[:20]:
        console.print(f"[red]failed[/red] {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
