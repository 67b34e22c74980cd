"""Staging: validated records go by binary COPY into temporary tables of the import's own
transaction (dropped at its end), where the merge works on them set-based."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from psycopg.copy import QueuedLibpqWriter
from psycopg.types.string import BytesBinaryDumper
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
# geom travels as WKB and attributes as jsonb's binary form (a version byte and the text),
# both through the bytea dumper: the server reads them as they are, no Python dumper per row.
_TYPES = ["int4", "text", "text", "text", "text", "text", "text", "text", "bytea", "bytea",
          "int8", "text", "text", "text"]
JSONB_V1 = b"\x01"
_STAGE = f"COPY import_stage ({', '.join(_COLUMNS)}) FROM STDIN (FORMAT BINARY)"


def create(conn: Connection) -> None:
    for ddl in _DDL:
        conn.execute(text(ddl))


def _raw(conn: Connection) -> Any:
    return conn.connection.driver_connection


class Stager:
    """Binary COPY streams for the whole import, chunk after chunk: a worker thread (psycopg's
    QueuedLibpqWriter) sends each chunk while the loop reads and checks the next one, and the
    server stores rows as they come — the two cores at work at once, where a COPY per chunk
    waited for the server to finish each. One stream is open at a time (a connection has one
    COPY): writing to another table ends the open one, `pause` ends it to run SQL. The covers
    of lines and polygons and the source ids of the records not staged wait (as numbers and
    strings) and are written when the import's streams end."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._covers: list[np.ndarray] = []
        self._seen: list[str] = []
        self._open: tuple[str, Any, Any] | None = None  # (statement, Copy context, Copy)

    def __enter__(self) -> Stager:
        self._cur = _raw(self._conn).cursor()
        # bytea's default binary dumper is psycopg's DB-API `Binary` one, in Python; the plain
        # bytes dumper (in C) writes the same bytes at twice the speed.
        self._cur.adapters.register_dumper(bytes, BytesBinaryDumper)
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._end(*exc)
            if exc[0] is None:
                self._write_rest()
        finally:
            self._cur.close()

    def stream(self, statement: str, types: list[str] | None = None) -> Any:
        """The open COPY of `statement`, opened (and any other ended) when needed: binary rows
        of `types` by `write_row`, or (no types) blocks of the statement's format by `write`."""
        if self._open is None or self._open[0] != statement:
            self._end(None, None, None)
            ctx = self._cur.copy(statement, writer=QueuedLibpqWriter(self._cur))
            cp = ctx.__enter__()
            if types is not None:
                cp.set_types(types)
            self._open = (statement, ctx, cp)
        return self._open[2]

    def pause(self) -> None:
        """End the open stream: the connection may run SQL again."""
        self._end(None, None, None)

    def _end(self, *exc: Any) -> None:
        if self._open is not None:
            ctx, self._open = self._open[1], None
            ctx.__exit__(*exc)

    def records(self, seq: np.ndarray, rows: dict[str, list[Any]], geoms: np.ndarray,
                h3: np.ndarray, place: dict[str, list[Any]]) -> None:
        """One chunk's accepted records (`attributes`: jsonb's binary form)."""
        # Plain WKB: the column's type gives it its SRID (setting it on each shapely geometry
        # first cost 1.8 s a million).
        wkb = shapely.to_wkb(geoms)
        cols = [seq.tolist(), rows["source_id"], rows["category"], rows["name"],
                rows["condition"], rows["dept_admin"], rows["dept_owner"],
                rows["dept_maintainer"], rows["attributes"], wkb.tolist(), h3.tolist(),
                place["street"], place["community"], place["grid"]]
        write = self.stream(_STAGE, _TYPES).write_row
        for row in zip(*cols, strict=True):
            write(row)

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
