"""CQL2 filters (OGC API Features Part 3): parsed and validated by the `cql2` library, compiled
here from its JSON form to SQL over whitelisted properties, every literal a bound parameter
checked against its property's type first: a bad filter is a 400, never an error in SQL."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import cql2
from shapely.geometry import box, shape

from registry.errors import InvalidInput
from spatial import crs as crslib
from spatial.errors import SpatialError

#: queryable → (SQL expression, type). Only these reach SQL.
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
    "valid_from": ("e.valid_from", "timestamp"),
    "geometry": ("e.geom", "geometry"),
}
#: type → (what it is called, an example value, the kinds of literal it compares with).
TYPES = {"string": ("text", "'abc'", {"string"}), "integer": ("a whole number", "3", {"number"}),
         "timestamp": ("a timestamp", "TIMESTAMP('2020-01-01T00:00:00Z') or DATE('2020-01-01')",
                       {"date", "timestamp"})}
COMPARISONS = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
SPATIAL = {"s_intersects": "ST_Intersects", "s_within": "ST_Within",
           "s_contains": "ST_Contains", "s_disjoint": "ST_Disjoint", "s_equals": "ST_Equals",
           "s_touches": "ST_Touches", "s_crosses": "ST_Crosses", "s_overlaps": "ST_Overlaps"}
TEMPORAL = {"t_before": "<", "t_after": ">", "t_equals": "=", "t_intersects": "="}
#: Stored attributes (jsonb) compared with a number or a time are cast only where the value is
#: of that kind; any other value compares as NULL, i.e. that row is not matched. The patterns
#: admit nothing the cast refuses: digits and exponent are bounded (no numeric overflow), and
#: month, day, hour, minute, second and offset ranges are spelled out (the day of the month is
#: checked against the month's length before the cast).
NUMBER_RE = r"^[+-]?([0-9]{1,100}(\.[0-9]{0,100})?|\.[0-9]{1,100})([eE][+-]?[0-9]{1,3})?$"
TIME_RE = (r"^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
           r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?"
           r"(Z|[+-](0[0-9]|1[0-4])(:?[0-5][0-9])?)?)?$")


class InvalidFilter(InvalidInput):
    status, code = 400, "invalid_filter"


@dataclass
class Filter:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prop:
    name: str
    sql: str  # for an attribute: its text (->>)
    kind: str  # a QUERYABLES type, or "attribute"
    json: str = ""  # for an attribute: its jsonb value (->)


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
        _precheck(expr.to_json())  # before validate(): its schema messages would hide these
        expr.validate()
    except InvalidFilter:
        raise
    except Exception as e:  # cql2 raises its own ParseError / ValidationError / ValueError
        detail = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
        raise InvalidFilter(f"the filter is not valid {lang}: {detail}") from None
    return Compiler(crslib.epsg(crs) if crs else crslib.STORAGE).compile(expr.to_json())


def _precheck(node: Any) -> None:
    """Refuse NUL characters, numbers out of range and comparisons with NULL, anywhere."""
    if isinstance(node, str) and "\x00" in node:
        raise InvalidFilter("the filter holds a NUL character (\\u0000), which no text can "
                            "hold; remove it")
    if isinstance(node, float) and not math.isfinite(node):
        raise InvalidFilter("a number in the filter is out of range (beyond ±1.8e308)")
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for item in children:
        _precheck(item)
    if isinstance(node, dict):
        args = node.get("args")
        op = str(node.get("op", "")).lower()
        if isinstance(args, list) and (None in args or any(
                isinstance(a, list) and None in a for a in args)):
            prop = next((a["property"] for a in args if isinstance(a, dict)
                         and isinstance(a.get("property"), str)), "property")
            not_ = "NOT " if op == "<>" else ""
            raise InvalidFilter(f"NULL is not a value to compare with; to find missing "
                                f"values write {prop} IS {not_}NULL")


def _show(node: Any) -> str:
    """A literal as the user wrote it in cql2-text."""
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, float) and node.is_integer():
        return str(int(node))
    if isinstance(node, str):
        return "'" + node.replace("'", "''") + "'"
    if isinstance(node, dict) and len(node) == 1:
        [(k, v)] = node.items()
        return f"{k.upper()}({v!r})"
    return str(node)


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
            return self._compare(self._property(args[0]), COMPARISONS[op], args[1])
        if op == "like":
            prop = self._property(args[0])
            if prop.kind not in ("string", "attribute"):
                raise InvalidFilter(f"LIKE matches text; {prop.name} is {TYPES[prop.kind][0]}")
            if not isinstance(args[1], str):
                raise InvalidFilter("LIKE takes a quoted pattern, e.g. name LIKE '%路%'")
            return f"({prop.sql} LIKE {self._bind(args[1])})"
        if op == "between":
            prop = self._property(args[0])
            (kind, lo), (_, hi) = self._operands(prop, args[1:3], "BETWEEN")
            return f"({self._typed(prop, kind)} BETWEEN {lo} AND {hi})"
        if op == "in":
            prop = self._property(args[0])
            values = args[1] if isinstance(args[1], list) else [args[1]]
            if not values:  # as cql2-text, where "IN ()" does not parse
                raise InvalidFilter(f"{prop.name} IN needs at least one value, e.g. "
                                    f"{prop.name} IN ('a', 'b')")
            ops = self._operands(prop, values, "IN")
            return f"({self._typed(prop, ops[0][0])} IN ({', '.join(v for _, v in ops)}))"
        if op == "isnull":
            return f"({self._property(args[0]).sql} IS NULL)"
        if op in SPATIAL:
            geom_sql = self._geometry(args[1])
            return f"{SPATIAL[op]}({self._spatial_property(args[0])}, {geom_sql})"
        if op in TEMPORAL:
            prop = self._property(args[0])
            if prop.kind not in ("timestamp", "attribute"):
                raise InvalidFilter(f"{op.upper()} compares times; {prop.name} is "
                                    f"{TYPES[prop.kind][0]} (valid_from is a timestamp)")
            return self._compare(prop, TEMPORAL[op], args[1])
        for arg in args:  # T_DURING and the like: their INTERVAL is what is missing
            if isinstance(arg, dict) and "interval" in arg:
                self._literal(arg)
        raise InvalidFilter(f"the filter operator {op!r} is not supported here")

    def _property(self, node: Any) -> Prop:
        if not (isinstance(node, dict) and "property" in node):
            raise InvalidFilter("the left side of a comparison is a property, e.g. status")
        name = node["property"]
        if name.startswith("attributes."):
            key = name.removeprefix("attributes.")
            if not key:
                raise InvalidFilter("attributes.<name> names one attribute")
            k = self._bind(key)
            return Prop(name, f"(e.attributes ->> {k})", "attribute", f"(e.attributes -> {k})")
        if QUERYABLES.get(name, ("", ""))[1] == "geometry":
            raise InvalidFilter("geometry is compared with spatial operators, e.g. "
                                "S_INTERSECTS(geometry, BBOX(113.8, 22.7, 113.9, 22.8))")
        if name not in QUERYABLES:
            raise InvalidFilter(f"unknown queryable {name!r}; see /collections/{{id}}/queryables")
        return Prop(name, *QUERYABLES[name])

    def _spatial_property(self, node: Any) -> str:
        if not (isinstance(node, dict) and node.get("property") == "geometry"):
            raise InvalidFilter("spatial operators take the property geometry first")
        return "e.geom"

    def _compare(self, prop: Prop, sql_op: str, node: Any) -> str:
        kind, value = self._operand(prop, node)
        return f"({self._typed(prop, kind)} {sql_op} {value})"

    def _operands(self, prop: Prop, nodes: list[Any], what: str) -> list[tuple[str, str]]:
        """The values of an IN list or a BETWEEN range: of one kind (only an attribute could
        take several, and would compare each differently)."""
        ops = [self._operand(prop, node) for node in nodes]
        kinds = sorted({kind for kind, _ in ops})
        if len(kinds) > 1:
            raise InvalidFilter(f"{prop.name} {what} mixes {' and '.join(kinds)} values; give "
                                "values of one kind (all numbers, all text or all dates)")
        return ops

    def _typed(self, prop: Prop, kind: str) -> str:
        """The property as SQL, for an attribute as the `kind` of value it is compared with."""
        t = prop.sql
        if prop.kind != "attribute" or kind == "text":
            return t
        if kind == "number":
            return (f"CASE WHEN jsonb_typeof({prop.json}) = 'number' OR {t} ~ '{NUMBER_RE}' "
                    f"THEN CAST({t} AS numeric) END")
        return (f"CASE WHEN {t} ~ '{TIME_RE}' THEN CASE WHEN CAST(substr({t}, 9, 2) AS int) <= "
                f"extract(day from CAST(substr({t}, 1, 7) || '-01' AS date) + "
                f"interval '1 month - 1 day') THEN CAST({t} AS timestamptz) END END")

    def _operand(self, prop: Prop, node: Any) -> tuple[str, str]:
        """(the kind of value, its bound SQL) of a literal compared with `prop`."""
        kind, value = self._literal(node)
        if prop.kind == "timestamp" and kind == "string":
            try:  # an ISO 8601 string compares with a timestamp too
                kind, value = "timestamp", datetime.fromisoformat(value)
            except ValueError:
                pass
        if prop.kind != "attribute" and kind not in TYPES[prop.kind][2]:
            noun, example, _ = TYPES[prop.kind]
            if prop.kind == "string" and kind in ("number", "boolean"):
                example = "'" + _show(node) + "'"
            raise InvalidFilter(f"{prop.name} is {noun}; {_show(node)} is not: compare it "
                                f"with a value like {example}")
        if kind == "number":
            whole = value.is_integer() and abs(value) < 2 ** 63
            return "number", self._bind(int(value) if whole else Decimal(repr(value)))
        if kind in ("date", "timestamp"):
            if isinstance(value, datetime) and value.tzinfo is not None:
                return "time", self._bind(value)
            # a date or a time without a zone is UTC (as the datetime parameter and writes
            # take it), whatever the database session's zone
            return "time", f"(CAST({self._bind(str(value))} AS timestamp) AT TIME ZONE 'UTC')"
        if kind == "boolean":
            value = "true" if value else "false"  # as jsonb ->> shows a stored boolean
        return "text", self._bind(value)

    @staticmethod
    def _literal(node: Any) -> tuple[str, Any]:
        """(kind, Python value) of a literal: string, number, boolean, date or timestamp."""
        if isinstance(node, bool):
            return "boolean", node
        if isinstance(node, int | float):
            return "number", float(node)
        if isinstance(node, str):
            return "string", node
        if isinstance(node, dict) and "interval" in node:
            raise InvalidFilter("time intervals are not supported; compare with dates instead, "
                                "e.g. valid_from >= DATE('2020-01-01') AND "
                                "valid_from < DATE('2021-01-01')")
        for kind, read in (("date", date.fromisoformat), ("timestamp", datetime.fromisoformat)):
            if isinstance(node, dict) and isinstance(node.get(kind), str):
                try:
                    return kind, read(node[kind])
                except ValueError:
                    raise InvalidFilter(f"{_show(node)} is not a real {kind}; write e.g. "
                                        "DATE('2020-01-31') or TIMESTAMP('2020-01-31T08:00:00Z'"
                                        "), years 0001 to 9999") from None
        raise InvalidFilter("compare a property with a value (string, number, date, timestamp)")

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
                       {"type": "string", "format": "date-time"} if kind == "timestamp" else
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
