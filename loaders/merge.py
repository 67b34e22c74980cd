"""The set-based merge of the staged records into the registry, in the caller's transaction:
match, mint, insert or update with versions, link the crosswalk, retire what is missing."""

from __future__ import annotations

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


# Matched by source id: compare column by column. An entity first delivered by another
# dataset belongs to that one: this dataset's copy links to it and does not overwrite it.
# One pass (a hash join each way, no look-up per row) sets code, changes and action.
_MATCHED = text("""
    UPDATE import_stage s SET code = m.code, changed = m.changed,
        action = CASE WHEN m.status IN ('retired', 'void') THEN 'review'
                      WHEN m.category <> s.category THEN 'review'
                      WHEN m.owned_elsewhere THEN 'unchanged'
                      WHEN cardinality(m.changed) > 0 THEN 'changed' ELSE 'unchanged' END,
        note = CASE WHEN m.status IN ('retired', 'void') THEN 'its code is ' || m.status
                    WHEN m.category <> s.category
                    THEN 'class changed from ' || m.category || ': retire and register anew'
               END
    FROM (
        SELECT t.seq, e.code, e.status, e.category,
            coalesce(o.first_at < c.created_at
                     OR (o.first_at = c.created_at AND o.first_ds < c.dataset), false)
              AS owned_elsewhere,
            array_remove(ARRAY[
                CASE WHEN e.name IS DISTINCT FROM t.name THEN 'name' END,
                CASE WHEN e.condition IS DISTINCT FROM t.condition THEN 'condition' END,
                CASE WHEN e.dept_admin IS DISTINCT FROM t.dept_admin THEN 'dept_admin' END,
                CASE WHEN e.dept_owner IS DISTINCT FROM t.dept_owner THEN 'dept_owner' END,
                CASE WHEN e.dept_maintainer IS DISTINCT FROM t.dept_maintainer
                     THEN 'dept_maintainer' END,
                CASE WHEN e.attributes IS DISTINCT FROM t.attributes THEN 'attributes' END,
                CASE WHEN NOT ST_OrderingEquals(e.geom, t.geom) THEN 'geometry' END], NULL)
              AS changed
        FROM import_stage t
        JOIN crosswalk c ON c.dataset = :ds AND c.source_id = t.source_id
        JOIN entity e ON e.code = c.code
        LEFT JOIN (SELECT code, min(created_at) AS first_at, min(dataset) AS first_ds
                   FROM crosswalk WHERE dataset <> :ds GROUP BY code) o ON o.code = c.code
    ) m
    WHERE m.seq = s.seq
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
# The rest is new: serials numbered per class in file order from the plan's first serial;
# check digits from one bytea parameter (`registry.codes.check_digits` of every class, one
# after the other from the plan's base): get_byte on a parameter costs O(1) a row, where
# substr of a long text (or of a TOASTed column) would cost its length.
_ADD = text("""
    UPDATE import_stage s SET action = 'add', serial = n.serial,
        code = :county || n.category || lpad(n.serial::text, 6, '0')
               || chr(get_byte(CAST(:checks AS bytea), n.base + n.rn - 1))
    FROM (SELECT r.seq, r.category, p.first + r.rn - 1 AS serial, p.base, r.rn
          FROM (SELECT seq, category, row_number() OVER (PARTITION BY category ORDER BY seq)
                       ::int AS rn
                FROM import_stage WHERE code IS NULL AND action IS NULL) r
          JOIN import_plan p ON p.category = r.category) n
    WHERE s.seq = n.seq
""")
_INSERT = text(f"""
    INSERT INTO entity (code, county, category, serial, status, condition, name, dept_admin,
        dept_owner, dept_maintainer, attributes, geom, street_code, community_code, grid_code,
        h3, version, valid_from, recorded_at, created_at, batch_id)
    SELECT code, :county, category, serial, 'active', condition, name, dept_admin,
        dept_owner, dept_maintainer, attributes, geom, {place_sql("s.geom", known="s")},
        h3, 1, now(), now(), now(), :batch_id
    FROM import_stage s WHERE action = 'add' ORDER BY h3
""")
_UPDATE = text(f"""
    UPDATE entity e SET name = s.name, condition = s.condition, dept_admin = s.dept_admin,
        dept_owner = s.dept_owner, dept_maintainer = s.dept_maintainer,
        attributes = s.attributes, geom = s.geom, h3 = s.h3,
        (street_code, community_code, grid_code) = (SELECT {place_sql("s.geom", known="s")}),
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
      AND NOT EXISTS (SELECT 1 FROM import_stage x WHERE x.source_id = c.source_id)
      AND NOT EXISTS (SELECT 1 FROM import_seen x WHERE x.source_id = c.source_id)
    ORDER BY c.source_id
""")


def merge(conn: Connection, *, dataset: str, county: str, actor: str, batch_id: int,
          retire_missing: bool) -> dict[str, Any]:
    """Apply the staged records; returns the changelog's lists ("unchanged": a count)."""
    params = {"ds": dataset, "batch_id": batch_id, "county": county}
    conn.execute(text("ANALYZE import_stage"))
    conn.execute(_MATCHED, params)
    conn.execute(_BY_PLACE, params)
    plan = conn.execute(text("""SELECT category, count(*) FROM import_stage
                                WHERE code IS NULL AND action IS NULL
                                GROUP BY category ORDER BY category""")).all()
    checks = []
    base = 0
    for cat, n in plan:
        first = serials.allocate(conn, county, cat, n).start
        conn.execute(text("INSERT INTO import_plan VALUES (:c, :f, :b)"),
                     {"c": cat, "f": first, "b": base})
        checks.append(codes.check_digits(county, cat, first, n))
        base += n
    if plan:
        conn.execute(text("ANALYZE import_plan"))
        conn.execute(_ADD, {**params, "checks": "".join(checks).encode("ascii")})
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
    out: dict[str, Any] = {"added": [], "linked": [], "changed": [], "review": [],
                           "missing": missing, "retired": retire if retire_missing else []}
    key = {"add": "added", "link": "linked", "changed": "changed", "review": "review"}
    raw = conn.connection.driver_connection
    # Tuples straight from psycopg: an import of a million rows lists a million codes.
    for action, source_id, code, changed, note in raw.execute(
            "SELECT action, source_id, code, changed, note FROM import_stage "
            "WHERE action <> 'unchanged' ORDER BY seq"):
        item: dict[str, Any] = {"source_id": source_id, "code": code}
        if action == "changed":
            item["changed"] = changed
        if note:
            item["reason"] = note
        out[key[action]].append(item)
    out["unchanged"] = raw.execute(
        "SELECT count(*) FROM import_stage WHERE action = 'unchanged'").fetchone()[0]
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
