"""One import, end to end: read in chunks → map → validate → stage (COPY) → merge, all in one
transaction with the batch record; a dry run does the same and rolls back."""

from __future__ import annotations

import gc
import json
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely
from sqlalchemy import Connection, Engine, text

from loaders import direct as direct_mod
from loaders import mapping as mapping_mod
from loaders import merge as merge_mod
from loaders import read, stage, unchanged, validate
from registry import bulk, dictionary, placement
from spatial import geometry as geo
from spatial import h3

ORDER = ("added", "linked", "changed", "missing", "retired", "refused", "review",
         "duplicate")
SUMMARY = (*ORDER[:3], "unchanged", *ORDER[3:])  # the order of the CLI's summary table


@dataclass
class Options:
    dataset: str
    layer: str | None = None
    mapping: Path | None = None
    crs: str | None = None
    encoding: str | None = None
    dry_run: bool = False
    retire_missing: bool = False
    wait: bool = False
    actor: str = "import"
    chunk: int = read.CHUNK
    full: bool = False  # compare in full even when the file is unchanged (loaders.unchanged)


@dataclass
class Report:
    dataset: str
    file: str
    batch_id: int | None
    dry_run: bool
    features: int
    notes: list[str]
    lists: dict[str, list[Any]] = field(default_factory=dict)
    warnings: dict[str, list[Any]] = field(default_factory=dict)
    unchanged: int = 0  # counted, not listed: a re-import would list every record
    fingerprint: dict[str, Any] | None = None  # the registry's state at commit (unchanged.py)

    @property
    def counts(self) -> dict[str, int]:
        return {k: len(self.lists.get(k, [])) for k in ORDER} | {
            "unchanged": self.unchanged} | {k: len(v) for k, v in self.warnings.items()}

    def as_json(self, *, added: bool = True) -> dict[str, Any]:
        """The changelog; without `added`, the new codes are left to the crosswalk (its rows
        carry the batch id), which is how the batch record keeps a million-row import small."""
        lists = self.lists if added else {k: v for k, v in self.lists.items() if k != "added"}
        return {"dataset": self.dataset, "file": self.file, "batch_id": self.batch_id,
                "dry_run": self.dry_run, "features": self.features, "notes": self.notes,
                "counts": self.counts, **lists, "warnings": self.warnings,
                "fingerprint": self.fingerprint}


#: A dataset's name: any text of up to 100 characters but `;` (the export's `ct_sources` joins
#: dataset:source_id pairs with it), control characters, and space at either end.
DATASET_LENGTH = 100


def check_dataset(name: str) -> None:
    if not name or name != name.strip() or len(name) > DATASET_LENGTH or ";" in name or any(
            unicodedata.category(c) == "Cc" for c in name):
        raise read.ImportRefused(
            f"dataset name {name[:40]!r}{'…' if len(name) > 40 else ''} cannot be used: give "
            f"1 to {DATASET_LENGTH} characters, without ';', control characters or spaces at "
            "its ends (e.g. 城管/manhole_covers)")


def district_geometry(conn: Connection) -> Any:
    wkb = conn.execute(text(
        "SELECT ST_AsBinary(coalesce((SELECT ST_Union(geom) FROM admin_area "
        "WHERE level = 'district'), (SELECT ST_Union(geom) FROM admin_area "
        "WHERE level = 'street')))")).scalar()
    if wkb is None:
        return None
    g = shapely.from_wkb(bytes(wkb))
    shapely.prepare(g)
    return g


def run(engine: Engine, path: Path, opts: Options, *, county: str,
        progress: Callable[[int, int], None] = lambda done, total: None) -> Report:
    check_dataset(opts.dataset)
    src = read.open_source(path, layer=opts.layer, crs=opts.crs, encoding=opts.encoding)
    m = mapping_mod.load(opts.mapping, src.fields, format_fields=src.format_fields)
    report = Report(opts.dataset, path.name, None, opts.dry_run, src.features, src.notes,
                    {k: [] for k in ORDER}, {"repaired": [], "outside_district": [],
                                             "missing_attribute": []})
    with engine.connect() as conn, _no_cycle_collection():
        tx = conn.begin()
        try:
            _run(conn, src, m, opts, county, report, progress)
            if opts.dry_run:
                tx.rollback()
                report.batch_id = None
            else:
                tx.commit()
        except BaseException:
            tx.rollback()
            raise
    return report


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's automatic cycle collection off for the import: a chunk is millions of live
    objects, and every full collection walked them all — 4.7 s of a 1M-point import (37.8 →
    33.1 s). The loop collects the youngest generation after each chunk instead (without
    that, peak memory of the 1M import grew from 816 MB to 1.2 GB: a chunk leaves cycles)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
            gc.collect()


def _run(conn: Connection, src: read.Source, m: mapping_mod.Mapping, opts: Options,
         county: str, report: Report, progress: Callable[[int, int], None]) -> None:
    merge_mod.lock(conn, opts.dataset, opts.wait)
    if not opts.dry_run and bulk.may_be_bulk(conn, src.features):
        bulk.queue(conn)  # before any read of the tables a bulk load takes (registry.bulk)
    report.batch_id = conn.execute(text(
        """INSERT INTO import_batch (dataset, actor, file_name, file_hash)
           VALUES (:d, :a, :f, :h) RETURNING id"""),
        {"d": opts.dataset, "a": opts.actor, "f": str(src.path), "h": src.file_hash}).scalar()
    same = {"dataset": opts.dataset, "file_hash": src.file_hash, "layer": opts.layer,
            "crs": opts.crs, "encoding": opts.encoding, "mapping": opts.mapping}
    if not opts.full and (prev := unchanged.previous(conn, **same)) and \
            _as_before(report, prev, opts):
        report.fingerprint = prev["fingerprint"]
        _record(conn, report)
        return
    d = dictionary.load(conn)
    if m.category_fixed and m.category_fixed not in d.categories:
        raise read.ImportRefused(f"the mapping's class {m.category_fixed} is not in the "
                                 "dictionary (see `citytwin category list`)")
    district = district_geometry(conn)
    placer = placement.Placer.load(conn)
    stage.create(conn)
    direct, dropped = _direct(conn, src, opts, county, report.batch_id, placer)
    state = validate.FileState()
    done = 0
    with stage.Stager(conn) as st:
        for chunk in read.chunks(src, opts.chunk):
            n = len(chunk.geoms)
            recs = mapping_mod.apply(m, chunk.cols, n)
            out = validate.check(recs, chunk.geoms, d, district, state, chunk.offset)
            if chunk.offset == 0 and (why := validate.implausible(out)):
                raise read.ImportRefused(f"{src.path.name}: {why}")
            _collect(report, recs, out, chunk.offset)
            ok = np.flatnonzero(out.status == "ok")
            st.seen([recs.source_id[i] for i in np.flatnonzero(out.status != "ok")
                     if recs.source_id[i] is not None])
            if len(ok):
                _stage(conn, st, recs, out, ok, chunk.offset, placer, direct)
            done += n
            progress(done, src.features)
            gc.collect(1)  # the last chunk's cycles (this one's are still referenced here)
    if direct:
        direct.close_serials(conn)
    lists = merge_mod.merge(conn, dataset=opts.dataset, county=county, actor=opts.actor,
                            batch_id=report.batch_id, retire_missing=opts.retire_missing,
                            dry_run=opts.dry_run, dropped=dropped)
    if direct:  # its report list is made while the server builds the indexes
        with ThreadPoolExecutor(1) as pool:
            added = pool.submit(direct.added)
            dropped.rebuild(conn)
        lists["added"] = added.result() + lists["added"]
    report.notes = [*report.notes, *lists.pop("notes")]
    review = lists.pop("review")
    report.unchanged = lists.pop("unchanged")
    report.lists.update(lists)
    report.lists["review"] += review
    if not opts.dry_run:  # rolled back: nothing to recognise it by later
        report.fingerprint = unchanged.fingerprint(conn, **same)
    _record(conn, report)


def _direct(conn: Connection, src: read.Source, opts: Options, county: str, batch_id: int,
            placer: placement.Placer) -> tuple[direct_mod.Direct | None, bulk.Dropped | None]:
    """The direct load (loaders.direct) and the bulk load it runs in, when the file is one."""
    if opts.dry_run or not direct_mod.eligible(conn, src, opts.dataset):
        return None, None
    if bulk.claim(conn, src.features) is None:  # not a bulk load after all
        return None, None
    direct = direct_mod.Direct(conn, county=county, dataset=opts.dataset, batch_id=batch_id,
                               actor=opts.actor, placer=placer)
    dropped = bulk.drop_indexes(conn)
    bulk.roomy(conn)
    return direct, dropped


def _record(conn: Connection, report: Report) -> None:
    conn.execute(text("""UPDATE import_batch SET finished_at = now(), counts = CAST(:c AS jsonb),
                         report = CAST(:r AS jsonb) WHERE id = :id"""),
                 {"c": json.dumps(report.counts), "id": report.batch_id,
                  "r": json.dumps(report.as_json(added=False), ensure_ascii=False,
                                  default=str)})


_AS_AT = "the file and the registry are as at batch {}: not read again (--full compares it in full)"
_AS_AT_START = _AS_AT.partition("{")[0]
_MERGE_REVIEWS = ("ambiguous match", "its code is", "class changed")  # loaders.merge's notes


def _as_before(report: Report, prev: dict[str, Any], opts: Options) -> bool:
    """Fill `report` from the previous import of the same file into an unchanged registry:
    what it refused, flagged or found missing it would again; all it wrote is unchanged.
    False when this import would do more than that (retire what is still missing)."""
    retired = {r["source_id"] for r in prev.get("retired", [])}
    missing = [m for m in prev.get("missing", []) if m["source_id"] not in retired]
    if opts.retire_missing and any(merge_mod.retirable(m) for m in missing):
        return False
    # Links made by place are compared with the file on the next full read (an entity that
    # no other dataset delivers becomes this one's), and a match the merge sent to review
    # depends on entities outside the fingerprint: read such a file again.
    if prev.get("linked") or any(str(r.get("reason", "")).startswith(_MERGE_REVIEWS)
                                 for r in prev.get("review", [])):
        return False
    counts = prev.get("counts", {})
    report.unchanged = sum(counts.get(k, 0) for k in ("unchanged", "added", "linked",
                                                       "changed"))
    for k in ("refused", "review", "duplicate"):
        report.lists[k] = prev.get(k, [])
    report.lists["missing"] = missing
    report.warnings = prev.get("warnings", report.warnings)
    again = _AS_AT.format(prev["batch_id"])
    report.notes = [*report.notes, *(n for n in prev.get("notes", [])  # e.g. the merge's
                                     if n not in report.notes and not n.startswith(_AS_AT_START)),
                    again]
    return True



def _collect(report: Report, recs: mapping_mod.Records, out: validate.Outcome,
             offset: int) -> None:
    """The chunk's refusals, reviews, duplicates and warnings into the report (only the
    flagged records are visited)."""
    sid = recs.source_id
    for i in np.flatnonzero(np.isin(out.status, ("refused", "review", "duplicate"))).tolist():
        report.lists[out.status[i]].append({"record": offset + i, "source_id": sid[i],
                                            "reason": out.reason[i]})
    for i in np.flatnonzero(out.repaired).tolist():
        report.warnings["repaired"].append({"record": offset + i, "source_id": sid[i]})
    for i in np.flatnonzero(out.outside_m > 0).tolist():
        report.warnings["outside_district"].append(
            {"record": offset + i, "source_id": sid[i],
             "distance_m": round(float(out.outside_m[i]), 1)})
    for i, f in recs.missing:
        report.warnings["missing_attribute"].append(
            {"record": offset + i, "source_id": sid[i], "field": f})


def _stage(conn: Connection, st: stage.Stager, recs: mapping_mod.Records,
           out: validate.Outcome, ok: np.ndarray, offset: int, placer: placement.Placer,
           direct: direct_mod.Direct | None) -> None:
    geoms = out.geoms[ok]
    is_point = shapely.get_type_id(geoms) == 0
    pts = geo.representative_points(geoms)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    cells = h3.cells(y, x)
    # Points are placed here (the SQL rule, vectorised); lines and polygons by the merge.
    place = {}  # per level, each record's area as placer.place_index numbers it
    for level, index in placer.place_index(x[is_point], y[is_point]).items():
        place[level] = np.full(len(ok), -1, dtype=np.int32)
        place[level][is_point] = index
    seq = ok + offset
    rows = _subset({"source_id": recs.source_id, "category": recs.category,
                    "name": recs.name, "condition": recs.condition,
                    **{r: recs.depts[r] for r in mapping_mod.ROLES},
                    "attributes": recs.attributes}, ok)
    # jsonb's binary form, a version byte and the text: also a copy of orjson's bytes, each of
    # which holds a page of memory while it lives (50,000 kept cost 200 MB)
    rows["attributes"] = [stage.JSONB_V1 + orjson.dumps(a) for a in rows["attributes"]]
    if direct is not None and (mine := direct.take(rows["category"], is_point)).any():
        direct.write(conn, st, _subset(rows, mine), x[mine], y[mine], cells[mine],
                     {level: index[mine] for level, index in place.items()})
        rest = ~mine
        if not rest.any():
            return
        rows, place = _subset(rows, rest), {level: v[rest] for level, v in place.items()}
        seq, geoms, cells, is_point = seq[rest], geoms[rest], cells[rest], is_point[rest]
    st.records(seq, rows, geoms, cells,
               {level: placer.lookup(level, index).tolist() for level, index in place.items()})
    covers = []
    for s, g in zip(seq[~is_point].tolist(), geoms[~is_point], strict=True):
        covers += [(s, c, h3.descendant_range(c)[0]) for c in h3.cover_cells(g)]
    st.covers(np.array(covers, dtype=np.int64).reshape(-1, 3))


def _subset(columns: dict[str, list[Any]], which: np.ndarray) -> dict[str, list[Any]]:
    """The columns at `which` (indexes, or a mask over them); all of them as they are."""
    idx = np.flatnonzero(which) if which.dtype == bool else which
    n = len(next(iter(columns.values())))
    if len(idx) == n:
        return columns
    pick = idx.tolist()
    return {k: [v[i] for i in pick] for k, v in columns.items()}


def summary(report: Report) -> Counter[str]:
    return Counter(report.counts)
