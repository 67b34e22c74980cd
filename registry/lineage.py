"""Lineage: split, merge and replace retire their inputs, mint their outputs and link them
with edges (from, to, kind, date)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, text

from registry import entities
from registry.entities import NewEntity
from registry.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class Edge:
    from_code: str
    to_code: str
    kind: str
    happened_on: date


def _edges(conn: Connection, where: str, code: str) -> list[Edge]:
    rows = conn.execute(
        text(f"SELECT from_code, to_code, kind, happened_on FROM lineage WHERE {where} = :c "
             "ORDER BY to_code, from_code"),
        {"c": code},
    )
    return [Edge(**r._mapping) for r in rows]


def successors(conn: Connection, code: str) -> list[Edge]:
    return _edges(conn, "from_code", code)


def predecessors(conn: Connection, code: str) -> list[Edge]:
    return _edges(conn, "to_code", code)


def _derive(conn: Connection, kind: str, inputs: list[str], outputs: list[NewEntity], *,
            actor: str, reason: str | None, county: str | None, on: date | None) -> list[str]:
    if len(set(inputs)) != len(inputs):
        raise InvalidInput(f"{kind}: the same code is given twice")
    rows = conn.execute(
        text("SELECT code, county FROM entity WHERE code = ANY(CAST(:c AS text[])) ORDER BY code"),
        {"c": inputs},
    ).all()
    missing = set(inputs) - {r.code for r in rows}
    if missing:
        raise NotFound(f"no entity has the code {', '.join(sorted(missing))}")
    why = reason or kind
    for code in inputs:
        entities.transition(conn, code, "retired", actor=actor, reason=why)
    new = entities.register_many(conn, outputs, county=county or rows[0].county, actor=actor,
                                 reason=why)
    conn.execute(
        text("""INSERT INTO lineage (from_code, to_code, kind, happened_on)
                SELECT f, t, :kind, COALESCE(CAST(:on AS date), current_date)
                FROM unnest(CAST(:f AS text[])) f CROSS JOIN unnest(CAST(:t AS text[])) t"""),
        {"f": inputs, "t": new, "kind": kind, "on": on},
    )
    return new


def split(conn: Connection, code: str, parts: list[NewEntity], *, actor: str,
          reason: str | None = None, county: str | None = None, on: date | None = None
          ) -> list[str]:
    if len(parts) < 2:
        raise InvalidInput("a split makes at least two entities")
    return _derive(conn, "split", [code], parts, actor=actor, reason=reason, county=county, on=on)


def merge(conn: Connection, codes: list[str], into: NewEntity, *, actor: str,
          reason: str | None = None, county: str | None = None, on: date | None = None) -> str:
    if len(codes) < 2:
        raise InvalidInput("a merge takes at least two entities")
    return _derive(conn, "merge", codes, [into], actor=actor, reason=reason, county=county,
                   on=on)[0]


def replace(conn: Connection, code: str, by: NewEntity, *, actor: str,
            reason: str | None = None, county: str | None = None, on: date | None = None) -> str:
    return _derive(conn, "replace", [code], [by], actor=actor, reason=reason, county=county,
                   on=on)[0]
