"""The unchanged file: when a dataset's last import read the same bytes with the same options,
and neither that dataset's entities nor the dictionary nor the admin areas have changed since,
reading the file again can only say "unchanged" — so it is not read again.

What "nothing changed since" rests on: the fingerprint recorded with each batch, at its commit,
of (file hash, layer, CRS, encoding, mapping file's hash, the dataset's links, the last change
to its entities, the dictionary, the admin areas). Every change to an entity appends a version
with the next number of the change feed (`entity_version.seq`), every new link adds one, so
any edit made since (by the API, another dataset's import, a lifecycle action) shows as
another fingerprint and the file is read and compared in full. `--full` (Options.full) always
compares in full. The last change is found from the newest end of the change feed, or per
link for a small dataset (`_LAST_CHANGE`), where the sum of the dataset's versions it replaced
joined every link with its entity: 2.4 s of a million-point import.

Not seen: an edit committed while the import that records the fingerprint runs, between its
match and its commit, or one that took its number in the feed before the import's last
version and commits after it (compare with `--full` after such edits). A previous import
that linked records by place or sent matches to review is always read again (what those would say
depends on entities outside the fingerprint)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

_STATE = text("""
    SELECT (SELECT count(*) FROM crosswalk WHERE dataset = :ds) AS links,
           (SELECT md5(string_agg(concat_ws('|', code, geometry_types::text, tolerance_m),
                                  ',' ORDER BY code)) FROM category) AS dictionary,
           (SELECT md5(string_agg(concat_ws('|', code, level, md5(ST_AsBinary(geom))), ','
                                  ORDER BY code)) FROM admin_area) AS areas
""")
# The dataset's last change, two ways to the same number (an entity's newest version has its
# highest seq). From the newest end of the feed: an index scan stopping at the dataset's first
# version — at once after its own import, but one look-up per version written since, so a
# small dataset after a big import of another asks each of its links instead.
_LAST_CHANGE = text("""
    SELECT v.seq FROM entity_version v
    WHERE EXISTS (SELECT 1 FROM crosswalk c WHERE c.code = v.code AND c.dataset = :ds)
    ORDER BY v.seq DESC LIMIT 1
""")
_LAST_CHANGE_BY_LINK = text("""
    SELECT max(last.seq) FROM crosswalk c
    CROSS JOIN LATERAL (SELECT seq FROM entity_version v WHERE v.code = c.code
                        ORDER BY v.version DESC LIMIT 1) last
    WHERE c.dataset = :ds
""")
#: Up to this many links, the last change is asked of each link.
BY_LINK = 20_000


def fingerprint(conn: Connection, *, dataset: str, file_hash: str, layer: str | None,
                crs: str | None, encoding: str | None, mapping: Path | None) -> dict[str, Any]:
    return {**_file_part(file_hash, layer, crs, encoding, mapping), **_state(conn, dataset)}


def _file_part(file_hash: str, layer: str | None, crs: str | None, encoding: str | None,
               mapping: Path | None) -> dict[str, Any]:
    mapping_hash = hashlib.sha256(mapping.read_bytes()).hexdigest() if mapping else None
    return {"file_hash": file_hash, "layer": layer, "crs": crs, "encoding": encoding,
            "mapping": mapping_hash}


def _state(conn: Connection, dataset: str) -> dict[str, str]:
    state = conn.execute(_STATE, {"ds": dataset}).one()._asdict()
    last = _LAST_CHANGE_BY_LINK if state["links"] <= BY_LINK else _LAST_CHANGE
    state["last_change"] = conn.execute(last, {"ds": dataset}).scalar()
    return {k: str(v) for k, v in state.items()}


_LAST = text("""
    SELECT id, report FROM import_batch
    WHERE dataset = :ds AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1
""")


def previous(conn: Connection, *, dataset: str, file_hash: str, layer: str | None,
             crs: str | None, encoding: str | None, mapping: Path | None
             ) -> dict[str, Any] | None:
    """The report of the dataset's last import when it read the same file the same way into
    the registry as it is now, else None. The registry's state is only looked at when the
    file and the options match."""
    row = conn.execute(_LAST, {"ds": dataset}).first()
    if row is None or not row.report or not (before := row.report.get("fingerprint")):
        return None
    file_part = _file_part(file_hash, layer, crs, encoding, mapping)
    if any(before.get(k) != v for k, v in file_part.items()):
        return None
    if before != {**file_part, **_state(conn, dataset)}:
        return None
    return {**row.report, "batch_id": row.id}
