"""Staging: validated records go by COPY into temporary tables of the import's own
transaction (dropped at its end), where the merge works on them set-based."""

from __future__ import annotations

import io
import queue
import sys
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from psycopg.copy import Copy, Writer
from psycopg.types.string import BytesBinaryDumper
from pyarrow import csv
from sqlalchemy import Connection, text

from registry.models import SRID

_DDL = [
    f"""CREATE TEMP TABLE import_stage (
        seq int NOT NULL, source_id text NOT NULL, category text NOT NULL, name text,
        condition text, dept_admin text, dept_owner text, dept_maintainer text,
        attributes jsonb NOT NULL, geom geometry(Geometry, {SRID}) NOT NULL, h3 bigint NOT NULL,
        street_code text, community_code text, grid_code text) ON COMMIT DROP""",
    # What the merge decides for each staged record, one narrow row each: deciding by
    # UPDATEs of the staged rows rewrote every wide row (geometry, attributes) once more.
    """CREATE TEMP TABLE import_outcome (
        seq int NOT NULL, source_id text NOT NULL, code text, serial int, action text NOT NULL,
        changed text[], note text) ON COMMIT DROP""",
    "CREATE TEMP TABLE import_plan (category text, first int, base int) ON COMMIT DROP",
    "CREATE TEMP TABLE import_cover (seq int, cell bigint, lo bigint) ON COMMIT DROP",
    "CREATE TEMP TABLE import_seen (source_id text) ON COMMIT DROP",
]
_COLUMNS = ("seq", "source_id", "category", "name", "condition", "dept_admin", "dept_owner",
            "dept_maintainer", "attributes", "geom", "h3", "street_code", "community_code",
            "grid_code")
#: The direct load's rows travel as CSV made by Arrow (in C++, a chunk at a time, the GIL
#: released): values quoted, NULLs left empty — PostgreSQL's CSV reads exactly that; its
#: points as hex WKB (the column's type gives them its SRID), attributes as JSON text.
CSV_IN = "FROM STDIN (FORMAT csv, ENCODING 'UTF8')"  # Arrow writes UTF-8, whatever the client's
_CSV = csv.WriteOptions(include_header=False, quoting_style="all_valid")
# Staged records go in binary (psycopg's formatter, in C; 1.0 s a million, where the CSV way
# took 1.6 s and the server 0.7 s more to parse it): geometries as plain WKB (the column's type
# gives them its SRID), attributes in jsonb's binary form (a version byte and the text), both
# through the bytea dumper.
_TYPES = ["int4", "text", "text", "text", "text", "text", "text", "text", "bytea", "bytea",
          "int8", "text", "text", "text"]
JSONB_V1 = b"\x01"
#: Blocks sent and not yet written (two chunks of a direct load: entities, links, versions).
QUEUED = 6
_STAGE = f"COPY import_stage ({', '.join(_COLUMNS)}) FROM STDIN (FORMAT BINARY)"


def create(conn: Connection) -> None:
    for ddl in _DDL:
        conn.execute(text(ddl))


#: Python's thread switch interval while a Stager's worker runs. The worker needs the GIL for
#: each piece it hands to libpq (and after each wait for the socket); at the default 5 ms the
#: loop's list comprehensions kept it waiting while the server had nothing to store: a
#: million-point import's loop took 8.6-9.3 s at 5 ms, 7.9-8.1 s at 0.2 ms.
SWITCH_INTERVAL = 0.0002
_switches = {"users": 0, "before": 0.0}
_switches_lock = threading.Lock()


def _quick_switches(step: int) -> None:
    """Shorten the switch interval while any Stager runs (the first sets it, the last puts
    the interval before back)."""
    with _switches_lock:
        if step > 0 and _switches["users"] == 0:
            _switches["before"] = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL)
        _switches["users"] += step
        if step < 0 and _switches["users"] == 0:
            sys.setswitchinterval(_switches["before"])


class _Blocks(Writer):
    """What a Copy formats, kept as bytes."""

    def __init__(self) -> None:
        self._parts: list[Any] = []

    def write(self, data: Any) -> None:
        self._parts.append(data)

    def take(self) -> bytes:
        block, self._parts = b"".join(self._parts), []
        return block


@dataclass
class _Stop:
    exc: BaseException | None


def texts(values: list[Any]) -> pa.Array:
    return pa.array(values, pa.string())


def json_texts(values: list[bytes]) -> pa.Array:
    """The JSON texts of values in jsonb's binary form (JSONB_V1 and the text)."""
    return pc.utf8_slice_codeunits(pa.array(values, pa.binary()).cast(pa.string()), 1)


def csv_block(table: pa.Table) -> memoryview:
    out = io.BytesIO()
    csv.write_csv(table, out, _CSV)
    return out.getbuffer()


def _raw(conn: Connection) -> Any:
    return conn.connection.driver_connection


class Stager:
    """The import's COPY streams, chunk after chunk, written by a worker thread: `send` queues
    a block for a statement and returns, and the worker opens, switches and ends the streams
    (a connection has one COPY at a time; ending one waits for the server to store it). So
    the loop reads and checks the next chunk while the server stores the last — the two cores
    at work at once, neither waiting for the other (a COPY per chunk from the loop waited for
    the server to finish each: 2.2 s of a million-point import). `pause` waits for everything
    sent and ends the open stream, to run SQL; an error of the worker's is raised at the next
    `send`, `pause` or the end. The covers of lines and polygons and the source ids of the
    records not staged wait (as numbers and strings) and are written when the streams end."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._covers: list[np.ndarray] = []
        self._seen: list[str] = []
        self._open: tuple[str, Any, Any] | None = None  # (statement, context, Copy): the worker's
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUED)
        self._error: BaseException | None = None
        self._rows: tuple[str, Copy, _Blocks] | None = None  # binary rows being made

    def __enter__(self) -> Stager:
        self._cur = _raw(self._conn).cursor()
        self._fmt = _raw(self._conn).cursor()  # its adapters format rows (no I/O)
        # bytea's default binary dumper is psycopg's DB-API `Binary` one, in Python; the plain
        # bytes dumper (in C) writes the same bytes at twice the speed.
        self._fmt.adapters.register_dumper(bytes, BytesBinaryDumper)
        self._worker = threading.Thread(target=self._work, name="citytwin-copy", daemon=True)
        _quick_switches(+1)
        self._worker.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if exc[0] is None:
                self._end_rows()
            self._queue.put(_Stop(exc[1]))
            self._worker.join()
            self._raise()
            if exc[0] is None:
                self._write_rest()
        finally:
            _quick_switches(-1)
            self._cur.close()
            self._fmt.close()

    def send(self, statement: str, block: Any) -> None:
        """Queue `block` (bytes in the statement's format) for the COPY of `statement`.
        Returns at once, unless QUEUED blocks wait already."""
        self._raise()
        if self._rows is not None and self._rows[0] != statement:
            self._end_rows()
        self._queue.put((statement, block))

    def send_rows(self, statement: str, types: list[str], rows: Any) -> None:
        """Send `rows` (tuples of `types`) for the binary COPY of `statement`, formatted
        here: psycopg's Copy with a writer that collects the bytes (no I/O; its signature
        starts the stream, its trailer ends it)."""
        if self._rows is not None and self._rows[0] != statement:
            self._end_rows()
        if self._rows is None:
            blocks = _Blocks()
            cp = Copy(self._fmt, binary=True, writer=blocks)
            cp.set_types(types)
            self._rows = (statement, cp, blocks)
        write = self._rows[1].write_row
        for row in rows:
            write(row)
        if block := self._rows[2].take():
            self.send(statement, block)

    def _end_rows(self) -> None:
        if self._rows is not None:
            (statement, cp, blocks), self._rows = self._rows, None
            cp.finish(None)  # what is left, and the trailer
            self.send(statement, blocks.take())

    def pause(self) -> None:
        """Wait for everything sent to be stored; the connection may run SQL again."""
        self._end_rows()
        done = threading.Event()
        self._queue.put(done)
        done.wait()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, _Stop):
                if self._error is None:
                    self._end_guarded(item.exc)
                return
            if self._error is not None:  # keep taking what is sent until the end
                if isinstance(item, threading.Event):
                    item.set()
                continue
            if isinstance(item, threading.Event):
                self._end_guarded(None)
                item.set()
                continue
            try:
                statement, block = item
                self._stream(statement).write(block)
            except BaseException as e:  # noqa: BLE001 - handed to the import's thread
                self._error = e
                self._end(e)

    def _stream(self, statement: str) -> Any:
        if self._open is None or self._open[0] != statement:
            self._end(None)
            ctx = self._cur.copy(statement)
            self._open = (statement, ctx, ctx.__enter__())
        return self._open[2]

    def _end_guarded(self, exc: BaseException | None) -> None:
        try:
            self._end(exc)
        except BaseException as e:  # noqa: BLE001 - handed to the import's thread
            self._error = e

    def _end(self, exc: BaseException | None) -> None:
        if self._open is not None:
            ctx, self._open = self._open[1], None
            ctx.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)

    def records(self, seq: np.ndarray, rows: dict[str, list[Any]], geoms: np.ndarray,
                h3: np.ndarray, place: dict[str, list[Any]]) -> None:
        """One chunk's accepted records (`attributes`: jsonb's binary form)."""
        cols = [seq.tolist(), *(rows[c] for c in _COLUMNS[1:8]),
                rows["attributes"], shapely.to_wkb(geoms).tolist(),
                h3.tolist(), place["street"], place["community"], place["grid"]]
        self.send_rows(_STAGE, _TYPES, zip(*cols, strict=True))

    def covers(self, rows: np.ndarray) -> None:
        """(seq, cell, lo) rows: the H3 cover of the chunk's lines and polygons."""
        if len(rows):
            self._covers.append(rows)

    def seen(self, source_ids: list[str]) -> None:
        """Source ids of records not staged (refused, duplicates): they are not missing."""
        self._seen += source_ids

    def _write_rest(self) -> None:
        with self._cur.copy("COPY import_cover (seq, cell, lo) FROM STDIN (FORMAT BINARY)"
                            ) as cp:
            cp.set_types(["int4", "int8", "int8"])
            for part in self._covers:
                for row in part.tolist():
                    cp.write_row(row)
        with self._cur.copy("COPY import_seen (source_id) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(["text"])
            for s in self._seen:
                cp.write_row((s,))
