"""Serial allocation: distinct and monotonic under concurrency, never reused, exhaustion clear."""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import time

import pytest
from sqlalchemy import text

from registry import codes, entities, serials
from registry.db import make_engine
from registry.entities import NewEntity
from registry.errors import CodeSpaceExhausted
from registry.settings import Settings
from tests.conftest import COUNTY, point


def _mint_worker(url: str, n: int, queue) -> None:
    engine = make_engine(Settings(database_url=url), pool_size=1)
    got = []
    for _ in range(n):
        with engine.begin() as conn:
            got.extend(serials.mint(conn, COUNTY, "0118"))
    engine.dispose()
    queue.put(got)


def test_eight_processes_mint_4000_distinct_gap_free_codes(db, settings):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_mint_worker, args=(settings.database_url, 500, queue))
             for _ in range(8)]
    for p in procs:
        p.start()
    results = []
    deadline = time.monotonic() + 900  # generous: CI machines are shared
    while len(results) < len(procs):  # a process that died fails the test at once
        try:
            results.append(queue.get(timeout=5))
        except queue_mod.Empty:
            failed = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            assert not failed, f"a minting process failed (exit codes {failed})"
            assert time.monotonic() < deadline, "the minting processes did not finish"
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    minted = [c for r in results for c in r]
    assert len(minted) == 4000
    assert len(set(minted)) == 4000
    for per_process in results:  # each minter sees its serials only go up
        got = [codes.parse(c).serial for c in per_process]
        assert got == sorted(got)
    assert sorted(codes.parse(c).serial for c in minted) == list(range(1, 4001))


def test_serials_are_never_reused_after_retire_or_void(db):
    with db.begin() as conn:
        a, b = entities.register_many(
            conn, [NewEntity("0305", point()), NewEntity("0305", point())],
            county=COUNTY, actor="t")
        entities.transition(conn, a, "retired", actor="t")
        entities.transition(conn, b, "void", actor="t")
        [c] = entities.register_many(conn, [NewEntity("0305", point())], county=COUNTY,
                                     actor="t")
    assert codes.parse(c).serial == 3


def test_a_rolled_back_registration_leaves_no_hole(db):
    with pytest.raises(RuntimeError), db.begin() as conn:
        entities.register(conn, NewEntity("0305", point()), county=COUNTY, actor="t")
        raise RuntimeError("import failed half-way")
    with db.begin() as conn:
        code = entities.register(conn, NewEntity("0305", point()), county=COUNTY, actor="t")
    assert codes.parse(code).serial == 1


def test_exhausting_a_class_is_a_clear_error_and_writes_nothing(db):
    with db.begin() as conn:
        conn.execute(text("INSERT INTO serial_counter VALUES (:c, '0402', 999998)"),
                     {"c": COUNTY})
    with pytest.raises(CodeSpaceExhausted) as e, db.begin() as conn:
        entities.register_many(conn, [NewEntity("0402", point())] * 2, county=COUNTY,
                               actor="t")
    assert "0402" in e.value.message and "1 serials left" in e.value.message
    with db.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM entity")).scalar() == 0
        [last] = serials.mint(conn, COUNTY, "0402")
    assert last.startswith(f"{COUNTY}0402999999")


def test_serials_count_per_county_and_class(db):
    with db.begin() as conn:
        a = serials.mint(conn, COUNTY, "0101", 2)
        b = serials.mint(conn, COUNTY, "0102", 1)
        c = serials.mint(conn, "440306", "0101", 1)
    assert [codes.parse(x).serial for x in a + b + c] == [1, 2, 1, 1]
