"""Entities: register (one or many, set-based), update, lifecycle transitions. Every change
appends a version; admin placement is derived in PostGIS and H3 in the write path."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import shapely
from sqlalchemy import Connection, text

from registry import codes, crosswalk, dictionary, lifecycle, serials
from registry.db import quote_ident
from registry.errors import (
    CitytwinError,
    GeometryError,
    GeometryTypeNotAllowed,
    Gone,
    InvalidInput,
    NotFound,
    UnknownCounty,
    VersionConflict,
)
from registry.models import CONDITIONS
from registry.placement import LEVELS
from registry.versions import close_sql
from spatial import geometry as geo
from spatial import h3
from spatial.errors import GeometryTypeError, SpatialError

#: 部件 ObjState values and their registry keys.
CONDITION_LABELS = {"intact": "完好", "damaged": "破损", "lost": "丢失", "occupied": "占用"}
_CONDITION_KEYS = {**{v: k for k, v in CONDITION_LABELS.items()}, **{k: k for k in CONDITIONS}}
DEPARTMENT_ROLES = ("dept_admin", "dept_owner", "dept_maintainer")  # 主管 / 权属 / 养护
EDITABLE = ("name", "condition", "geometry", "attributes", *DEPARTMENT_ROLES)
MAX_VERTICES = 100_000  # a district's largest park outline has a few thousand
# Given to `update` as they are, they pass; changed, the way to change them instead.
_NOT_HERE = {"status": "POST /entities/{code}/retire, suspend, activate or void",
             "category": "a class change is a new entity — POST /entities/{code}/replace"}


@dataclass
class NewEntity:
    category: str
    geometry: Any  # GeoJSON dict, WKT, WKB or shapely, lon/lat in EPSG:4490
    name: str | None = None
    condition: str | None = None
    status: str = "active"
    dept_admin: str | None = None
    dept_owner: str | None = None
    dept_maintainer: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    county: str | None = None
    #: (dataset, source id) pairs this entity is known by in departments' data.
    sources: list[tuple[str, str]] = field(default_factory=list)


def normalise_condition(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return _CONDITION_KEYS[value]
    except KeyError:
        allowed = ", ".join(f"{k} ({v})" for k, v in CONDITION_LABELS.items())
        raise InvalidInput(f"condition {value!r} is not one of {allowed}") from None


def clean_geometry(value: Any, category: dictionary.Category) -> shapely.Geometry:
    """The stored form of a geometry for a class, or a domain error saying what is wrong."""
    try:
        geom, _ = geo.clean(value, category.geometry_types)
        if (n := shapely.get_num_coordinates(geom)) > MAX_VERTICES:
            raise GeometryError(f"the geometry has {n:,} vertices; an entity takes at most "
                                f"{MAX_VERTICES:,}: simplify it first")
    except GeometryTypeError as e:
        raise GeometryTypeNotAllowed(
            f"class {category.code} {category.name_zh} ({category.name_en}) takes "
            f"{', '.join(category.geometry_types)} geometries: {e}"
        ) from None
    except SpatialError as e:
        raise GeometryError(str(e)) from None
    return geom


def _h3(geom: shapely.Geometry) -> int:
    pt = geo.representative_point(geom)
    return h3.cell(pt.y, pt.x)


def _cover(geom: shapely.Geometry) -> list[int]:
    return [] if geom.geom_type == "Point" else h3.cover_cells(geom)


def write_covers(conn: Connection, covers: list[tuple[str, list[int]]], *,
                 replace: bool = False) -> None:
    """Store the H3 footprint cells of lines and polygons (replacing the old ones on a move)."""
    if replace:
        conn.execute(text("DELETE FROM entity_cover WHERE code = ANY(CAST(:c AS text[]))"),
                     {"c": [code for code, _ in covers]})
    rows = [(code, cell, h3.descendant_range(cell)[0]) for code, cells in covers
            for cell in cells]
    if rows:
        conn.execute(
            text("""INSERT INTO entity_cover (code, cell, lo)
                    SELECT * FROM unnest(CAST(:code AS text[]), CAST(:cell AS bigint[]),
                                         CAST(:lo AS bigint[]))"""),
            {"code": [r[0] for r in rows], "cell": [r[1] for r in rows],
             "lo": [r[2] for r in rows]},
        )


# Placement and the version snapshot are each written once here and used by every write.
_PLACE_ONE = "area_code('{level}', ST_PointOnSurface({{g}}))"
_PLACE = ",\n".join(_PLACE_ONE.format(level=level) for level in LEVELS)
_INSERT = text(f"""
    INSERT INTO entity (code, county, category, serial, status, condition, name, dept_admin,
        dept_owner, dept_maintainer, attributes, geom, street_code, community_code, grid_code,
        h3, version, valid_from, recorded_at, created_at, batch_id)
    SELECT code, county, category, serial, status, condition, name, dept_admin, dept_owner,
        dept_maintainer, attributes::jsonb, g, {_PLACE.format(g="g")},
        h3, 1, COALESCE(CAST(:valid_from AS timestamptz), now()), now(), now(), :batch_id
    FROM (
        SELECT *, ST_GeomFromWKB(wkb, 4490) AS g
        FROM unnest(CAST(:code AS text[]), CAST(:county AS text[]), CAST(:category AS text[]),
                    CAST(:serial AS int[]), CAST(:status AS text[]), CAST(:condition AS text[]),
                    CAST(:name AS text[]), CAST(:dept_admin AS text[]),
                    CAST(:dept_owner AS text[]), CAST(:dept_maintainer AS text[]),
                    CAST(:attributes AS text[]), CAST(:wkb AS bytea[]), CAST(:h3 AS bigint[]))
             AS t(code, county, category, serial, status, condition, name, dept_admin,
                  dept_owner, dept_maintainer, attributes, wkb, h3)
    ) AS rows
""")
_SNAPSHOT = """
    INSERT INTO entity_version (code, version, category, status, condition, name, dept_admin,
        dept_owner, dept_maintainer, attributes, geom, street_code, community_code, grid_code, h3,
        valid_from, recorded_at, actor, reason, change, changed, batch_id)
    SELECT code, version, category, status, condition, name, dept_admin, dept_owner,
        dept_maintainer, attributes, geom, street_code, community_code, grid_code, h3,
        valid_from, recorded_at, :actor, :reason, :change, CAST(:changed AS text[]), :batch_id
    FROM entity WHERE {where}
"""


_CLOSE_ONE = close_sql("v.code = :code")


def snapshot_sql(where: str, changed: str = "CAST(:changed AS text[])") -> Any:
    """The version snapshot of the entities matching `where` (SQL over `entity`), binding
    :actor, :reason, :change and :batch_id; `changed` may be a per-row SQL expression (the
    loaders' set-based merge lists each row's changed columns)."""
    return text(_SNAPSHOT.replace("CAST(:changed AS text[])", changed).format(where=where))


def place_sql(geom: str, known: str | None = None) -> str:
    """street, community, grid of a geometry expression: the one placement rule. `known`: a
    table alias whose street_code, community_code and grid_code columns were placed already
    (`registry.placement`, the same rule in Python); NULLs there are placed here."""
    if known is None:
        return _PLACE.format(g=geom)
    return ", ".join(f"COALESCE({known}.{level}_code, {_PLACE_ONE.format(level=level)})"
                     .format(g=geom) for level in LEVELS)


_SNAPSHOT_MANY = snapshot_sql("code = ANY(CAST(:codes AS text[]))")
_SNAPSHOT_ONE = snapshot_sql("code = :code")


def register_many(
    conn: Connection,
    items: list[NewEntity],
    *,
    county: str,
    actor: str,
    reason: str | None = None,
    batch_id: int | None = None,
    valid_from: datetime | None = None,
) -> list[str]:
    """Validate, mint and insert entities in the caller's transaction; codes in input order.
    Any bad item refuses the whole call (nothing is written)."""
    if not items:
        return []
    d = dictionary.load(conn)
    cols: dict[str, list[Any]] = defaultdict(list)
    by_class: dict[tuple[str, str], list[int]] = defaultdict(list)
    covers: list[list[int]] = []
    for i, item in enumerate(items):
        where = f"item {i}: " if len(items) > 1 else ""
        try:
            category = d.category(item.category)
            c = item.county or county
            if c not in d.counties:
                raise UnknownCounty(f"county {c} is not a known county (GB/T 2260)")
            geom = clean_geometry(item.geometry, category)
            cols["status"].append(lifecycle.check_initial(item.status))
            cols["condition"].append(normalise_condition(item.condition))
        except CitytwinError as e:
            e.message = where + e.message
            raise
        by_class[(c, category.code)].append(i)
        cols["county"].append(c)
        cols["category"].append(category.code)
        cols["name"].append(item.name)
        for role in DEPARTMENT_ROLES:
            cols[role].append(getattr(item, role))
        cols["attributes"].append(json.dumps(item.attributes or {}, ensure_ascii=False,
                                             default=str))
        cols["wkb"].append(shapely.to_wkb(geom))
        cols["h3"].append(_h3(geom))
        covers.append(_cover(geom))
    code_of: list[str] = [""] * len(items)
    serial_of: list[int] = [0] * len(items)
    # The table before the serials, as a bulk import takes them (registry.bulk): taking a
    # serial's row first and then waiting for the table could deadlock with one.
    conn.execute(text("LOCK TABLE entity IN ROW EXCLUSIVE MODE"))
    for (c, cat), idx in by_class.items():
        got = serials.allocate(conn, c, cat, len(idx))
        for i, s, code in zip(idx, got, codes.make_range(c, cat, got.start, len(idx)),
                              strict=True):
            code_of[i], serial_of[i] = code, s
    conn.execute(_INSERT, {**cols, "code": code_of, "serial": serial_of,
                           "valid_from": valid_from, "batch_id": batch_id})
    write_covers(conn, [(code, cells) for code, cells in zip(code_of, covers, strict=True)
                        if cells])
    conn.execute(_SNAPSHOT_MANY, {"codes": code_of, "actor": actor, "reason": reason,
                                  "change": "created", "changed": [], "batch_id": batch_id})
    links = [(ds, sid, code_of[i]) for i, item in enumerate(items) for ds, sid in item.sources]
    if links:
        crosswalk.link_many(conn, links, batch_id=batch_id)
    return code_of


def register(conn: Connection, item: NewEntity, *, county: str, actor: str,
             reason: str | None = None, valid_from: datetime | None = None) -> str:
    return register_many(conn, [item], county=county, actor=actor, reason=reason,
                         valid_from=valid_from)[0]


_LOCK = text("""
    SELECT status, version, valid_from, category, name, condition, dept_admin, dept_owner,
           dept_maintainer, attributes, ST_AsBinary(geom) AS wkb
    FROM entity WHERE code = :code FOR UPDATE
""")


def _lock(conn: Connection, code: str, expected_version: int | Collection[int] | None) -> Any:
    """The entity's row, locked; refused when it is not at the version (or one of the
    versions) the caller read."""
    row = conn.execute(_LOCK, {"code": code}).first()
    if row is None:
        raise NotFound(f"no entity has the code {code}")
    allowed = {expected_version} if isinstance(expected_version, int) else expected_version
    if allowed is not None and row.version not in allowed:
        said = " or ".join(str(v) for v in sorted(allowed))
        raise VersionConflict(
            f"{code} is at version {row.version}, not {said}: someone changed it "
            "since you read it; read it again and reapply your change",
            current_version=row.version,
        )
    return row


def _apply(conn: Connection, code: str, row: Any, values: dict[str, Any], change: str,
           changed: list[str], actor: str, reason: str | None, valid_from: datetime | None,
           batch_id: int | None) -> int:
    """Write the new state and its version; returns the new version number."""
    when = valid_from or conn.execute(text("SELECT now()")).scalar()
    if when < row.valid_from:
        raise InvalidInput(
            f"valid_from {when.isoformat()} is before the current version's "
            f"({row.valid_from.isoformat()}); history is append-only"
        )
    if "cover" in values:
        write_covers(conn, [(code, values.pop("cover"))], replace=True)
    sets = []
    for col in values:
        if col == "wkb":
            sets.append("geom = ST_GeomFromWKB(:wkb, 4490), h3 = :h3")
            sets.append("(street_code, community_code, grid_code) = (SELECT "
                        + _PLACE.format(g="ST_GeomFromWKB(:wkb, 4490)") + ")")
        elif col == "attributes":
            sets.append("attributes = CAST(:attributes AS jsonb)")
        elif col != "h3":
            sets.append(f"{quote_ident(col)} = :{col}")
    conn.execute(_CLOSE_ONE, {"when": when, "code": code})  # before the entity changes
    conn.execute(
        text(f"""UPDATE entity SET {', '.join(sets)}, version = version + 1,
                 valid_from = :when, recorded_at = now(), batch_id = :batch_id
                 WHERE code = :code"""),
        {**values, "when": when, "code": code, "batch_id": batch_id},
    )
    conn.execute(_SNAPSHOT_ONE, {"code": code, "actor": actor, "reason": reason,
                                 "change": change, "changed": changed, "batch_id": batch_id})
    return row.version + 1


def update(
    conn: Connection,
    code: str,
    changes: dict[str, Any],
    *,
    actor: str,
    expected_version: int | Collection[int] | None = None,
    reason: str | None = None,
    valid_from: datetime | None = None,
    batch_id: int | None = None,
) -> int:
    """Change attributes of an entity; returns its version (unchanged when nothing differs).
    `status` and `category` may be given as they are (a feature sent back whole), not
    changed: a status changes by a lifecycle action, a class by a replacement."""
    changes = dict(changes)
    unknown = set(changes) - set(EDITABLE) - set(_NOT_HERE)
    if unknown:
        raise InvalidInput(
            f"cannot change {', '.join(sorted(unknown))}; editable: {', '.join(EDITABLE)} "
            "(status changes go through the lifecycle actions)"
        )
    row = _lock(conn, code, expected_version)
    if row.status in lifecycle.FINAL:
        raise Gone(f"{code} is {row.status}: it cannot be changed", status=row.status)
    for key, how in _NOT_HERE.items():
        if key in changes and changes.pop(key) not in (None, getattr(row, key)):
            raise InvalidInput(f"{key} cannot be changed by an edit: {how.format(code=code)}")
    values: dict[str, Any] = {}
    changed: list[str] = []
    for key, new in changes.items():
        if key == "geometry":
            category = dictionary.load(conn).category(row.category)
            geom = clean_geometry(new, category)
            if not geom.equals_exact(shapely.from_wkb(bytes(row.wkb)), 1e-9):
                values["wkb"], values["h3"] = shapely.to_wkb(geom), _h3(geom)
                values["cover"] = _cover(geom)
                changed.append("geometry")
            continue
        if key == "condition":
            new = normalise_condition(new)
        if key == "attributes":
            new = new or {}
            if new != row.attributes:
                values[key] = json.dumps(new, ensure_ascii=False, default=str)
                changed.append(key)
            continue
        if new != getattr(row, key):
            values[key] = new
            changed.append(key)
    if not changed:
        return row.version
    return _apply(conn, code, row, values, "updated", changed, actor, reason, valid_from,
                  batch_id)


def transition(
    conn: Connection,
    code: str,
    target: str,
    *,
    actor: str,
    expected_version: int | Collection[int] | None = None,
    reason: str | None = None,
    valid_from: datetime | None = None,
    batch_id: int | None = None,
) -> int:
    """Move an entity along its lifecycle; illegal moves are refused. Returns the version."""
    row = _lock(conn, code, expected_version)
    lifecycle.check_transition(code, row.status, target)
    return _apply(conn, code, row, {"status": target}, target, ["status"], actor, reason,
                  valid_from, batch_id)
