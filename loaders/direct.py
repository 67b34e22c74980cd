"""The direct load: a dataset's first import of a big file writes its points of the classes
the registry does not hold yet straight into `entity` by COPY, codes minted here.

Nothing in the registry can match such a point: not by source id (the dataset has no links
yet), not by place (no live entity of its class), and the file's own duplicates are refused
by validation. So the staging table, the set-based numbering and the INSERT ... SELECT sorted
by H3 (7.5 s of a million-point import) have nothing to decide for them: each chunk is
numbered per class in file order as the merge numbers (`registry.codes.range_array`), sorted
by H3 (the rows of a small area stay on few pages) and sent with its crosswalk rows and thin
first versions on the import's COPY streams (as CSV made by Arrow; `stage.Stager` writes them
while the next chunk is read; the bulk load's reference checks are off, `bulk.TRUSTED`, so the
order of the three does not matter). It runs only as a bulk
load (`registry.bulk`: the tables taken exclusively, their indexes off), so nothing else
writes meanwhile; the serial counter row of each class is locked at its first sight and set
to its last serial before the merge. The rest of the file (points of classes the registry
holds, lines and polygons) is staged and merged as ever: after the direct points in each
class's numbering, never matched by place with them (the merge leaves the import's own
entities out; with the entity's indexes off it probes an index of the staged geometries
instead), and the import's own links are never "missing". The report lists the direct load's
added records first, then the merge's, each in file order.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, text

from loaders import stage
from loaders.read import Source
from loaders.stage import Stager
from registry import bulk, codes
from registry.errors import CodeSpaceExhausted
from registry.models import SCHEMA
from registry.placement import LEVELS, Placer

# version 1 and the times (now()) are the columns' defaults (migration 0008): as text they
# cost the server a parse each, 1.1 s a million rows.
_COLUMNS = ("code", "county", "category", "serial", "status", "condition", "name",
            "dept_admin", "dept_owner", "dept_maintainer", "attributes", "geom", "street_code",
            "community_code", "grid_code", "h3", "batch_id")
_COPY = f"COPY {SCHEMA}.entity ({', '.join(_COLUMNS)}) {stage.CSV_IN}"  # as stage.Stager writes
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# The class's counter, locked until commit (created at 0 for a class never numbered).
_RESERVE = text("""
    INSERT INTO serial_counter AS c (county, category, last_serial) VALUES (:county, :k, 0)
    ON CONFLICT (county, category) DO UPDATE SET last_serial = c.last_serial
    RETURNING last_serial
""")
_LIVE = text("SELECT DISTINCT category FROM entity WHERE status NOT IN ('retired', 'void')")
_LINK_COLUMNS = ["dataset", "source_id", "code", "batch_id"]
_LINKS = f"COPY {SCHEMA}.crosswalk ({', '.join(_LINK_COLUMNS)}) {stage.CSV_IN}"
# valid_from and recorded_at: now() by default (migration 0008), the entity's times.
_VERSION_COLUMNS = ["code", "version", "status", "actor", "reason", "change", "batch_id"]
_VERSIONS = f"COPY {SCHEMA}.entity_version ({', '.join(_VERSION_COLUMNS)}) {stage.CSV_IN}"


def eligible(conn: Connection, src: Source, dataset: str) -> bool:
    """A file big enough for a bulk load, of a dataset with no links yet."""
    return src.features >= bulk.MIN_ROWS and not conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM crosswalk WHERE dataset = :ds)"), {"ds": dataset}).scalar()


class Direct:
    """The direct part of one import; `take` says which records of a chunk it writes."""

    def __init__(self, conn: Connection, *, county: str, dataset: str, batch_id: int,
                 actor: str, placer: Placer) -> None:
        self._county, self._dataset, self._batch_id = county, dataset, batch_id
        self._areas = {level: pa.array(placer.codes(level), pa.string()) for level in LEVELS}
        self._live = {r[0] for r in conn.execute(_LIVE)}
        self._next: dict[str, int] = {}  # class → its next serial
        self._links: list[tuple[list[str], np.ndarray]] = []  # a chunk's source ids, codes
        self._actor = actor

    def take(self, categories: list[Any], is_point: np.ndarray) -> np.ndarray:
        """The records (of a chunk's staged-to-be) this load writes itself."""
        cats = np.array(categories, dtype=object)
        return is_point & ~np.isin(cats, list(self._live))

    def write(self, conn: Connection, st: Stager, rows: dict[str, list[Any]], x: np.ndarray,
              y: np.ndarray, cells: np.ndarray, place: dict[str, np.ndarray]) -> None:
        """Number one chunk's points per class in file order, then send them sorted by H3
        (`place`: each point's areas as `Placer.place_index` numbers them)."""
        n = len(cells)
        cats = np.array(rows["category"], dtype=object)
        code = np.empty(n, dtype=f"S{codes.LENGTH}")
        serial = np.empty(n, dtype=np.int64)
        for k in sorted(set(rows["category"])):
            idx = np.flatnonzero(cats == k)
            first = self._serials(conn, st, k, len(idx))
            serial[idx] = np.arange(first, first + len(idx))
            code[idx] = codes.range_array(self._county, k, first, len(idx))
        self._links.append((rows["source_id"], code))
        code_text = pa.array(code).cast(pa.string())
        order = np.argsort(cells, kind="stable")
        get = itemgetter(*order.tolist()) if n > 1 else (lambda col: (col[0],))

        def text_(values: list[Any]) -> pa.Array:
            return stage.texts(get(values))

        def const(value: Any) -> pa.Array:
            return pa.repeat(value, n)

        def area(level: str) -> pa.Array:
            index = place[level][order]
            return pa.DictionaryArray.from_arrays(pa.array(index, mask=index < 0),
                                                  self._areas[level]).cast(pa.string())

        table = pa.table([
            code_text.take(order), const(self._county), text_(rows["category"]),
            pa.array(serial[order]), const("active"), text_(rows["condition"]),
            text_(rows["name"]), text_(rows["dept_admin"]), text_(rows["dept_owner"]),
            text_(rows["dept_maintainer"]), _known(stage.json_texts(get(rows["attributes"]))),
            _hex_points(x[order], y[order]), area("street"), area("community"), area("grid"),
            pa.array(cells[order]),
            const(self._batch_id)], names=list(_COLUMNS))
        st.send(_COPY, stage.csv_block(table))
        for statement, part in self._linked(rows["source_id"], code_text):
            st.send(statement, part)

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

    def _linked(self, source_ids: list[str], code: pa.Array) -> list[tuple[str, memoryview]]:
        """The crosswalk rows and the thin first versions (migration 0007) of some entities
        written, as (COPY statement, CSV)."""
        n = len(code)

        def const(value: Any) -> pa.Array:
            return pa.repeat(value, n)

        return [(_LINKS, stage.csv_block(pa.table([
                    const(self._dataset), stage.texts(source_ids), code, const(self._batch_id)],
                    names=_LINK_COLUMNS))),
                (_VERSIONS, stage.csv_block(pa.table([
                    code, const(1), const("active"), const(self._actor),
                    const(f"import of {self._dataset}"), const("created"),
                    const(self._batch_id)], names=_VERSION_COLUMNS)))]

    def added(self) -> list[dict[str, str]]:
        """The entities written, for the report."""
        return [{"source_id": s, "code": c} for sids, code in self._links
                for s, c in zip(sids, code.astype(f"U{codes.LENGTH}").tolist(), strict=True)]


def _known(attributes: pa.Array) -> pa.Array:
    """Attributes not known (JSON null, `loaders.mapping`) as none: a new entity's."""
    return pc.if_else(pc.equal(attributes, "null"), "{}", attributes)


def _hex_points(x: np.ndarray, y: np.ndarray) -> pa.Array:
    """2D points as hex WKB (little-endian), which PostGIS reads as geometry text."""
    rec = np.empty(len(x), dtype=[("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
    rec["order"], rec["type"], rec["x"], rec["y"] = 1, 1, x, y
    raw = rec.view(np.uint8).reshape(len(x), 21)
    hexed = np.empty((len(x), 42), dtype=np.uint8)
    hexed[:, 0::2], hexed[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 15]
    return pa.array(hexed.view("S42").ravel()).cast(pa.string())
