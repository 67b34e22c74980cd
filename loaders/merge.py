"""The set-based merge of the staged records into the registry, in the caller's transaction:
match, mint, insert or update with versions, link the crosswalk, retire what is missing."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Connection, text

from registry import bulk, codes, serials
from registry.entities import place_sql, snapshot_sql
from registry.errors import CitytwinError
from registry.versions import close_sql

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
    INSERT INTO import_outcome (seq, source_id, code, changed, action, note)
    SELECT m.seq, m.source_id, m.code, m.changed,
        CASE WHEN m.status IN ('retired', 'void') THEN 'review'
             WHEN m.category <> m.new_category THEN 'review'
             WHEN m.owned_elsewhere THEN 'unchanged'
             WHEN cardinality(m.changed) > 0 THEN 'changed' ELSE 'unchanged' END,
        CASE WHEN m.status IN ('retired', 'void') THEN 'its code is ' || m.status
             WHEN m.category <> m.new_category
             THEN 'class changed from ' || m.category || ': retire and register anew'
        END
    FROM (
        SELECT t.seq, t.source_id, e.code, e.status, e.category, t.category AS new_category,
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
                CASE WHEN t.attributes <> 'null' AND e.attributes IS DISTINCT FROM t.attributes
                     THEN 'attributes' END,
                CASE WHEN NOT ST_OrderingEquals(e.geom, t.geom) THEN 'geometry' END], NULL)
              AS changed
        FROM import_stage t
        JOIN crosswalk c ON c.dataset = :ds AND c.source_id = t.source_id
        JOIN entity e ON e.code = c.code
        LEFT JOIN (SELECT code, min(created_at) AS first_at, min(dataset) AS first_ds
                   FROM crosswalk WHERE dataset <> :ds GROUP BY code) o ON o.code = c.code
    ) m
""")
_UNDECIDED = "NOT EXISTS (SELECT 1 FROM import_outcome o WHERE o.seq = s.seq)"
_CHANGED = "SELECT code FROM import_outcome WHERE action = 'changed'"
# Not matched by source id: the same class within the class's tolerance and the same name
# (or no name on one side), among entities this dataset does not already deliver. One
# candidate claimed by one record links; anything else is for a person to decide.
_BY_PLACE = text(f"""
    WITH cand AS (
        SELECT s.seq, s.source_id, e.code
        FROM import_stage s
        JOIN category k ON k.code = s.category
        -- Each record asks the spatial index (OFFSET 0 keeps the planner from joining the
        -- class's every pair by a hash on the class: minutes for 100,000 records).
        CROSS JOIN LATERAL (
            SELECT e.code FROM entity e
            WHERE ST_DWithin(e.geom, s.geom, k.tolerance_m / 90000.0)
              AND e.category = s.category AND e.status NOT IN ('retired', 'void')
              AND ST_DWithin(e.geom::geography, s.geom::geography, k.tolerance_m)
              AND (e.name IS NULL OR s.name IS NULL OR e.name = s.name)
              AND e.batch_id IS DISTINCT FROM :batch_id  -- not this import's own (direct)
              AND NOT EXISTS (SELECT 1 FROM crosswalk c
                              WHERE c.code = e.code AND c.dataset = :ds)
            OFFSET 0) e
        WHERE {_UNDECIDED}
    ), counted AS (
        SELECT seq, source_id, code, count(*) OVER (PARTITION BY seq) AS n,
               count(*) OVER (PARTITION BY code) AS m FROM cand
    ), best AS (
        SELECT seq, source_id, min(code) AS code, max(n) AS n, max(m) AS m,
               string_agg(code, ',' ORDER BY code) AS all_codes
        FROM counted GROUP BY seq, source_id
    )
    INSERT INTO import_outcome (seq, source_id, code, action, note)
    SELECT b.seq, b.source_id, CASE WHEN b.n = 1 AND b.m = 1 THEN b.code END,
        CASE WHEN b.n = 1 AND b.m = 1 THEN 'link' ELSE 'review' END,
        CASE WHEN b.n = 1 AND b.m = 1 THEN NULL ELSE 'ambiguous match: ' || b.all_codes END
    FROM best b
""")
# The rest is new: serials numbered per class in file order from the plan's first serial;
# check digits from one bytea parameter (`registry.codes.check_digits` of every class, one
# after the other from the plan's base): get_byte on a parameter costs O(1) a row, where
# substr of a long text (or of a TOASTed column) would cost its length.
_ADD = text(f"""
    INSERT INTO import_outcome (seq, source_id, code, serial, action)
    SELECT n.seq, n.source_id, :county || n.category || lpad(n.serial::text, 6, '0')
               || chr(get_byte(CAST(:checks AS bytea), n.base + n.rn - 1)), n.serial, 'add'
    FROM (SELECT r.seq, r.source_id, r.category, p.first + r.rn - 1 AS serial, p.base, r.rn
          FROM (SELECT seq, source_id, category,
                       row_number() OVER (PARTITION BY category ORDER BY seq)::int AS rn
                FROM import_stage s WHERE {_UNDECIDED}) r
          JOIN import_plan p ON p.category = r.category) n
""")
# Staged attributes JSON null: not known (a Shapefile export's value too long for the file,
# loaders.mapping): an entity keeps what it holds, a new one gets none.
_KNOWN = "CASE WHEN s.attributes = 'null' THEN {unknown} ELSE s.attributes END"
_INSERT = text(f"""
    INSERT INTO entity (code, county, category, serial, status, condition, name, dept_admin,
        dept_owner, dept_maintainer, attributes, geom, street_code, community_code, grid_code,
        h3, version, valid_from, recorded_at, created_at, batch_id)
    SELECT o.code, :county, category, o.serial, 'active', condition, name, dept_admin,
        dept_owner, dept_maintainer, {_KNOWN.format(unknown="'{}'")}, geom,
        {place_sql("s.geom", known="s")},
        h3, 1, now(), now(), now(), :batch_id
    FROM import_stage s JOIN import_outcome o USING (seq) WHERE o.action = 'add' ORDER BY h3
""")
_UPDATE = text(f"""
    UPDATE entity e SET name = s.name, condition = s.condition, dept_admin = s.dept_admin,
        dept_owner = s.dept_owner, dept_maintainer = s.dept_maintainer,
        attributes = {_KNOWN.format(unknown="e.attributes")}, geom = s.geom, h3 = s.h3,
        (street_code, community_code, grid_code) = (SELECT {place_sql("s.geom", known="s")}),
        version = e.version + 1, valid_from = now(), recorded_at = now(), batch_id = :batch_id
    FROM import_stage s JOIN import_outcome o USING (seq)
    WHERE o.code = e.code AND o.action = 'changed'
""")
# The first version of an imported entity records its creation and leaves the state to the
# entity row while it is the open version (migration 0007): writing the state twice took 3.5 s
# of a million-point import. Its valid_from and recorded_at are the entity's (the same now()).
_CREATED = text("""
    INSERT INTO entity_version (code, version, status, valid_from, recorded_at, actor, reason,
        change, changed, batch_id)
    SELECT code, 1, 'active', now(), now(), :actor, :reason, 'created', '{}', :batch_id
    FROM import_outcome WHERE action = 'add'
""")
_COVERS = text("""
    DELETE FROM entity_cover WHERE code IN (
        SELECT code FROM import_outcome WHERE action = 'changed' AND 'geometry' = ANY(changed));
    INSERT INTO entity_cover (code, cell, lo)
    SELECT o.code, c.cell, c.lo FROM import_cover c JOIN import_outcome o USING (seq)
    WHERE o.action = 'add' OR (o.action = 'changed' AND 'geometry' = ANY(o.changed))
""")
_LINK = text("""
    INSERT INTO crosswalk (dataset, source_id, code, batch_id)
    SELECT :ds, source_id, code, :batch_id FROM import_outcome WHERE action IN ('add', 'link')
""")
# Set operations, not anti-joins: with a table's statistics stale (it has just grown), the
# planner looped over the staged records once per link — 100 s for 28,000 links of 城管 in the
# sample district, where this takes well under a second whatever it estimates.
_MISSING = text(f"""
    WITH mine AS MATERIALIZED (
        SELECT c.source_id, c.code FROM crosswalk c JOIN entity e ON e.code = c.code
        WHERE c.dataset = :ds AND e.status NOT IN {FINAL}
          AND c.batch_id IS DISTINCT FROM :batch_id),  -- linked by this import (loaders.direct)
    gone AS MATERIALIZED (
        SELECT source_id FROM mine
        EXCEPT SELECT source_id FROM import_stage
        EXCEPT SELECT source_id FROM import_seen),
    classes AS MATERIALIZED (SELECT DISTINCT category FROM import_stage)
    SELECT m.source_id, m.code,
           EXISTS (SELECT 1 FROM crosswalk o WHERE o.code = m.code AND o.dataset <> :ds)
             AS shared,
           e.category, e.category NOT IN (SELECT category FROM classes) AS class_absent
    FROM mine m JOIN gone g USING (source_id) JOIN entity e ON e.code = m.code
    ORDER BY m.source_id
""")


def merge(conn: Connection, *, dataset: str, county: str, actor: str, batch_id: int,
          retire_missing: bool, dry_run: bool = False, dropped: bulk.Dropped | None = None
          ) -> dict[str, Any]:
    """Apply the staged records; returns the changelog's lists ("unchanged": a count). A dry
    run (rolled back by the caller) never takes the bulk path's locks. `dropped`: a bulk load
    the caller runs (its indexes off; the caller rebuilds them)."""
    params = {"ds": dataset, "batch_id": batch_id, "county": county}
    staged = conn.execute(text("SELECT count(*) FROM import_stage")).scalar()
    # A dataset's first import has nothing missing: no look for it among its new links.
    linked_before = conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM crosswalk WHERE dataset = :ds "
        "AND batch_id IS DISTINCT FROM :batch_id)"), params).scalar()
    # A load that may double the registry takes its tables first (see registry.bulk).
    held = None if dry_run or dropped else bulk.claim(conn, staged)  # nobody adds meanwhile
    if staged >= bulk.MIN_ROWS:  # the match's hash of the dataset's links in memory (at 32 MB
        # it went in batches to disk): a million re-imported records matched in 4.0 s, not 4.4;
        # a bulk insert's join and sort by H3 too (below)
        bulk.roomy(conn)
    conn.execute(text("ANALYZE import_stage"))
    conn.execute(_MATCHED, params)
    conn.execute(text("ANALYZE import_outcome"))
    if dropped:  # the caller's bulk load took the indexes the place match asks per record
        for index in ("entity_geom_idx", "crosswalk_code_idx"):
            dropped.rebuild(conn, only=index)
    conn.execute(_BY_PLACE, params)
    plan = conn.execute(text(f"""SELECT category, count(*) FROM import_stage s
                                 WHERE {_UNDECIDED} GROUP BY category ORDER BY category""")).all()
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
    adding = base  # the new entities, all classes
    own = dropped is None and bulk.is_bulk(adding, held)
    if own:  # (adding ≥ MIN_ROWS: work_mem is roomy already)
        dropped = bulk.drop_indexes(conn)
    conn.execute(_INSERT, params)
    # Statistics of the decisions (and of the new rows, after a bulk insert without indexes),
    # or the joins below plan as for empty tables.
    conn.execute(text("ANALYZE entity, import_outcome" if dropped else "ANALYZE import_outcome"))
    conn.execute(_CREATED, snap)
    if conn.execute(text(f"SELECT EXISTS ({_CHANGED})")).scalar():
        # Each version row looks up its changed columns: by an index, not a scan per row.
        conn.execute(text("CREATE INDEX ON import_outcome (code)"))
        conn.execute(close_sql(f"v.code IN ({_CHANGED})", "now()"))
        conn.execute(_UPDATE, params)
        columns = ("(SELECT o.changed FROM import_outcome o WHERE o.code = entity.code "
                   "AND o.action = 'changed' ORDER BY o.seq LIMIT 1)")
        conn.execute(snapshot_sql(f"code IN ({_CHANGED})", columns),
                     {**snap, "change": "updated"})
    conn.execute(_COVERS)
    _link(conn, params)
    if own:
        dropped.rebuild(conn)
    missing = [dict(r._mapping) for r in conn.execute(_MISSING, params)] if linked_before else []
    retire = [{"source_id": m["source_id"], "code": m["code"]} for m in missing
              if retirable(m)]
    if retire_missing and retire:
        _retire(conn, [r["code"] for r in retire], snap, batch_id)
    raw = conn.connection.driver_connection
    # Tuples straight from psycopg: an import of a million rows lists a million codes.
    added = [{"source_id": s, "code": c} for s, c in raw.execute(
        "SELECT source_id, code FROM import_outcome WHERE action = 'add' ORDER BY seq"
    ).fetchall()]
    out: dict[str, Any] = {"added": added, "linked": [], "changed": [], "review": [],
                           "missing": missing, "retired": retire if retire_missing else [],
                           "notes": _absent_classes(conn, dataset, missing)}
    key = {"add": "added", "link": "linked", "changed": "changed", "review": "review"}
    listed = len(added)
    for action, source_id, code, changed, note in raw.execute(
            "SELECT action, source_id, code, changed, note FROM import_outcome "
            "WHERE action NOT IN ('unchanged', 'add') ORDER BY seq").fetchall():
        item: dict[str, Any] = {"source_id": source_id, "code": code}
        if action == "changed":
            item["changed"] = changed
        if note:
            item["reason"] = note
        out[key[action]].append(item)
        listed += 1
    out["unchanged"] = staged - listed  # every staged record has one outcome
    return out


def retirable(missing: dict[str, Any]) -> bool:
    """Whether `--retire-missing` retires a record missing from the file: not when another
    dataset still delivers its entity (only this link is stale), nor when the file has no
    record of its class at all — then the file is most likely another layer of the dataset
    (a department's manhole covers and street lamps in two files under one name), and
    retiring every record of the other layer would be the wrong answer to a naming slip."""
    return not missing["shared"] and not missing.get("class_absent")


def _absent_classes(conn: Connection, dataset: str, missing: list[dict[str, Any]]) -> list[str]:
    """The report's note on missing records of classes the file has none of."""
    absent = Counter(m["category"] for m in missing if m.get("class_absent"))
    if not absent:
        return []
    names = dict(conn.execute(text("SELECT code, name_zh FROM category WHERE code = ANY(:k)"),
                              {"k": list(absent)}).all())
    classes = ", ".join(f"{k} {names.get(k, '')}: {n:,}" for k, n in sorted(absent.items()))
    return [f"{sum(absent.values()):,} records of dataset {dataset} missing from this file are "
            f"of classes it has none of ({classes}); they are listed as missing but never "
            "retired by --retire-missing. If the dataset's layers come in separate files, "
            f"import each as a dataset of its own (e.g. {dataset}/<layer>)."]


def _link(conn: Connection, params: dict[str, Any]) -> None:
    """The crosswalk rows of the records added or linked (the entities are written)."""
    conn.execute(_LINK, params)


def _retire(conn: Connection, codes_: list[str], snap: dict[str, Any], batch_id: int) -> None:
    p = {"codes": codes_, "batch_id": batch_id}
    where = "code = ANY(CAST(:codes AS text[]))"
    conn.execute(close_sql("v.code = ANY(CAST(:codes AS text[]))", "now()"), p)
    conn.execute(text(f"""UPDATE entity SET status = 'retired', version = version + 1,
                          valid_from = now(), recorded_at = now(), batch_id = :batch_id
                          WHERE {where}"""), p)
    conn.execute(snapshot_sql(where), {**snap, "codes": codes_, "change": "retired",
                                       "changed": ["status"]})
