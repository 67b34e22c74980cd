"""The data model (SQLAlchemy 2 + GeoAlchemy2), in its own schema. Alembic migrations are the
authority on the database; these tables are what the code and the migrations agree on."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "citytwin"
SRID = 4490  # CGCS2000
STATUSES = ("provisional", "active", "suspended", "retired", "void")
CONDITIONS = ("intact", "damaged", "lost", "occupied")
LINEAGE_KINDS = ("split", "merge", "replace")
AREA_LEVELS = ("district", "street", "community", "grid")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class Major(Base):
    __tablename__ = "category_major"
    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    standard: Mapped[bool] = mapped_column(default=True)


class Category(Base):
    __tablename__ = "category"
    code: Mapped[str] = mapped_column(String(4), primary_key=True)
    major: Mapped[str] = mapped_column(ForeignKey(f"{SCHEMA}.category_major.code"))
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    geometry_types: Mapped[list[str]] = mapped_column(ARRAY(Text))
    standard: Mapped[bool] = mapped_column(default=True)
    tolerance_m: Mapped[float] = mapped_column(default=3.0)
    __table_args__ = (CheckConstraint("substr(code, 1, 2) = major", name="category_in_major"),)


class County(Base):
    __tablename__ = "county"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)


class SerialCounter(Base):
    """The last serial handed out per (county, category): the row lock makes minting safe."""

    __tablename__ = "serial_counter"
    county: Mapped[str] = mapped_column(String(6), primary_key=True)
    category: Mapped[str] = mapped_column(String(4), primary_key=True)
    last_serial: Mapped[int] = mapped_column(Integer)


class AdminArea(Base):
    __tablename__ = "admin_area"
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    level: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False)
    __table_args__ = (
        CheckConstraint(_in("level", AREA_LEVELS), name="admin_area_level"),
        Index("admin_area_geom_idx", "geom", postgresql_using="gist"),
        Index("admin_area_level_idx", "level"),
    )


class ImportBatch(Base):
    __tablename__ = "import_batch"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    dataset: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    file_name: Mapped[str | None] = mapped_column(Text)
    file_hash: Mapped[str | None] = mapped_column(Text)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Entity(Base):
    """The current state of each coded entity (one row per code, never deleted)."""

    __tablename__ = "entity"
    code: Mapped[str] = mapped_column(String(17), primary_key=True)
    county: Mapped[str] = mapped_column(String(6))
    # References to the dictionary and to entities are checked per statement by triggers
    # (migration 0004), not per row by foreign keys: a million-row import spent a quarter of
    # its INSERTs in the per-row checks.
    category: Mapped[str] = mapped_column(String(4))
    serial: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text)
    condition: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    dept_admin: Mapped[str | None] = mapped_column(Text)  # 主管
    dept_owner: Mapped[str | None] = mapped_column(Text)  # 权属
    dept_maintainer: Mapped[str | None] = mapped_column(Text)  # 养护
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    geom = mapped_column(Geometry("GEOMETRY", srid=SRID, spatial_index=False), nullable=False)
    street_code: Mapped[str | None] = mapped_column(Text)
    community_code: Mapped[str | None] = mapped_column(Text)
    grid_code: Mapped[str | None] = mapped_column(Text)
    h3: Mapped[int | None] = mapped_column(BigInteger)  # res-12 cell of the representative point
    # Defaults (0008): a new entity's first version, written now.
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    batch_id: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="entity_status"),
        CheckConstraint(f"condition IS NULL OR {_in('condition', CONDITIONS)}",
                        name="entity_condition"),
        CheckConstraint("octet_length(code) = 17 AND ltrim(code, '0123456789') = ''",
                        name="entity_code_digits"),
        Index("entity_geom_idx", "geom", postgresql_using="gist"),
        Index("entity_shape_geom_idx", "geom", postgresql_using="gist",
              postgresql_where=text("GeometryType(geom) <> 'POINT'")),
        Index("entity_category_idx", "category"),
        Index("entity_h3_idx", "h3"),
        Index("entity_street_idx", "street_code"),
        Index("entity_community_idx", "community_code"),
        Index("entity_grid_idx", "grid_code"),
    )


class EntityVersion(Base):
    """Append-only history: one row per version; closing a version sets its `valid_to` (and,
    for an imported entity's open first version, which leaves its state to the `entity` row
    while open, copies that state in: migration 0007)."""

    __tablename__ = "entity_version"
    __table_args__ = (
        CheckConstraint("geom IS NOT NULL OR valid_to IS NULL", name="entity_version_closed_state"),
    )
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)  # the change feed
    code: Mapped[str] = mapped_column(String(17), primary_key=True)  # an entity (0004)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str | None] = mapped_column(String(4))  # state: NULL in a thin open version
    status: Mapped[str] = mapped_column(Text)
    condition: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    dept_admin: Mapped[str | None] = mapped_column(Text)
    dept_owner: Mapped[str | None] = mapped_column(Text)
    dept_maintainer: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    geom = mapped_column(Geometry("GEOMETRY", srid=SRID, spatial_index=False), nullable=True)
    street_code: Mapped[str | None] = mapped_column(Text)
    community_code: Mapped[str | None] = mapped_column(Text)
    grid_code: Mapped[str | None] = mapped_column(Text)
    h3: Mapped[int | None] = mapped_column(BigInteger)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())  # 0008
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    change: Mapped[str] = mapped_column(Text)  # created / updated / status:<new> / ...
    changed: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    batch_id: Mapped[int | None] = mapped_column(BigInteger)


class Lineage(Base):
    __tablename__ = "lineage"
    # Both name entities (checked per statement, migration 0004).
    from_code: Mapped[str] = mapped_column(String(17), primary_key=True)
    to_code: Mapped[str] = mapped_column(String(17), primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    happened_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    batch_id: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint(_in("kind", LINEAGE_KINDS), name="lineage_kind"),
        CheckConstraint("from_code <> to_code", name="lineage_not_self"),
        Index("lineage_to_idx", "to_code"),
    )


class Crosswalk(Base):
    """(source dataset, source id) → exactly one code; a code may carry many source ids."""

    __tablename__ = "crosswalk"
    dataset: Mapped[str] = mapped_column(Text, primary_key=True)
    source_id: Mapped[str] = mapped_column(Text, primary_key=True)
    code: Mapped[str] = mapped_column(String(17))  # an entity (checked per statement, 0004)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    batch_id: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (Index("crosswalk_code_idx", "code"),)


class EntityCover(Base):
    """The H3 cells a line's or polygon's footprint touches (points have none: their res-12
    cell is `entity.h3`). `lo` is the cell's first res-12 descendant, so "touches cell X" is a
    range scan on `lo` plus an equality on X's ancestors (H3 ranges nest or are disjoint)."""

    __tablename__ = "entity_cover"
    code: Mapped[str] = mapped_column(String(17), primary_key=True)  # an entity (0004)
    cell: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    lo: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        Index("entity_cover_lo_idx", "lo"),
        Index("entity_cover_cell_idx", "cell"),
    )


class H3Count(Base):
    """Entities per (category, status, res-8 cell), kept exact by triggers (migration 0003):
    what district-wide density layers read."""

    __tablename__ = "h3_count"
    category: Mapped[str] = mapped_column(String(4), primary_key=True)
    status: Mapped[str] = mapped_column(Text, primary_key=True)
    cell: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
