"""Staging: validated records go by COPY into temporary tables of the import's own
transaction (dropped at its end), where the merge works on them set-based."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from pyarrow import csv
from sqlalchemy import Connection, text

from loaders.streams import Streams
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
_STAGE = f"COPY import_stage ({', '.join(_COLUMNS)}) FROM STDIN (FORMAT BINARY)"


def create(conn: Connection) -> None:
    for ddl in _DDL:
        conn.execute(text(ddl))


def texts(values: list[Any]) -> pa.Array:
    """Python strings (or None) as an Arrow string array."""
    return pa.array(values, pa.string())


def json_texts(values: list[bytes]) -> pa.Array:
    """The JSON texts of values in jsonb's binary form (JSONB_V1 and the text)."""
    return pc.utf8_slice_codeunits(pa.array(values, pa.binary()).cast(pa.string()), 1)


def csv_block(table: pa.Table) -> memoryview:
    out = io.BytesIO()
    csv.write_csv(table, out, _CSV)
    return out.getbuffer()


class Stager(Streams):
    """The import's streams (`streams.Streams`: written by a worker thread) and what it
    stages: each chunk's records (`records`), then, when the streams end, the covers of lines
    and polygons and the source ids of the records not staged (kept as numbers and strings
    until then)."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn, row_types=(_TYPES,))
        self._covers: list[np.ndarray] = []
        self._seen: list[str] = []

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        super().__exit__(exc_type, exc, tb)
        if exc is None:
            self._write_rest()

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
        with self._conn.connection.driver_connection.cursor() as cur:
            with cur.copy("COPY import_cover (seq, cell, lo) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["int4", "int8", "int8"])
                for part in self._covers:
                    for row in part.tolist():
                        cp.write_row(row)
            with cur.copy("COPY import_seen (source_id) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["text"])
                for s in self._seen:
                    cp.write_row((s,))
