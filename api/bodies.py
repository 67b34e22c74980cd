"""Request bodies of the write endpoints (pydantic), and their translation to registry calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from registry.entities import DEPARTMENT_ROLES, NewEntity
from registry.errors import InvalidInput


class Source(BaseModel):
    dataset: str = Field(min_length=1, max_length=200)
    source_id: str = Field(min_length=1, max_length=200)


class Properties(BaseModel):
    category: str | None = Field(None, pattern=r"^\d{4}$", description="小类, e.g. 0118")
    name: str | None = None
    condition: str | None = Field(None, description="intact/damaged/lost/occupied or 完好…")
    status: str | None = Field(None, description="provisional or active (new entities)")
    dept_admin: str | None = None
    dept_owner: str | None = None
    dept_maintainer: str | None = None
    attributes: dict[str, Any] | None = None
    sources: list[Source] | None = None


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


class Split(Action):
    parts: list[Feature] = Field(min_length=2)


class Replace(Action):
    by: Feature


class Merge(Action):
    codes: list[str] = Field(min_length=2)
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
    out = {k: v for k, v in given.items()
           if k in ("name", "condition", "attributes", *DEPARTMENT_ROLES)}
    if not partial and out.get("attributes") is None:
        out["attributes"] = {}
    if feature.geometry is not None:
        out["geometry"] = feature.geometry
    return out
