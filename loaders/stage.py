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


def create(conn: Connection) -> None:
    for ddl in _DDL:
        conn.execute(text(ddl))


def _raw(conn: Connection) -> Any:
    return conn.connection.driver_connection


class Stager:
    """One binary COPY into `import_stage` for the whole import, chunk after chunk: a worker
    thread (psycopg's QueuedLibpqWriter) sends each chunk while the loop reads and checks the
    next one, and the server stores rows as they come — the two cores at work at once, where
    a COPY per chunk waited for the server to finish each. While it is open, nothing else may
    run on the connection: the covers of lines and polygons and the source ids of the records
    not staged wait (as numbers and strings) and are written when the stream ends."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._covers: list[np.ndarray] = []
        self._seen: list[str] = []

    def __enter__(self) -> Stager:
        self._cur = _raw(self._conn).cursor()
        # bytea's default binary dumper is psycopg's DB-API `Binary` one, in Python; the plain
        # bytes dumper (in C) writes the same bytes at twice the speed.
        self._cur.adapters.register_dumper(bytes, BytesBinaryDumper)
        self._copy = self._cur.copy(
            f"COPY import_stage ({', '.join(_COLUMNS)}) FROM STDIN (FORMAT BINARY)",
            writer=QueuedLibpqWriter(self._cur))
        self._cp = self._copy.__enter__()
        self._cp.set_types(_TYPES)
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._copy.__exit__(*exc)
            if exc[0] is None:
                self._write_rest()
        finally:
            self._cur.close()

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
        write = self._cp.write_row
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
