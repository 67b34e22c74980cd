"""The source-id crosswalk: (source dataset, source id) → exactly one code."""

from __future__ import annotations

from sqlalchemy import Connection, text

from registry.errors import DuplicateSourceId, NotFound

_LINK = text("""
    INSERT INTO crosswalk (dataset, source_id, code, batch_id)
    SELECT dataset, source_id, code, :batch_id
    FROM unnest(CAST(:dataset AS text[]), CAST(:source_id AS text[]), CAST(:code AS text[]))
         AS t(dataset, source_id, code)
    ON CONFLICT (dataset, source_id) DO NOTHING
""")
_CLASHES = text("""
    SELECT c.dataset, c.source_id, c.code AS linked, t.code AS wanted
    FROM unnest(CAST(:dataset AS text[]), CAST(:source_id AS text[]), CAST(:code AS text[]))
         AS t(dataset, source_id, code)
    JOIN crosswalk c USING (dataset, source_id)
    WHERE c.code <> t.code
    LIMIT 1
""")


def link_many(conn: Connection, links: list[tuple[str, str, str]],
              batch_id: int | None = None) -> None:
    """Link (dataset, source_id, code) triples. Re-linking to the same code is a no-op; a
    source id already linked to another code, or given twice, is refused."""
    if not links:
        return
    seen: dict[tuple[str, str], str] = {}
    for ds, sid, code in links:
        if seen.setdefault((ds, sid), code) != code:
            raise DuplicateSourceId(
                f"source id {sid!r} of dataset {ds!r} is given for two entities "
                f"({seen[(ds, sid)]} and {code})", dataset=ds, source_id=sid,
            )
    params = {"dataset": [x[0] for x in links], "source_id": [x[1] for x in links],
              "code": [x[2] for x in links]}
    # Insert first, then look for clashes: ON CONFLICT waits for a concurrent writer of the
    # same source id, so the check below also sees what it committed.
    conn.execute(_LINK, {**params, "batch_id": batch_id})
    clash = conn.execute(_CLASHES, params).first()
    if clash:
        raise DuplicateSourceId(
            f"source id {clash.source_id!r} of dataset {clash.dataset!r} already belongs to "
            f"{clash.linked}; one source id links to exactly one code",
            dataset=clash.dataset, source_id=clash.source_id, code=clash.linked,
        )


def link(conn: Connection, dataset: str, source_id: str, code: str) -> None:
    if not conn.execute(text("SELECT 1 FROM entity WHERE code = :c"), {"c": code}).first():
        raise NotFound(f"no entity has the code {code}")
    link_many(conn, [(dataset, source_id, code)])


def resolve(conn: Connection, dataset: str, source_id: str) -> str:
    code = conn.execute(
        text("SELECT code FROM crosswalk WHERE dataset = :d AND source_id = :s"),
        {"d": dataset, "s": source_id},
    ).scalar()
    if code is None:
        raise NotFound(f"dataset {dataset!r} has no source id {source_id!r} in the crosswalk")
    return code


def sources(conn: Connection, code: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        text("SELECT dataset, source_id FROM crosswalk WHERE code = :c ORDER BY 1, 2"),
        {"c": code},
    )
    return [(r.dataset, r.source_id) for r in rows]
