"""The direct load (loaders.direct) writes rows as CSV that PostgreSQL parses, the staging
(loaders.stage) as binary rows: text with quotes, commas, new lines, backslashes and Chinese,
empty attributes and NULLs must come out of the registry as they went into the file; the
streams' worker thread (loaders.streams) must hand its errors to the import."""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text

from loaders import direct as direct_mod
from loaders import stage
from loaders.pipeline import Options, run
from registry import areas, bulk, reads
from sample_gis.areas import admin_areas
from tests.conftest import COUNTY, empty
from tiles.cache import TileCache

NAMES = ['井盖 "北"', "a,b", "line\nbreak", "back\\slash", "tab\there", "'single'", None,
         "NULL", "\\N", "  padded  ", "光明区\r\n凤凰街道"]


@pytest.fixture
def direct(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """An empty registry with its areas, bulk loads from one row; the rows written directly."""
    with engine.begin() as conn:
        empty(conn)
        areas.upsert(conn, admin_areas(), place=False)
    monkeypatch.setattr(bulk, "MIN_ROWS", 1)
    written: list[int] = []
    real = direct_mod.Direct.write
    monkeypatch.setattr(direct_mod.Direct, "write",
                        lambda self, conn, st, rows, *a: written.append(len(rows["category"]))
                        or real(self, conn, st, rows, *a))
    return written


def _file(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features},
                               ensure_ascii=False), encoding="utf-8")
    return path


def _point(i: int, props: dict) -> dict:
    return {"type": "Feature", "properties": {"ObjID": f"T{i}", **props},
            "geometry": {"type": "Point", "coordinates": [113.93 + i * 1e-4, 22.76]}}


@pytest.mark.parametrize("staged", [False, True], ids=["direct", "staged"])
def test_tricky_text_survives_the_csv_streams(engine: Engine, tmp_path: Path, direct: list[int],
                                              staged: bool,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Written directly (CSV), or staged (binary) and merged."""
    if staged:
        monkeypatch.setattr(bulk, "MIN_ROWS", 100_000)
    path = _file(tmp_path / "tricky.geojson", [
        _point(i, {"BJLX": "0104", "name": name, "note": name, "n": i})
        for i, name in enumerate(NAMES)])
    report = run(engine, path, Options(dataset="tricky"), county=COUNTY)
    assert sum(direct) == (0 if staged else len(NAMES))
    assert report.counts["added"] == len(NAMES)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.source_id, e.name, e.attributes, e.version, e.status, v.change, "
            "e.valid_from = b.started_at AND v.valid_from = b.started_at AS same_time "
            "FROM crosswalk c JOIN entity e USING (code) JOIN entity_version v USING (code) "
            "JOIN import_batch b ON b.id = e.batch_id")).all()
    got = {r.source_id: r for r in rows}
    for i, name in enumerate(NAMES):
        want = name.strip() or None if name else None  # the mapping trims text
        r = got[f"T{i}"]
        assert r.name == want, i
        assert r.attributes.get("note") == want and r.attributes["n"] == i, i
        assert (r.version, r.status, r.change, r.same_time) == (1, "active", "created", True)


def test_a_class_written_directly_and_merged_numbers_on(engine: Engine, tmp_path: Path,
                                                        direct: list[int]) -> None:
    """Points of a class go directly, its polygons through the merge: the merge's serials
    follow the direct ones, with no gap and no code twice."""
    polygon = {"type": "Polygon", "coordinates": [[[113.935, 22.765], [113.936, 22.765],
                                                   [113.936, 22.766], [113.935, 22.765]]]}
    features = [_point(i, {"BJLX": "0201"}) for i in range(5)] + [
        {"type": "Feature", "properties": {"ObjID": f"P{i}", "BJLX": "0201"},
         "geometry": polygon} for i in range(3)] + [_point(i, {"BJLX": "0201"})
                                                   for i in range(5, 8)]
    report = run(engine, _file(tmp_path / "mixed.geojson", features), Options(dataset="m"),
                 county=COUNTY)
    assert sum(direct) == 8 and report.counts["added"] == 11
    with engine.connect() as conn:
        serials = conn.execute(text("SELECT serial FROM entity ORDER BY serial")).scalars().all()
        last = conn.execute(text("SELECT last_serial FROM serial_counter "
                                 "WHERE category = '0201'")).scalar()
        polygons = conn.execute(text("SELECT min(serial) FROM entity "
                                     "WHERE GeometryType(geom) = 'POLYGON'")).scalar()
    assert serials == list(range(1, 12)) and last == 11 and polygons == 9



def _files(engine: Engine) -> list[int]:
    """The tables' files and how many indexes they have."""
    with engine.connect() as conn:
        return [conn.execute(text("SELECT pg_relation_filenode(CAST(:t AS regclass))"),
                             {"t": t}).scalar() for t in bulk.TABLES] + [conn.execute(text(
            "SELECT count(*) FROM pg_index WHERE indrelid = ANY(CAST(:t AS regclass[]))"),
            {"t": list(bulk.TABLES)}).scalar()]


def test_only_a_bulk_load_into_the_empty_registry_gets_new_table_files(
        engine: Engine, tmp_path: Path, direct: list[int]) -> None:
    """The empty tables are truncated (new files, which PostgreSQL fills without WAL at
    wal_level minimal, the local cluster's setting); a later bulk load into what they hold
    keeps every row; the indexes are back either way."""
    *before, indexes = _files(engine)
    first = _file(tmp_path / "a.geojson", [_point(i, {"BJLX": "0104"}) for i in range(10)])
    assert run(engine, first, Options(dataset="a"), county=COUNTY).counts["added"] == 10
    *after, indexes_after = _files(engine)
    assert all(a != b for a, b in zip(before, after, strict=True))
    assert indexes_after == indexes > 0
    second = _file(tmp_path / "b.geojson", [_point(i, {"BJLX": "0105"}) for i in range(20)])
    assert run(engine, second, Options(dataset="b"), county=COUNTY).counts["added"] == 20
    assert _files(engine) == [*after, indexes] and sum(direct) == 30
    with engine.connect() as conn:
        counts = [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                  for t in bulk.TABLES]
    assert counts == [30, 30, 30]
def test_placement_replaced_after_an_import_keeps_the_first_version(
        engine: Engine, tmp_path: Path, direct: list[int]) -> None:
    """Admin areas change placement without a version; an import's thin first version gets
    its state before that, like any other version keeps its own."""
    path = _file(tmp_path / "p.geojson", [_point(i, {"BJLX": "0104"}) for i in range(3)])
    run(engine, path, Options(dataset="p"), county=COUNTY)
    with engine.begin() as conn:
        code, street = conn.execute(text("SELECT code, street_code FROM entity LIMIT 1")).one()
        assert street is not None
        conn.execute(text("UPDATE admin_area SET geom = ST_Multi(ST_Translate(geom, 1, 0)) "
                          "WHERE level = 'street'"))
        assert areas.replace_placement(conn) == 3
        now = conn.execute(text("SELECT now()")).scalar()
        assert reads.get(conn, code).street_code is None
        assert reads.as_of(conn, code, now).street_code == street


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def test_the_tile_cache_drops_the_tiles_an_import_touched(engine: Engine, tmp_path: Path,
                                                          direct: list[int]) -> None:
    """An import's first versions are thin: the cache finds their places in the entities."""
    cache = TileCache()
    with engine.connect() as conn:
        cache.sync(conn, force=True)
    near, far = ("entities", 14, *_tile(113.9301, 22.76, 14)), ("entities", 14,
                                                                 *_tile(113.80, 22.65, 14))
    cache.put(near, b"stale")
    cache.put(far, b"kept")
    path = _file(tmp_path / "t.geojson", [_point(i, {"BJLX": "0104"}) for i in range(3)])
    run(engine, path, Options(dataset="t"), county=COUNTY)
    with engine.connect() as conn:
        cache.sync(conn, force=True)
    assert sum(direct) == 3 and cache.get(near) is None and cache.get(far) == b"kept"


def test_two_bulk_imports_at_once_pass_one_after_the_other(
        engine: Engine, tmp_path: Path, direct: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The second waits for the first before it reads any table a bulk load takes: had it
    read one first, each would wait for the other (PostgreSQL would abort one)."""
    a = _file(tmp_path / "a.geojson", [_point(i, {"BJLX": "0104"}) for i in range(10)])
    b = _file(tmp_path / "b.geojson", [_point(i, {"BJLX": "0105"}) for i in range(20)])
    real, queued = bulk.queue, threading.Event()

    def slow_queue(conn) -> None:  # noqa: ANN001 - the first in line holds it a while
        real(conn)
        if not queued.is_set():
            queued.set()
            time.sleep(1.5)  # past deadlock_timeout (1 s): a deadlock would be found

    monkeypatch.setattr(bulk, "queue", slow_queue)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(run, engine, a, Options(dataset="a"), county=COUNTY)
        assert queued.wait(10)
        second = pool.submit(run, engine, b, Options(dataset="b"), county=COUNTY)
        reports = [first.result(timeout=60), second.result(timeout=60)]
    assert [r.counts["added"] for r in reports] == [10, 20] and sum(direct) == 30


_SQUARE = {"type": "Polygon", "coordinates": [[[113.935, 22.765], [113.936, 22.765],
                                                [113.936, 22.766], [113.935, 22.765]]]}


def _left_as_it_was(engine: Engine) -> None:
    assert not [t for t in threading.enumerate() if t.name == "citytwin-copy"]
    with engine.connect() as conn:
        for table in ("entity", "entity_version", "crosswalk", "serial_counter",
                      "import_batch"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table


@pytest.mark.parametrize("polygons", [False, True], ids=["points", "points-and-polygons"])
def test_an_error_mid_stream_leaves_the_registry_as_it_was(
        engine: Engine, tmp_path: Path, direct: list[int], polygons: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The streams are written by a worker thread (loaders.streams): a row the server refuses
    there, after chunks were stored, fails the import like any other — with each chunk's
    polygons staged (binary rows) between its points (CSV) too — and so does an error of the
    import's own while the worker writes; no thread is left behind."""
    features = [_point(i, {"BJLX": "0201"}) for i in range(30)]
    if polygons:
        features += [{"type": "Feature", "properties": {"ObjID": f"P{i}", "BJLX": "0201"},
                      "geometry": _SQUARE} for i in range(30)]
        features = [f for pair in zip(features[:30], features[30:], strict=True) for f in pair]
    path = _file(tmp_path / "e.geojson", features)
    real, blocks = stage.csv_block, []

    def second_chunk_broken(table):  # noqa: ANN001, ANN202 - block 4: the second chunk's entities
        blocks.append(1)
        out = real(table)
        return b'"not a code"\n' + bytes(out) if len(blocks) == 4 else out

    monkeypatch.setattr(stage, "csv_block", second_chunk_broken)
    switch = sys.getswitchinterval()
    with pytest.raises(psycopg.errors.DataError):
        run(engine, path, Options(dataset="e", chunk=10), county=COUNTY)
    assert len(direct) >= 2 and sys.getswitchinterval() == switch
    _left_as_it_was(engine)
    monkeypatch.setattr(stage, "csv_block", real)
    real_write = direct_mod.Direct.write

    def third_chunk_fails(self, *a) -> None:  # noqa: ANN001 - the import's own error
        if len(direct) == 2:  # two chunks written (an error of psycopg's kind: it would strip
            raise psycopg.errors.QueryCanceled("killed")  # its traceback ending a COPY with it)
        real_write(self, *a)

    monkeypatch.setattr(direct_mod.Direct, "write", third_chunk_fails)
    direct.clear()
    with pytest.raises(psycopg.errors.QueryCanceled, match="killed") as failed:
        run(engine, path, Options(dataset="e", chunk=10), county=COUNTY)
    assert failed.traceback[-1].name == "third_chunk_fails"  # where it was raised
    _left_as_it_was(engine)
    monkeypatch.setattr(direct_mod.Direct, "write", real_write)
    report = run(engine, path, Options(dataset="e", chunk=10), county=COUNTY)
    assert report.counts["added"] == len(features) and sys.getswitchinterval() == switch


def test_a_big_import_into_a_bigger_registry_does_not_wait_for_bulk_loads(
        engine: Engine, tmp_path: Path, direct: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Only an import that may double the registry waits for the bulk loads before it; one
    into a registry estimated at more than twice its size runs beside a bulk load (imports of
    different datasets may run at once) and does not become one."""
    a = _file(tmp_path / "a.geojson", [_point(i, {"BJLX": "0104"}) for i in range(50)])
    run(engine, a, Options(dataset="a"), county=COUNTY)  # a bulk load: the registry was empty
    with engine.begin() as conn:
        conn.execute(text("ANALYZE entity"))
    monkeypatch.setattr(bulk, "MIN_ROWS", 10)
    b = _file(tmp_path / "b.geojson", [_point(100 + i, {"BJLX": "0105"}) for i in range(20)])
    holder, pool = engine.connect(), ThreadPoolExecutor(1)
    turn = text("SELECT pg_advisory_lock(hashtext('citytwin.bulk'))")  # a bulk load elsewhere
    holder.execute(turn)
    try:
        report = pool.submit(run, engine, b, Options(dataset="b"), county=COUNTY).result(30)
    finally:
        holder.execute(text("SELECT pg_advisory_unlock(hashtext('citytwin.bulk'))"))
        holder.close()
        pool.shutdown()
    assert report.counts["added"] == 20 and sum(direct) == 50  # b staged: not a bulk load


def test_a_bulk_load_lets_an_import_holding_one_of_its_tables_go_first(
        engine: Engine, tmp_path: Path, direct: list[int]) -> None:
    """A bulk load takes its three tables with one LOCK. A transaction that read `crosswalk`
    before and then asks for `entity`, which the load got first, goes on: the load lets go
    and tries again (bulk.LOCK_WAIT) instead of one of the two being aborted as a deadlock."""
    path = _file(tmp_path / "d.geojson", [_point(i, {"BJLX": "0104"}) for i in range(20)])
    waiting = text("SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c "
                   "ON c.oid = l.relation WHERE c.relname = 'crosswalk' AND NOT l.granted)")
    with engine.connect() as other, ThreadPoolExecutor(1) as pool:
        tx = other.begin()
        other.execute(text("SELECT count(*) FROM crosswalk"))  # a share of crosswalk, held
        load = pool.submit(run, engine, path, Options(dataset="d"), county=COUNTY)
        deadline = time.monotonic() + 30
        while not other.execute(waiting).scalar():  # the load has entity, waits for crosswalk
            assert time.monotonic() < deadline and not load.done()
            time.sleep(0.02)
        held = other.execute(text("SELECT count(*) FROM entity")).scalar()
        tx.commit()
        report = load.result(30)
    assert held == 0 and report.counts["added"] == 20 and sum(direct) == 20


@pytest.mark.parametrize("staged", [False, True], ids=["direct", "staged"])
def test_an_exports_attributes_left_empty_come_in_as_none(
        engine: Engine, tmp_path: Path, direct: list[int], staged: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry's Shapefile export leaves attributes too long for the file empty: imported
    as a new dataset they are none (not JSON null), written directly or merged."""
    if staged:
        monkeypatch.setattr(bulk, "MIN_ROWS", 100_000)
    path = _file(tmp_path / "export.geojson", [
        _point(i, {"ct_code": None, "category": "0104",
                   "attributes": None if i % 2 else json.dumps({"k": i})}) for i in range(4)])
    report = run(engine, path, Options(dataset="again"), county=COUNTY)
    assert report.counts["added"] == 4 and sum(direct) == (0 if staged else 4)
    with engine.connect() as conn:
        got = dict(conn.execute(text("SELECT c.source_id, e.attributes FROM crosswalk c "
                                     "JOIN entity e USING (code)")).all())
    assert got == {"T0": {"k": 0}, "T1": {}, "T2": {"k": 2}, "T3": {}}
