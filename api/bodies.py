"""Request bodies of the write endpoints (pydantic), and their translation to registry calls."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from registry.entities import DEPARTMENT_ROLES, NewEntity
from registry.errors import InvalidInput

TEXT = 500  # characters of a name or a department
PARTS = 100  # entities a split makes or a merge takes


class Source(BaseModel):
    dataset: str = Field(min_length=1, max_length=200)
    source_id: str = Field(min_length=1, max_length=200)


class Properties(BaseModel):
    category: str | None = Field(None, pattern=r"^\d{4}$", description="小类, e.g. 0118")
    name: str | None = Field(None, max_length=TEXT)
    condition: str | None = Field(None, description="intact/damaged/lost/occupied or 完好…")
    status: str | None = Field(None, description="provisional or active (new entities)")
    dept_admin: str | None = Field(None, max_length=TEXT)
    dept_owner: str | None = Field(None, max_length=TEXT)
    dept_maintainer: str | None = Field(None, max_length=TEXT)
    attributes: dict[str, Any] | None = None
    sources: list[Source] | None = None

    @field_validator("attributes")
    @classmethod
    def _numbers_fit(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """Numbers every JSON reader takes back: whole numbers within 64 bits, finite."""
        def walk(v: Any, where: str) -> None:
            if isinstance(v, bool):
                return
            if isinstance(v, int) and not -(2**63) <= v < 2**63 or \
                    isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"{where}: a number beyond 64 bits or not finite; send it "
                                 "as text")
            for k, item in (v.items() if isinstance(v, dict) else
                            enumerate(v) if isinstance(v, list) else ()):
                walk(item, f"{where}.{k}")
        walk(value, "attributes")
        return value


class Feature(BaseModel):
    type: str = Field("Feature", pattern="^Feature$")
    geometry: dict[str, Any]
    properties: Properties


class PatchFeature(BaseModel):
    type: str = Field("Feature", pattern="^Feature$")
    geometry: dict[str, Any] | None = None
    properties: Properties = Properties()


class Action(BaseModel):
    reason: str | None = Field(None, max_length=2000)
    valid_from: datetime | None = None

    @field_validator("valid_from")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """A time without a zone is UTC (as `as_of` takes it)."""
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value


class Lineage(Action):
    """A split, replacement or merge takes effect when it is recorded."""

    @field_validator("valid_from")
    @classmethod
    def _now(cls, value: datetime | None) -> datetime | None:
        if value is not None:
            raise ValueError("a split, replacement or merge takes effect now: leave out "
                             "valid_from")
        return value


class Split(Lineage):
    parts: list[Feature] = Field(min_length=2, max_length=PARTS)


class Replace(Lineage):
    by: Feature


class Merge(Lineage):
    codes: list[str] = Field(min_length=2, max_length=PARTS)
    into: Feature


def new_entity(feature: Feature, default_category: str | None = None) -> NewEntity:
    p = feature.properties
    category = p.category or default_category
    if not category:
        raise InvalidInput("properties.category (the 4-digit 小类) is required")
    return NewEntity(
        category=category, geometry=feature.geometry, name=p.name, condition=p.condition,
        status=p.status or "active", attributes=p.attributes or {},
        sources=[(s.dataset, s.source_id) for s in p.sources or []],
        **{role: getattr(p, role) for role in DEPARTMENT_ROLES},
    )


def changes(feature: Feature | PatchFeature, *, partial: bool) -> dict[str, Any]:
    """Editable fields from a Feature: all of them for PUT, only those given for PATCH."""
    given = feature.properties.model_dump(exclude_unset=partial)
    if given.get("sources"):
        raise InvalidInput("properties.sources cannot be changed by an edit: source ids are "
                           "linked when an entity is created, and by imports")
    out = {k: v for k, v in given.items()
           if k in ("name", "condition", "attributes", "status", "category",
                    *DEPARTMENT_ROLES)}
    if not partial and out.get("attributes") is None:
        out["attributes"] = {}
    if feature.geometry is not None:
        out["geometry"] = feature.geometry
    return out
