"""Import benchmark (issue 4): N point features from a GeoPackage through the full loader
pipeline (read → map → validate → COPY → merge), its re-import unchanged (the file and the
registry as the first import left them: `loaders.unchanged` does not read it again), the same
re-import compared in full (`--full`), and the baseline:
`ogr2ogr -f PostgreSQL` with PG_USE_COPY=YES loading the same file raw with a spatial index
into the same database. Prints rates, ratios and peak memory in one run:

    .venv/bin/python bench/import.py [--n 1000000]

Targets: ≥ 100,000 features/s end to end, not slower than ogr2ogr, re-import ≤ 30 % of the
first import's time, peak memory ≤ 1.5 GB. Uses its own database `citytwin_bench_import`.

`--mixed` then imports, as a second dataset, N/2 points within a metre of the first file's
(staged and matched by place) and N/2 of a new class (written directly, `loaders.direct`):
the time of a bulk load that also merges, for information.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # this folder would shadow the `registry` package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import shapely
from pyogrio.raw import write
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from loaders.pipeline import Options, run
from registry import areas, migrate
from registry.db import ensure_database, make_engine
from registry.settings import Settings
from sample_gis.areas import admin_areas
from sample_gis.boundary import district_boundary

DATABASE = "citytwin_bench_import"
COUNTY = "440311"
console = Console()


def fresh_database() -> str:
    return ensure_database(Settings(), DATABASE, fresh=True, log=console.log)


def make_file(path: Path, n: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    district = district_boundary()
    shapely.prepare(district)
    minx, miny, maxx, maxy = district.bounds
    xs, ys = np.empty(0), np.empty(0)
    while len(xs) < n:
        x, y = rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)
        keep = shapely.contains_xy(district, x, y)
        xs, ys = np.concatenate([xs, x[keep]])[:n], np.concatenate([ys, y[keep]])[:n]
    cats = rng.choice(np.array(["0104", "0105", "0118", "0402"], dtype=object), n)
    ids = np.array([f"B{i:09d}" for i in range(n)], dtype=object)
    state = rng.choice(np.array(["完好", "破损"], dtype=object), n, p=[0.9, 0.1])
    dept = np.full(n, "光明区城市管理和综合执法局", dtype=object)
    write(path, shapely.to_wkb(shapely.points(xs, ys)), [ids, cats, state, dept],
          ["ObjID", "BJLX", "ObjState", "DeptName1"], driver="GPKG", crs="EPSG:4490",
          geometry_type="Point", layer="points")


def mixed_file(path: Path, first: Path, n: int, seed: int = 2) -> None:
    """n/2 points a few centimetres from the first file's, n/2 of a class it does not have."""
    from pyogrio.raw import read
    _, _, wkb, _ = read(first, max_features=n // 2)
    near = shapely.from_wkb(wkb)
    x = np.concatenate([shapely.get_x(near) + 3e-7, shapely.get_x(near[::-1]) + 1e-3])
    y = np.concatenate([shapely.get_y(near), shapely.get_y(near[::-1])])
    cats = np.array(["0104"] * len(near) + ["0303"] * len(near), dtype=object)
    ids = np.array([f"M{i:09d}" for i in range(len(x))], dtype=object)
    write(path, shapely.to_wkb(shapely.points(x, y)), [ids, cats], ["ObjID", "BJLX"],
          driver="GPKG", crs="EPSG:4490", geometry_type="Point", layer="points")


def ogr2ogr(url: str, path: Path) -> float:
    exe = shutil.which("ogr2ogr")
    if exe is None:
        return float("nan")
    u = make_url(url)
    pg = (f"PG:dbname={u.database} host={u.query.get('host', u.host)} "
          f"port={u.query.get('port', u.port)} user={u.username}"
          + (f" password={u.password}" if u.password else ""))
    t = time.perf_counter()
    subprocess.run([exe, "-f", "PostgreSQL", pg, str(path), "-nln", "public.ogr_raw",
                    "-overwrite", "-lco", "SPATIAL_INDEX=GIST", "--config", "PG_USE_COPY",
                    "YES"], check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--mixed", action="store_true", help="also a bulk load that merges")
    args = ap.parse_args()
    url = fresh_database()
    engine = make_engine(Settings(database_url=url, county=COUNTY))
    migrate.upgrade(engine)
    with engine.begin() as conn:
        areas.upsert(conn, admin_areas(), place=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "points.gpkg"
        make_file(path, args.n)
        t = time.perf_counter()
        first = run(engine, path, Options(dataset="bench"), county=COUNTY)
        t_first = time.perf_counter() - t
        t = time.perf_counter()
        again = run(engine, path, Options(dataset="bench"), county=COUNTY)
        t_again = time.perf_counter() - t
        t = time.perf_counter()
        full = run(engine, path, Options(dataset="bench", full=True), county=COUNTY)
        t_full = time.perf_counter() - t
        t_ogr = ogr2ogr(url, path)
        if args.mixed:
            mixed = Path(tmp) / "mixed.gpkg"
            mixed_file(mixed, path, args.n)
            t = time.perf_counter()
            m = run(engine, mixed, Options(dataset="bench-mixed"), county=COUNTY)
            t_mixed = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = Table(title=f"import of {args.n:,} points (GeoPackage)")
    for c in ("measure", "value", "target"):
        table.add_column(c)
    table.add_row("first import", f"{t_first:.1f} s, {args.n / t_first:,.0f} features/s "
                  f"({first.counts['added']:,} added)", "≥ 100,000 features/s")
    table.add_row("ogr2ogr PG_USE_COPY + GiST", f"{t_ogr:.1f} s", "")
    table.add_row("import / ogr2ogr", f"{t_first / t_ogr:.2f}×", "≤ 1.00×")
    table.add_row("re-import unchanged", f"{t_again:.1f} s "
                  f"(unchanged: {again.counts['unchanged']:,})", "")
    table.add_row("re-import / first", f"{t_again / t_first:.0%}", "≤ 30 %")
    table.add_row("re-import --full (read and compared)", f"{t_full:.1f} s "
                  f"(unchanged: {full.counts['unchanged']:,}), {t_full / t_first:.0%} of first",
                  "for information")
    table.add_row("peak memory (this process)", f"{peak_mb:,.0f} MB", "≤ 1,536 MB")
    if args.mixed:
        table.add_row("second dataset: half by place, half direct",
                      f"{t_mixed:.1f} s ({m.counts['added']:,} added, {m.counts['linked']:,} "
                      f"linked, {m.counts['review']:,} to review)", "for information")
    console.print(table)
    engine.dispose()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
