"""Generate a sample district into a folder (no database): two monthly editions of every
department's files, the admin areas, a base map, the truth and the manifest. Cached: a folder
whose manifest is complete and matches the scale and seed is returned as it is.

    from sample_gis.generate import generate
    m = generate(scale=1.0, seed=7)        # → .citytwin/sample/scale-1-seed-7/
    m.counts["entities"], m.path("v1/iot/devices.csv")
"""

from __future__ import annotations

import multiprocessing
import shutil
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely

from registry.settings import PROJECT_ROOT
from sample_gis import (
    areas,
    attributes,
    coords,
    editions,
    entities,
    faults,
    manifest,
    network,
    sources,
    writers,
)
from sample_gis.entities import Population, filled
from sample_gis.sources import EDITIONS, SOURCES

DEFAULT_SEED = 7
BUILDINGS = 45000  # footprints at scale 1
PARALLEL_MAX = 1_000_000  # entities up to which the two editions are written in parallel
OUTPUTS = ("v1", "v2", "areas.gpkg", "basemap.gpkg", "truth.csv", manifest.NAME)


def default_out(scale: float = 1.0, seed: int = DEFAULT_SEED) -> Path:
    return PROJECT_ROOT / ".citytwin" / "sample" / f"scale-{scale:g}-seed-{seed}"


def generate(out: Path | str | None = None, *, scale: float = 1.0, seed: int = DEFAULT_SEED,
             force: bool = False, parallel: bool | None = None,
             log: Callable[[str], None] = lambda m: None) -> manifest.Manifest:
    """Generate (or find, cached) the sample for a scale and seed. `parallel` writes the two
    editions in two processes (fork, where the platform has it); the files are the same
    either way. By default only up to PARALLEL_MAX entities: the forked child's copy of a
    larger population would double the memory (about 2 GB more at scale 10)."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    scale = float(scale)  # 1 and 1.0 are the same sample (and the same manifest hash)
    root = Path(out) if out is not None else default_out(scale, seed)
    done = manifest.load(root)
    if done and not force and done["scale"] == scale and done["seed"] == seed \
            and done["format"] == manifest.FORMAT:
        return done
    _clear(root)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    admin = areas.build()
    net = network.build(admin[0].geometry, rng,
                        buildings=int(round(BUILDINGS * scale * (1 + entities.EXTRA))))
    pop = entities.place(net, scale, rng)
    attrs = attributes.assign(pop, rng)
    log(f"placed {len(pop):,} entities ({time.perf_counter() - t0:.1f} s)")
    twins = sources.choose_twins(pop, net.district, rng)
    protected = np.zeros(len(pop), bool)
    protected[twins[0]] = True
    changes = editions.plan(pop, attrs, net, protected, rng)
    dv = sources.deliver(pop, attrs, changes, twins, rng)
    plans = faults.plan(pop, dv, changes, net, rng)
    grids = [a for a in admin if a.level == "grid"]
    grid_of = sources.grid_finder([g.geometry for g in grids], [g.code for g in grids])

    job = _Editions(root, pop, attrs, dv, changes, plans, grid_of)
    files, written = job.run(parallel=len(pop) <= PARALLEL_MAX if parallel is None
                             else parallel)
    log(f"wrote both editions ({time.perf_counter() - t0:.1f} s)")
    with writers.fixed_date(EDITIONS["v1"]):
        writers.write_areas(root / "areas.gpkg", admin)
        writers.write_basemap(root / "basemap.gpkg", net)
    writers.write_truth(root / "truth.csv", _truth(pop, dv, changes))
    written += [root / "areas.gpkg", root / "basemap.gpkg", root / "truth.csv"]

    data = {
        "generator": "citytwin sample_gis", "format": manifest.FORMAT,
        "scale": scale, "seed": seed, "boundary": areas.boundary_source(),
        "district": {"code": areas.DISTRICT[0], "name": areas.DISTRICT[1]},
        "editions": {k: str(v) for k, v in EDITIONS.items()},
        "counts": _counts(pop, changes, admin, files),
        "areas": {"file": "areas.gpkg", "layer": "admin_area", "crs": "EPSG:4490",
                  "code_origin": areas.CODE_ORIGIN},
        "basemap": {"file": "basemap.gpkg", "crs": "EPSG:4490",
                    "layers": {"roads": len(net.roads.edges), "rivers": len(net.rivers),
                               "parks": len(net.parks)}},
        "truth": {"file": "truth.csv", "crs": "EPSG:4490", "rows": len(pop),
                  "fields": {f: _TRUTH_FIELDS[f] for f in writers.TRUTH_FIELDS}},
        "sources": {k: _source_info(s) for k, s in SOURCES.items()},
        "files": files,
        "faults": _faults(pop, dv, plans),
        "changes": _changes(dv, changes),
        "checksums": {str(p.relative_to(root)): manifest.checksum(p) for p in sorted(written)},
    }
    m = manifest.save(root, data)
    log(f"sample ready in {root} ({time.perf_counter() - t0:.1f} s)")
    return m


class _Editions:
    """Writes v1 and v2; v2 in a forked child when parallel (it inherits the population
    without pickling; only the small file listing comes back through a pipe)."""

    def __init__(self, root: Path, *state: Any):
        self.root, self.state = root, state

    def write(self, edition: str) -> tuple[dict[str, Any], list[Path]]:
        pop, attrs, dv, changes, plans, grid_of = self.state
        info, written = {}, []
        day = EDITIONS[edition]
        with writers.fixed_date(day):
            for t in sources.tables(pop, attrs, dv, changes, edition, grid_of):
                t = faults.apply(t, plans[t.spec.key])
                paths = writers.write_table(t, self.root / edition, day)
                written += paths
                info[t.spec.key] = _file_info(t, paths, self.root, edition)
        return info, written

    def _child(self, conn: Any, edition: str) -> None:
        try:
            conn.send(("ok", self.write(edition)))
        except BaseException as e:  # reported to the parent, which raises it
            conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
        finally:
            conn.close()

    def run(self, parallel: bool) -> tuple[dict[str, Any], list[Path]]:
        if not parallel or "fork" not in multiprocessing.get_all_start_methods():
            (i1, w1), (i2, w2) = self.write("v1"), self.write("v2")
            return {"v1": i1, "v2": i2}, w1 + w2
        ctx = multiprocessing.get_context("fork")
        recv, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=self._child, args=(send, "v2"), daemon=True)
        child.start()
        send.close()
        try:
            i1, w1 = self.write("v1")
            status, payload = recv.recv()
        finally:
            child.join()
        if status != "ok":
            raise RuntimeError(f"writing edition v2 failed: {payload}")
        i2, w2 = payload
        return {"v1": i1, "v2": i2}, w1 + w2


def _clear(root: Path) -> None:
    """Remove what a previous (maybe interrupted) run left; nothing else in the folder."""
    root.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        p = root / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def _file_info(t: sources.Table, paths: list[Path], root: Path, edition: str) -> dict[str, Any]:
    src = t.source
    cmap = src.category_map
    cats = Counter(cmap.get(v, v) for v in t.cols[src.category_field])
    main = root / edition / t.spec.path
    info = pyogrio.read_info(main, layer=t.spec.layer) if src.driver != "CSV" else {}
    return {
        "path": str(main.relative_to(root)), "layer": t.spec.layer,
        "driver": src.driver, "geometry": {"point": "Point", "line": "LineString",
                                           "polygon": "Polygon"}[t.spec.kind],
        "features": len(t), "categories": dict(sorted(cats.items())),
        "crs_declared": f"EPSG:{src.crs}" if src.crs else None,
        "crs_in_file": info.get("crs"), "encoding": src.encoding,
        "missing_sidecar": t.spec.missing,
        "files": [str(p.relative_to(root)) for p in paths],
    }


def _source_info(s: sources.Source) -> dict[str, Any]:
    return {"dataset": s.dataset, "department": s.department, "driver": s.driver,
            "crs": f"EPSG:{s.crs}" if s.crs else "GCJ-02", "crs_note": s.crs_note,
            "encoding": s.encoding, "id_field": s.id_field, "category_field": s.category_field,
            "category_map": s.category_map or "the field holds the category code",
            "condition_field": s.condition_field, "condition_map": s.condition_map,
            "fields": {spec.key: sources.fields_of(spec) for spec in s.files}}


def _counts(pop: Population, changes: editions.Changes, admin: tuple[areas.AdminArea, ...],
            files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    by_cat = {}
    for code in sorted(np.unique(pop.category)):
        m = pop.category == code
        by_cat[str(code)] = {"v1": int((m & changes.in_v1).sum()),
                             "v2": int((m & changes.in_v2).sum())}
    return {
        "entities": {"v1": int(changes.in_v1.sum()), "v2": int(changes.in_v2.sum()),
                     "all": len(pop)},
        "categories": len(by_cat), "sources": len(SOURCES),
        "by_category": by_cat,
        "areas": dict(Counter(a.level for a in admin)),
        "records": {e: sum(f["features"] for f in fs.values()) for e, fs in files.items()},
    }


def _faults(pop: Population, dv: sources.Delivery,
            plans: dict[str, faults.FilePlan]) -> dict[str, Any]:
    out: dict[str, list] = {"duplicate_in_file": [], "missing_attribute": [],
                            "invalid_geometry": [], "outside_district": []}
    for src in SOURCES.values():
        for spec in src.files:
            for kind, recs in faults.records(spec, plans[spec.key], dv).items():
                out[kind] += recs
    d = np.hypot(dv.twin_dx, dv.twin_dy)
    out["cross_department"] = [
        {"category": str(pop.category[e]), "distance_m": round(float(dist), 3),
         "shuiwu": {"file": "shuiwu/water.gpkg:ps_point", "source_id": dv.ids["shuiwu"][e]},
         "chengguan": {"file": "chengguan/manhole_covers.shp",
                       "source_id": dv.ids["chengguan"][e]}}
        for e, dist in zip(dv.twin, d, strict=True)]
    out["missing_sidecar"] = [
        {"file": spec.path, "sidecar": spec.missing,
         "note": "content is GBK" if spec.missing == ".cpg" else "department says EPSG:4547"}
        for s in SOURCES.values() for spec in s.files if spec.missing]
    return {k: {"count": len(v), "records": v} for k, v in out.items()}


def _changes(dv: sources.Delivery, ch: editions.Changes) -> dict[str, Any]:
    out = {}
    for key in SOURCES:
        has = np.not_equal(dv.ids[key], None)
        has[dv.twin] = key == "shuiwu"  # twins never change; count them once
        entry = {}
        for kind in ("added", "removed", "moved", "changed"):
            ids = sorted(dv.ids[key][has & getattr(ch, kind)])
            entry[kind] = {"count": len(ids), "source_ids": ids}
        out[key] = entry
    return out


_TRUTH_FIELDS = {
    "entity": "sample-wide entity id", "category": "category code",
    "in_v1": "1 if the entity is in the first edition", "in_v2": "1 if in the second",
    "lon": "true longitude (EPSG:4490): the point, or ST_PointOnSurface of a line/polygon",
    "lat": "true latitude", "lon_v2": "where a moved entity stands in v2 (else empty)",
    "lat_v2": "", "sources": "source:id pairs it is delivered under, ';'-separated",
    "wkt": "true geometry of lines and polygons (EPSG:4490), empty for points",
}


def _truth(pop: Population, dv: sources.Delivery, ch: editions.Changes,
           chunk: int = 200_000) -> Iterator[dict[str, list[str]]]:
    """The truth rows, a chunk at a time (millions of rows of text do not fit comfortably)."""
    for a in range(0, len(pop), chunk):
        sl = slice(a, min(a + chunk, len(pop)))
        lon, lat = coords.to_lonlat(pop.x[sl], pop.y[sl])
        geom = pop.geom[sl]
        shaped = np.flatnonzero(np.not_equal(geom, None))
        ll = coords.geoms_to_lonlat(geom[shaped])
        rep = shapely.get_coordinates(shapely.point_on_surface(ll))
        lon[shaped], lat[shaped] = rep[:, 0], rep[:, 1]
        wkt = filled("", len(lon))
        wkt[shaped] = shapely.to_wkt(ll, rounding_precision=8, trim=True)
        lon2, lat2 = coords.to_lonlat(ch.x2[sl], ch.y2[sl])
        moved = ch.moved[sl]
        ids = [dv.ids[k][sl] for k in SOURCES]
        yield {
            "entity": [f"E{i:07d}" for i in range(sl.start + 1, sl.stop + 1)],
            "category": pop.category[sl].tolist(),
            "in_v1": ch.in_v1[sl].astype(int).astype(str).tolist(),
            "in_v2": ch.in_v2[sl].astype(int).astype(str).tolist(),
            "lon": [f"{v:.8f}" for v in lon], "lat": [f"{v:.8f}" for v in lat],
            "lon_v2": [f"{v:.8f}" if m else "" for v, m in zip(lon2, moved, strict=True)],
            "lat_v2": [f"{v:.8f}" if m else "" for v, m in zip(lat2, moved, strict=True)],
            "sources": [";".join(f"{k}:{i}" for k, i in zip(SOURCES, row, strict=True)
                                 if i is not None) for row in zip(*ids, strict=True)],
            "wkt": wkt.tolist(),
        }
