"""CQL2 filters (OGC API Features Part 3): parsed and validated by the `cql2` library, compiled
here from its JSON form to SQL over whitelisted properties, every literal a bound parameter."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import cql2
from shapely.geometry import box, shape

from registry.errors import InvalidInput
from spatial import crs as crslib
from spatial.errors import SpatialError

#: queryable → (SQL expression, JSON-schema type). Only these reach SQL.
QUERYABLES: dict[str, tuple[str, str]] = {
    "code": ("e.code", "string"),
    "category": ("e.category", "string"),
    "status": ("e.status", "string"),
    "condition": ("e.condition", "string"),
    "name": ("e.name", "string"),
    "dept_admin": ("e.dept_admin", "string"),
    "dept_owner": ("e.dept_owner", "string"),
    "dept_maintainer": ("e.dept_maintainer", "string"),
    "street_code": ("e.street_code", "string"),
    "community_code": ("e.community_code", "string"),
    "grid_code": ("e.grid_code", "string"),
    "version": ("e.version", "integer"),
    "valid_from": ("e.valid_from", "string"),
    "geometry": ("e.geom", "geometry"),
}
COMPARISONS = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
SPATIAL = {"s_intersects": "ST_Intersects", "s_within": "ST_Within",
           "s_contains": "ST_Contains", "s_disjoint": "ST_Disjoint", "s_equals": "ST_Equals",
           "s_touches": "ST_Touches", "s_crosses": "ST_Crosses", "s_overlaps": "ST_Overlaps"}
TEMPORAL = {"t_before": "<", "t_after": ">", "t_equals": "=", "t_intersects": "="}


class InvalidFilter(InvalidInput):
    status, code = 400, "invalid_filter"


@dataclass
class Filter:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


def parse(text: str, lang: str | None = None, crs: str | None = None) -> Filter:
    """A `filter` parameter in cql2-text (default) or cql2-json; geometries in `crs`."""
    lang = lang or ("cql2-json" if text.lstrip().startswith("{") else "cql2-text")
    try:
        if lang == "cql2-text":
            expr = cql2.parse_text(text)
        elif lang == "cql2-json":
            expr = cql2.parse_json(text)
        else:
            raise InvalidFilter(f"filter-lang must be cql2-text or cql2-json, not {lang!r}")
        expr.validate()
    except InvalidFilter:
        raise
    except Exception as e:  # cql2 raises its own ParseError / ValidationError / ValueError
        detail = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
        raise InvalidFilter(f"the filter is not valid {lang}: {detail}") from None
    return Compiler(crslib.epsg(crs) if crs else crslib.STORAGE).compile(expr.to_json())


class Compiler:
    def __init__(self, srid: int) -> None:
        self.srid = srid
        self.params: dict[str, Any] = {}
        self._n = itertools.count()

    def compile(self, node: Any) -> Filter:
        return Filter(self._expr(node), self.params)

    def _bind(self, value: Any) -> str:
        name = f"cql_{next(self._n)}"
        self.params[name] = value
        return f":{name}"

    def _expr(self, node: Any) -> str:
        if isinstance(node, bool):
            return "true" if node else "false"
        if not isinstance(node, dict) or "op" not in node:
            raise InvalidFilter("a filter is a boolean expression, e.g. status = 'active'")
        op, args = node["op"].lower(), node.get("args", [])
        if op in ("and", "or"):
            return "(" + f" {op.upper()} ".join(self._expr(a) for a in args) + ")"
        if op == "not":
            return f"(NOT {self._expr(args[0])})"
        if op in COMPARISONS:
            left, right = self._operands(args)
            return f"({left} {COMPARISONS[op]} {right})"
        if op == "like":
            left, right = self._operands(args, text=True)
            return f"({left} LIKE {right})"
        if op == "between":
            prop = self._property(args[0])
            lo, hi = self._value(args[1], kind=prop[1]), self._value(args[2], kind=prop[1])
            return f"({self._typed(prop, args[1])} BETWEEN {lo} AND {hi})"
        if op == "in":
            prop = self._property(args[0])
            values = args[1] if isinstance(args[1], list) else [args[1]]
            return f"({self._typed(prop, values[0] if values else '')} IN (" + \
                ", ".join(self._value(v, kind=prop[1]) for v in values) + "))"
        if op == "isnull":
            return f"({self._property(args[0])[0]} IS NULL)"
        if op in SPATIAL:
            geom_sql = self._geometry(args[1])
            return f"{SPATIAL[op]}({self._spatial_property(args[0])}, {geom_sql})"
        if op in TEMPORAL:
            left, right = self._operands(args)
            return f"({left} {TEMPORAL[op]} {right})"
        raise InvalidFilter(f"the filter operator {op!r} is not supported here")

    def _property(self, node: Any) -> tuple[str, str]:
        if not (isinstance(node, dict) and "property" in node):
            raise InvalidFilter("the left side of a comparison is a property, e.g. status")
        name = node["property"]
        if name.startswith("attributes."):
            key = name.removeprefix("attributes.")
            if not key:
                raise InvalidFilter("attributes.<name> names one attribute")
            return f"(e.attributes ->> {self._bind(key)})", "attribute"
        if name not in QUERYABLES or QUERYABLES[name][1] == "geometry":
            raise InvalidFilter(f"unknown queryable {name!r}; see /collections/{{id}}/queryables")
        return QUERYABLES[name]

    def _spatial_property(self, node: Any) -> str:
        if not (isinstance(node, dict) and node.get("property") == "geometry"):
            raise InvalidFilter("spatial operators take the property geometry first")
        return "e.geom"

    def _typed(self, prop: tuple[str, str], sample: Any) -> str:
        sql, kind = prop
        if kind == "attribute" and isinstance(sample, int | float) \
                and not isinstance(sample, bool):
            return f"CASE WHEN {sql} ~ '^-?[0-9.eE+-]+$' THEN CAST({sql} AS numeric) END"
        return sql

    def _operands(self, args: list[Any], text: bool = False) -> tuple[str, str]:
        prop = self._property(args[0])
        if text:
            return prop[0], self._value(args[1], as_text=True)
        return self._typed(prop, args[1]), self._value(args[1], kind=prop[1])

    def _value(self, node: Any, as_text: bool = False, kind: str = "") -> str:
        if isinstance(node, dict) and ("timestamp" in node or "date" in node):
            return f"CAST({self._bind(node.get('timestamp') or node.get('date'))} AS timestamptz)"
        if isinstance(node, dict):
            raise InvalidFilter("compare a property with a value (string, number, timestamp)")
        numeric = isinstance(node, int | float) and not isinstance(node, bool)
        if as_text or kind == "string" or (kind == "attribute" and not numeric):
            return self._bind(node if isinstance(node, str) else json.dumps(node))
        return self._bind(node)

    def _geometry(self, node: Any) -> str:
        try:
            if isinstance(node, dict) and "bbox" in node:
                b = node["bbox"]
                geom = box(b[0], b[1], b[2], b[3])
            else:
                geom = shape(node)
            geom = crslib.transform(geom, self.srid)
        except (SpatialError, KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise InvalidFilter(f"the filter's geometry cannot be read: {e}") from None
        return f"ST_GeomFromWKB({self._bind(geom.wkb)}, 4490)"


def queryables_schema(collection_url: str) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for name, (_, kind) in QUERYABLES.items():
        props[name] = ({"format": "geometry-any"} if kind == "geometry" else
                       {"type": kind, "format": "date-time"} if name == "valid_from" else
                       {"type": kind})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{collection_url}/queryables",
        "type": "object",
        "title": "Queryables",
        "properties": props,
        "additionalProperties": True,
        "description": "Besides these, attributes.<name> filters on one attribute.",
    }
