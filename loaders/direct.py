"""The direct load: a dataset's first import of a big file writes its points of the classes
the registry does not hold yet straight into `entity` by COPY, codes minted here.

Nothing in the registry can match such a point: not by source id (the dataset has no links
yet), not by place (no live entity of its class), and the file's own duplicates are refused
by validation. So the staging table, the set-based numbering and the INSERT ... SELECT sorted
by H3 (7.5 s of a million-point import) have nothing to decide for them: each chunk is
numbered per class in file order as the merge numbers (`registry.codes.check_digits`), sorted
by H3 (the rows of a small area stay on few pages) and sent on the import's COPY stream while
the next chunk is read. It runs only as a bulk load (`registry.bulk`: the tables taken
exclusively, their indexes off), so nothing else writes meanwhile; the serial counter row of
each class is locked at its first sight and set to its last serial before the merge. The rest
of the file (points of classes the registry holds, lines and polygons) is staged and merged as
ever: after the direct points in each class's numbering, and never matched by place with them
(the merge leaves the import's own entities out).
"""

from __future__ import annotations

from datetime import datetime
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from loaders.read import Source
from loaders.stage import Stager
from registry import bulk, codes
from registry.errors import CodeSpaceExhausted
from registry.models import SCHEMA

_COLUMNS = ("code", "county", "category", "serial", "status", "condition", "name",
            "dept_admin", "dept_owner", "dept_maintainer", "attributes", "geom", "street_code",
            "community_code", "grid_code", "h3", "version", "valid_from", "recorded_at",
            "created_at", "batch_id")
_TYPES = ["text", "text", "text", "int4", "text", "text", "text", "text", "text", "text",
          "bytea", "bytea", "text", "text", "text", "int8", "int4", "timestamptz",
          "timestamptz", "timestamptz", "int8"]  # jsonb and geometry: their binary forms
_COPY = (f"COPY {SCHEMA}.entity ({', '.join(_COLUMNS)}) FROM STDIN (FORMAT BINARY)")
# The class's counter, locked until commit (created at 0 for a class never numbered).
_RESERVE = text("""
    INSERT INTO serial_counter AS c (county, category, last_serial) VALUES (:county, :k, 0)
    ON CONFLICT (county, category) DO UPDATE SET last_serial = c.last_serial
    RETURNING last_serial
""")
_LIVE = text("SELECT DISTINCT category FROM entity WHERE status NOT IN ('retired', 'void')")
# Thin first versions (migration 0007), as the merge writes them for the entities it adds.
_CREATED = text("""
    INSERT INTO entity_version (code, version, status, valid_from, recorded_at, actor, reason,
        change, changed, batch_id)
    SELECT code, 1, 'active', valid_from, recorded_at, :actor, :reason, 'created', '{}',
        :batch_id
    FROM entity WHERE batch_id = :batch_id AND category = ANY(:classes)
""")


def eligible(conn: Connection, src: Source, dataset: str) -> bool:
    """A file big enough for a bulk load, of a dataset with no links yet."""
    return src.features >= bulk.MIN_ROWS and not conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM crosswalk WHERE dataset = :ds)"), {"ds": dataset}).scalar()


class Direct:
    """The direct part of one import; `take` says which records of a chunk it writes."""

    def __init__(self, conn: Connection, *, county: str, dataset: str, batch_id: int) -> None:
        self._county, self._dataset, self._batch_id = county, dataset, batch_id
        self._live = {r[0] for r in conn.execute(_LIVE)}
        self._now: datetime = conn.execute(text("SELECT now()")).scalar()
        self._next: dict[str, int] = {}  # class → its next serial
        self._links: list[tuple[str, str]] = []  # (source_id, code) in file order

    def take(self, categories: list[Any], is_point: np.ndarray) -> np.ndarray:
        """The records (of a chunk's staged-to-be) this load writes itself."""
        cats = np.array(categories, dtype=object)
        return is_point & ~np.isin(cats, list(self._live))

    def write(self, conn: Connection, st: Stager, rows: dict[str, list[Any]], wkb: list[bytes],
              cells: np.ndarray, place: dict[str, list[Any]]) -> None:
        """Number one chunk's records per class in file order, then send them sorted by H3."""
        n = len(wkb)
        cats = rows["category"]
        code = np.empty(n, dtype=object)
        serial = np.empty(n, dtype=np.int64)
        for k in sorted(set(cats)):
            idx = np.flatnonzero(np.array(cats, dtype=object) == k)
            first = self._serials(conn, st, k, len(idx))
            checks = codes.check_digits(self._county, k, first, len(idx))
            prefix = self._county + k
            serial[idx] = np.arange(first, first + len(idx))
            code[idx] = [f"{prefix}{s:06d}{c}" for s, c in zip(range(first, first + len(idx)),
                                                                checks, strict=True)]
        self._links += zip(rows["source_id"], code.tolist(), strict=True)
        # Sorted by H3: itemgetter permutes a column in C.
        get = itemgetter(*np.argsort(cells, kind="stable").tolist()) if n > 1 else \
            (lambda col: (col[0],))
        cols = [get(code.tolist()), repeat(self._county), get(cats), get(serial.tolist()),
                repeat("active"), get(rows["condition"]), get(rows["name"]),
                get(rows["dept_admin"]), get(rows["dept_owner"]), get(rows["dept_maintainer"]),
                get(rows["attributes"]), get(wkb), get(place["street"]),
                get(place["community"]), get(place["grid"]), get(cells.tolist()), repeat(1),
                repeat(self._now), repeat(self._now), repeat(self._now),
                repeat(self._batch_id)]
        write = st.stream(_COPY, _TYPES).write_row
        for row in zip(*cols, strict=False):  # the constant columns repeat without end
            write(row)

    def _serials(self, conn: Connection, st: Stager, category: str, n: int) -> int:
        if category not in self._next:
            st.pause()  # SQL between two streams
            last = conn.execute(_RESERVE, {"county": self._county, "k": category}).scalar()
            self._next[category] = last + 1
        first = self._next[category]
        if first + n - 1 > codes.MAX_SERIAL:
            raise CodeSpaceExhausted(
                f"class {category} of county {self._county} has {codes.MAX_SERIAL - first + 1} "
                f"serials left; {n} more were asked for. Use another 小类 (or a new local "
                "extension class).", county=self._county, category=category)
        self._next[category] = first + n
        return first

    def close_serials(self, conn: Connection) -> None:
        """Each class's counter at its last serial (before the merge numbers the rest)."""
        for k, nxt in self._next.items():
            conn.execute(text("UPDATE serial_counter SET last_serial = :s "
                              "WHERE county = :county AND category = :k"),
                         {"s": nxt - 1, "county": self._county, "k": k})

    def finish(self, conn: Connection, actor: str) -> list[dict[str, str]]:
        """Links and first versions of the entities written; returns them for the report."""
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(
                f"COPY {SCHEMA}.crosswalk (dataset, source_id, code, batch_id) FROM STDIN "
                "(FORMAT BINARY)") as cp:
            cp.set_types(["text", "text", "text", "int8"])
            for source_id, code in self._links:
                cp.write_row((self._dataset, source_id, code, self._batch_id))
        conn.execute(_CREATED, {"actor": actor, "reason": f"import of {self._dataset}",
                                "batch_id": self._batch_id, "classes": sorted(self._next)})
        return [{"source_id": s, "code": c} for s, c in self._links]
