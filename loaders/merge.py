"""The set-based merge of the staged records into the registry, in the caller's transaction:
match, mint, insert or update with versions, link the crosswalk, retire what is missing."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, text

from registry import codes, serials
from registry.entities import place_sql, snapshot_sql
from registry.errors import CitytwinError

FINAL = "('retired', 'void')"


class DatasetBusy(CitytwinError):
    status, code = 409, "dataset_busy"


def lock(conn: Connection, dataset: str, wait: bool) -> None:
    """One import per dataset at a time (imports of different datasets run side by side):
    a transaction-scoped advisory lock, released at commit or rollback."""
    key = {"k": "citytwin.import:" + dataset}
    if wait:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), key)
    elif not conn.execute(text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"), key).scalar():
        raise DatasetBusy(f"another import of dataset {dataset!r} is running; wait for it "
                          "(or pass --wait)")


_BY_SOURCE_ID = text("""
    UPDATE import_stage s SET code = c.code FROM crosswalk c
    WHERE c.dataset = :ds AND c.source_id = s.source_id
""")
# Not matched by source id: the same class within the class's tolerance and the same name
# (or no name on one side), among entities this dataset does not already deliver. One
# candidate claimed by one record links; anything else is for a person to decide.
_BY_PLACE = text("""
    WITH cand AS (
        SELECT s.seq, e.code
        FROM import_stage s
        JOIN category k ON k.code = s.category
        JOIN entity e ON e.category = s.category AND e.status NOT IN ('retired', 'void')
            AND ST_DWithin(e.geom, s.geom, k.tolerance_m / 90000.0)
            AND ST_DWithin(e.geom::geography, s.geom::geography, k.tolerance_m)
            AND (e.name IS NULL OR s.name IS NULL OR e.name = s.name)
        WHERE s.code IS NULL
          AND NOT EXISTS (SELECT 1 FROM crosswalk c WHERE c.code = e.code AND c.dataset = :ds)
    ), counted AS (
        SELECT seq, code, count(*) OVER (PARTITION BY seq) AS n,
               count(*) OVER (PARTITION BY code) AS m FROM cand
    ), best AS (
        SELECT seq, min(code) AS code, max(n) AS n, max(m) AS m,
               string_agg(code, ',' ORDER BY code) AS all_codes
        FROM counted GROUP BY seq
    )
    UPDATE import_stage s
    SET code = CASE WHEN b.n = 1 AND b.m = 1 THEN b.code END,
        action = CASE WHEN b.n = 1 AND b.m = 1 THEN 'link' ELSE 'review' END,
        note = CASE WHEN b.n = 1 AND b.m = 1 THEN NULL
                    ELSE 'ambiguous match: ' || b.all_codes END
    FROM best b WHERE b.seq = s.seq
""")
# Matched by source id: compare column by column. An entity first delivered by another
# dataset belongs to that one: this dataset's copy links to it and does not overwrite it.
_COMPARE = text("""
    UPDATE import_stage s SET
        changed = array_remove(ARRAY[
            CASE WHEN e.name IS DISTINCT FROM s.name THEN 'name' END,
            CASE WHEN e.condition IS DISTINCT FROM s.condition THEN 'condition' END,
            CASE WHEN e.dept_admin IS DISTINCT FROM s.dept_admin THEN 'dept_admin' END,
            CASE WHEN e.dept_owner IS DISTINCT FROM s.dept_owner THEN 'dept_owner' END,
            CASE WHEN e.dept_maintainer IS DISTINCT FROM s.dept_maintainer
                 THEN 'dept_maintainer' END,
            CASE WHEN e.attributes IS DISTINCT FROM s.attributes THEN 'attributes' END,
            CASE WHEN NOT ST_OrderingEquals(e.geom, s.geom) THEN 'geometry' END], NULL),
        action = CASE WHEN e.status IN ('retired', 'void') THEN 'review'
                      WHEN e.category <> s.category THEN 'review'
                      WHEN owner.dataset <> :ds THEN 'unchanged' END,
        note = CASE WHEN e.status IN ('retired', 'void') THEN 'its code is ' || e.status
                    WHEN e.category <> s.category
                    THEN 'class changed from ' || e.category || ': retire and register anew' END
    FROM entity e, LATERAL (SELECT dataset FROM crosswalk c WHERE c.code = e.code
                            ORDER BY created_at, dataset LIMIT 1) owner
    WHERE e.code = s.code AND s.action IS NULL
""")
_CLASSIFY = text("""
    UPDATE import_stage SET action = CASE
        WHEN code IS NULL THEN 'add'
        WHEN cardinality(changed) > 0 THEN 'changed' ELSE 'unchanged' END
    WHERE action IS NULL
""")
_SET_CODES = text("""
    UPDATE import_stage s SET code = t.code, serial = t.serial
    FROM unnest(CAST(:seq AS int[]), CAST(:code AS text[]), CAST(:serial AS int[]))
         AS t(seq, code, serial)
    WHERE s.seq = t.seq
""")
_INSERT = text(f"""
    INSERT INTO entity (code, county, category, serial, status, condition, name, dept_admin,
        dept_owner, dept_maintainer, attributes, geom, street_code, community_code, grid_code,
        h3, version, valid_from, recorded_at, created_at, batch_id)
    SELECT code, :county, category, serial, 'active', condition, name, dept_admin,
        dept_owner, dept_maintainer, attributes, geom, {place_sql("geom")},
        h3, 1, now(), now(), now(), :batch_id
    FROM import_stage WHERE action = 'add'
""")
_UPDATE = text(f"""
    UPDATE entity e SET name = s.name, condition = s.condition, dept_admin = s.dept_admin,
        dept_owner = s.dept_owner, dept_maintainer = s.dept_maintainer,
        attributes = s.attributes, geom = s.geom, h3 = s.h3,
        (street_code, community_code, grid_code) = (SELECT {place_sql("s.geom")}),
        version = e.version + 1, valid_from = now(), recorded_at = now(), batch_id = :batch_id
    FROM import_stage s WHERE s.code = e.code AND s.action = 'changed'
""")
_CLOSE = """
    UPDATE entity_version v SET valid_to = now()
    WHERE v.valid_to IS NULL AND v.code IN ({codes})
"""
_COVERS = text("""
    DELETE FROM entity_cover WHERE code IN (
        SELECT code FROM import_stage WHERE action = 'changed' AND 'geometry' = ANY(changed));
    INSERT INTO entity_cover (code, cell, lo)
    SELECT s.code, c.cell, c.lo FROM import_cover c JOIN import_stage s USING (seq)
    WHERE s.action = 'add' OR (s.action = 'changed' AND 'geometry' = ANY(s.changed))
""")
_LINK = text("""
    INSERT INTO crosswalk (dataset, source_id, code, batch_id)
    SELECT :ds, source_id, code, :batch_id FROM import_stage WHERE action IN ('add', 'link')
""")
_MISSING = text(f"""
    SELECT c.source_id, c.code,
           EXISTS (SELECT 1 FROM crosswalk o WHERE o.code = c.code AND o.dataset <> :ds)
             AS shared
    FROM crosswalk c JOIN entity e ON e.code = c.code
    WHERE c.dataset = :ds AND e.status NOT IN {FINAL}
      AND NOT EXISTS (SELECT 1 FROM import_seen x WHERE x.source_id = c.source_id)
    ORDER BY c.source_id
""")


def merge(conn: Connection, *, dataset: str, county: str, actor: str, batch_id: int,
          retire_missing: bool) -> dict[str, Any]:
    """Apply the staged records; returns the changelog's lists."""
    params = {"ds": dataset, "batch_id": batch_id, "county": county}
    conn.execute(text("ANALYZE import_stage"))
    conn.execute(_BY_SOURCE_ID, params)
    conn.execute(_BY_PLACE, params)
    conn.execute(_COMPARE, params)
    conn.execute(_CLASSIFY)
    by_class: dict[str, list[int]] = defaultdict(list)
    for seq, cat in conn.execute(text(
            "SELECT seq, category FROM import_stage WHERE action = 'add' ORDER BY seq")):
        by_class[cat].append(seq)
    seqs, code_of, serial_of = [], [], []
    for cat, idx in sorted(by_class.items()):
        for seq, s in zip(idx, serials.allocate(conn, county, cat, len(idx)), strict=True):
            seqs.append(seq)
            code_of.append(codes.make(county, cat, s))
            serial_of.append(s)
    if seqs:
        conn.execute(_SET_CODES, {"seq": seqs, "code": code_of, "serial": serial_of})
    snap = {"actor": actor, "reason": f"import of {dataset}", "batch_id": batch_id}
    conn.execute(_INSERT, params)
    conn.execute(snapshot_sql("code IN (SELECT code FROM import_stage WHERE action = 'add')"),
                 {**snap, "change": "created", "changed": []})
    changed = "code IN (SELECT code FROM import_stage WHERE action = 'changed')"
    conn.execute(text(_CLOSE.format(codes="SELECT code FROM import_stage "
                                          "WHERE action = 'changed'")))
    conn.execute(_UPDATE, params)
    conn.execute(snapshot_sql(changed, "(SELECT s.changed FROM import_stage s "
                                       "WHERE s.code = entity.code)"),
                 {**snap, "change": "updated"})
    conn.execute(_COVERS)
    conn.execute(_LINK, params)
    missing = [dict(r._mapping) for r in conn.execute(_MISSING, params)]
    # An entity another dataset still delivers stays: only its link to this one is stale.
    retire = [{"source_id": m["source_id"], "code": m["code"]} for m in missing
              if not m["shared"]]
    if retire_missing and retire:
        _retire(conn, [r["code"] for r in retire], snap, batch_id)
    rows = conn.execute(text("""SELECT action, source_id, code, changed, note
                                FROM import_stage ORDER BY seq""")).all()
    out: dict[str, Any] = {"added": [], "linked": [], "changed": [], "unchanged": [],
                           "review": [], "missing": missing,
                           "retired": retire if retire_missing else []}
    key = {"add": "added", "link": "linked", "changed": "changed", "unchanged": "unchanged",
           "review": "review"}
    for r in rows:
        item: dict[str, Any] = {"source_id": r.source_id, "code": r.code}
        if r.action == "changed":
            item["changed"] = list(r.changed)
        if r.note:
            item["reason"] = r.note
        out[key[r.action]].append(item)
    return out


def _retire(conn: Connection, codes_: list[str], snap: dict[str, Any], batch_id: int) -> None:
    p = {"codes": codes_, "batch_id": batch_id}
    where = "code = ANY(CAST(:codes AS text[]))"
    conn.execute(text(_CLOSE.format(codes="SELECT unnest(CAST(:codes AS text[]))")), p)
    conn.execute(text(f"""UPDATE entity SET status = 'retired', version = version + 1,
                          valid_from = now(), recorded_at = now(), batch_id = :batch_id
                          WHERE {where}"""), p)
    conn.execute(snapshot_sql(where), {**snap, "codes": codes_, "change": "retired",
                                       "changed": ["status"]})
