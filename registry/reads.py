"""Reading entities: the current state, the state as of a past date, the history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from registry import lineage, versions
from registry.errors import NotFound
from spatial import h3

_COLUMNS = """code, category, status, condition, name, dept_admin, dept_owner, dept_maintainer,
    attributes, ST_AsGeoJSON(geom, 9, 0)::json AS geometry, street_code, community_code, grid_code,
    h3, version, valid_from, recorded_at"""


@dataclass
class EntityRecord:
    code: str
    category: str
    status: str
    condition: str | None
    name: str | None
    dept_admin: str | None
    dept_owner: str | None
    dept_maintainer: str | None
    attributes: dict[str, Any]
    geometry: dict[str, Any]
    street_code: str | None
    community_code: str | None
    grid_code: str | None
    h3: str | None
    version: int
    valid_from: datetime
    recorded_at: datetime
    valid_to: datetime | None = None
    successors: list[lineage.Edge] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Any) -> EntityRecord:
        values = dict(row._mapping)
        values["h3"] = h3.to_str(values["h3"]) if values["h3"] is not None else None
        return cls(**values)


def get(conn: Connection, code: str) -> EntityRecord:
    """The entity as it is now, whatever its status (retired ones carry their successors)."""
    row = conn.execute(text(f"SELECT {_COLUMNS} FROM entity WHERE code = :code"),
                       {"code": code}).first()
    if row is None:
        raise NotFound(f"no entity has the code {code}")
    record = EntityRecord.from_row(row)
    if record.status == "retired":
        record.successors = lineage.successors(conn, code)
    return record


def as_of(conn: Connection, code: str, at: datetime) -> EntityRecord:
    """The entity as it was valid at `at`."""
    row = conn.execute(_AS_OF, {"code": code, "at": at}).first()
    if row is None:
        get(conn, code)  # unknown code → NotFound with its own message
        raise NotFound(f"{code} did not exist yet on {at.isoformat()}")
    return EntityRecord.from_row(row)


# A version's state, thin (an import's open first version: the entity row's) or not, in one
# statement, so that a write committed meanwhile cannot mix two moments.
_AS_OF = text(f"""
    SELECT v.code, {versions.state_of("category")} AS category, v.status,
        {", ".join(f"{versions.state_of(c)} AS {c}" for c in (
            "condition", "name", "dept_admin", "dept_owner", "dept_maintainer", "attributes"))},
        ST_AsGeoJSON({versions.state_of("geom")}, 9, 0)::json AS geometry,
        {", ".join(f"{versions.state_of(c)} AS {c}" for c in (
            "street_code", "community_code", "grid_code", "h3"))},
        v.version, v.valid_from, v.recorded_at, v.valid_to
    FROM entity_version v JOIN entity e USING (code)
    WHERE v.code = :code AND v.valid_from <= :at AND (v.valid_to IS NULL OR v.valid_to > :at)
    ORDER BY v.version DESC LIMIT 1
""")


@dataclass
class Version:
    version: int
    status: str
    change: str
    changed: list[str]
    valid_from: datetime
    valid_to: datetime | None
    recorded_at: datetime
    actor: str
    reason: str | None
    batch_id: int | None


def history(conn: Connection, code: str) -> list[Version]:
    rows = conn.execute(
        text("""SELECT version, status, change, changed, valid_from, valid_to, recorded_at,
                       actor, reason, batch_id
                FROM entity_version WHERE code = :code ORDER BY version"""),
        {"code": code},
    ).all()
    if not rows:
        raise NotFound(f"no entity has the code {code}")
    return [Version(**r._mapping) for r in rows]
