"""Field mapping: which source field is the source id, the class, the name, the condition, the
three departments, the dates; value maps (codes → names); every unmapped field kept in the
attributes. From a YAML file, or defaults that know how the district's departments name them.

YAML (every key optional):

    source_id: ObjID
    category: {field: BJLX, map: {给水井盖: "0101"}}   # or a fixed class: category: "0101"
    name: ObjName
    condition: {field: ObjState, map: {完好: intact}}
    departments: {admin: DeptName1, owner: DeptName2, maintainer: DeptName3}
    dates: {install_date: ORDate}                        # attribute name: source field
    attributes: {Material: material}                     # renames; others keep their name
    values: {Material: {"01": 铸铁}}                      # value maps, by source field
    drop: [BGID]                                         # fields not kept at all
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from loaders.read import ImportRefused

CONDITION_STATES = ("intact", "damaged", "lost", "occupied")
CONDITION_VALUES = {"完好": "intact", "破损": "damaged", "丢失": "lost", "占用": "occupied",
                    "正常": "intact", "故障": "damaged", "离线": "lost",
                    **{k: k for k in CONDITION_STATES}}
# How the district's departments name things (城管 部件 tables, 水务, 住建, IoT, cameras);
# the first field present in a file wins.
_CANDIDATES = {
    "source_id": ["ObjID", "SBBM", "FWBM", "camera_id", "device_sn", "source_id", "id", "ID"],
    "category": ["BJLX", "SBLX", "JZLX", "device_type", "camera_type", "category", "小类"],
    "name": ["ObjName", "SBMC", "JZMC", "device_name", "name", "名称", "Name"],  # KML: Name
    "condition": ["ObjState", "ZT", "FWZT", "status", "condition", "状态"],
    "dept_admin": ["DeptName1", "GLDW", "dept", "dept_admin"],
    "dept_owner": ["DeptName2", "QSDW", "owner", "dept_owner"],
    "dept_maintainer": ["DeptName3", "YHDW", "WYDW", "maintainer", "dept_maintainer",
                        "dept_maint"],
}
_DATES = {"ORDate": "install_date", "AZRQ": "install_date", "JGRQ": "completion_date",
          "install_time": "install_time", "install_date": "install_date",
          "CHDate": "change_date"}
# Class names the departments write instead of codes (a YAML mapping adds or overrides).
CATEGORY_NAMES = {"给水井盖": "0101", "污水井盖": "0102", "雨水井盖": "0103",
                  "水域附属设施": "0603", "给水管": "0150", "排水管": "0151",
                  "住宅": "0701", "公共建筑": "0702", "工业建筑": "0703", "其他": "0704",
                  "井盖监测": "0801", "水位监测": "0802", "空气质量": "0803",
                  "环境噪声": "0804", "智慧路灯": "0805",
                  "治安监控": "0901", "交通监控": "0902", "城管监控": "0903"}
ROLES = ("dept_admin", "dept_owner", "dept_maintainer")
EXPORTED_ATTRIBUTES = "attributes"
EXPORT_MARK = "ct_code"  # a field only the registry's own export writes


@dataclass
class Mapping:
    source_id: str | None = None
    category_field: str | None = None
    category_fixed: str | None = None
    category_map: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    condition: str | None = None
    condition_map: dict[str, str] = field(default_factory=lambda: dict(CONDITION_VALUES))
    departments: dict[str, str | None] = field(default_factory=dict)  # role → field
    dates: dict[str, str] = field(default_factory=dict)  # attribute → field
    rename: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    drop: set[str] = field(default_factory=set)

    def mapped_fields(self) -> set[str]:
        return {f for f in (self.source_id, self.category_field, self.name, self.condition,
                            *self.departments.values(), *self.dates.values()) if f}


def load(path: Path | None, fields: list[str], *, format_fields: tuple[str, ...] = ()
         ) -> Mapping:
    """The mapping for a file's fields: the YAML's choices over the defaults."""
    spec = read_spec(path) if path is not None else {}
    present = set(fields)

    def pick(key: str) -> str | None:
        return next((f for f in _CANDIDATES[key] if f in present), None)

    m = Mapping(source_id=spec.get("source_id", pick("source_id")),
                name=spec.get("name", pick("name")),
                category_map=dict(CATEGORY_NAMES))
    cat = spec.get("category", pick("category"))
    if isinstance(cat, dict):
        m.category_field = cat.get("field", pick("category"))
        m.category_map.update({str(k): str(v) for k, v in (cat.get("map") or {}).items()})
    elif isinstance(cat, str) and cat.isdigit() and cat not in present:
        m.category_fixed = cat
    else:
        m.category_field = cat
    cond = spec.get("condition", pick("condition"))
    if isinstance(cond, dict):
        m.condition = cond.get("field", pick("condition"))
        m.condition_map.update({str(k): str(v) for k, v in (cond.get("map") or {}).items()})
    else:
        m.condition = cond
    depts = spec.get("departments") or {}
    for role in ROLES:
        m.departments[role] = depts.get(role.removeprefix("dept_"), pick(role))
    m.dates = spec.get("dates") or {v: k for k, v in _DATES.items() if k in present}
    m.rename = spec.get("attributes") or {}
    m.values = {k: {str(a): b for a, b in v.items()} for k, v in (spec.get("values") or {}
                                                                   ).items()}
    # `ct_` fields are what the registry's own export adds (code, status, all source ids).
    m.drop = set(spec.get("drop") or ()) | (set(format_fields) - m.mapped_fields()) | {
        f for f in fields if f.startswith("ct_")}
    for key, value in (("source_id", m.source_id), ("category", m.category_field or
                                                    m.category_fixed)):
        if not value:
            raise ImportRefused(f"no {key} field: none of {', '.join(_CANDIDATES[key])} is "
                                f"in the file ({', '.join(fields)}); say which in a mapping")
    for f in m.mapped_fields() | set(m.rename) | set(m.values):
        if f not in present:
            raise ImportRefused(f"the mapping names field {f!r}, which the file does not have "
                                f"(fields: {', '.join(fields)})")
    return m


_TEXT = "a field name"
_TEXT_MAP = "a map of text to text"
# What each key of a mapping file holds: a field name, or {field, map}, or a map.
_SHAPES = {"source_id": (_TEXT,), "name": (_TEXT,), "category": (_TEXT, "field+map"),
           "condition": (_TEXT, "field+map"), "departments": ("roles",), "dates": (_TEXT_MAP,),
           "attributes": (_TEXT_MAP,), "values": ("maps",), "drop": ("list",)}


def read_spec(path: Path) -> dict[str, Any]:
    """A mapping file, checked for its shape. Every scalar is read as text (YAML's base
    loader): a class `0101` stays "0101" (YAML 1.1 would read 65, an octal number) and a
    value map's key `01` stays "01"."""
    def bad(why: str) -> ImportRefused:
        return ImportRefused(f"mapping {path}: {why} (see docs/loaders.md for its keys)")

    try:
        spec = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    except UnicodeDecodeError:
        raise bad("not UTF-8 text: save it as UTF-8") from None
    except (OSError, yaml.YAMLError) as e:
        raise bad(str(e)) from None
    if spec in (None, ""):
        return {}
    if not isinstance(spec, dict):
        raise bad(f"a YAML map of keys ({', '.join(_SHAPES)}) was expected, not a "
                  f"{type(spec).__name__}")
    for key, v in spec.items():
        if key not in _SHAPES:
            raise bad(f"unknown key {key!r}: the keys are {', '.join(_SHAPES)}")
        if not any(_fits(v, shape) for shape in _SHAPES[key]):
            raise bad(f"{key} must be {' or '.join(_DESCRIBE[s] for s in _SHAPES[key])}")
    condition = spec.get("condition")
    wrong = sorted(set(condition.get("map", {}).values()) - set(CONDITION_STATES)) \
        if isinstance(condition, dict) else []
    if wrong:
        raise bad(f"condition values map to {', '.join(wrong)}: the states are "
                  f"{', '.join(CONDITION_STATES)}")
    return spec


_DESCRIBE = {_TEXT: "a field name", "field+map": "{field: NAME, map: {value: value, ...}}",
             _TEXT_MAP: "a map of names to names", "roles":
             "a map of admin / owner / maintainer to field names",
             "maps": "a map of field names to value maps", "list": "a list of field names"}


def _texts(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(a, str) and isinstance(b, str) and b
                                       for a, b in v.items())


def _fits(v: Any, shape: str) -> bool:
    if shape == _TEXT:
        return isinstance(v, str) and bool(v.strip())
    if shape == "field+map":
        return isinstance(v, dict) and set(v) <= {"field", "map"} and (
            "field" not in v or _fits(v["field"], _TEXT)) and _texts(v.get("map", {}))
    if shape == _TEXT_MAP:
        return _texts(v)
    if shape == "roles":
        return _texts(v) and set(v) <= {"admin", "owner", "maintainer"}
    if shape == "maps":
        return isinstance(v, dict) and all(_texts(m) for m in v.values())
    return isinstance(v, list) and all(isinstance(f, str) for f in v)  # "list"


def value(v: Any) -> Any:
    """A JSON-able Python value from what pyogrio returns; None for empty, NaN and NaT."""
    if v is None:
        return None
    if isinstance(v, np.datetime64):
        if np.isnat(v):
            return None
        unit = np.datetime_data(v.dtype)[0]
        return str(v) if unit == "D" else str(v.astype("datetime64[s]")).replace("T", " ")
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v.isoformat()
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return v


def column(a: np.ndarray) -> list[Any]:
    """`value` over a whole column, with the common types done in bulk."""
    kind = a.dtype.kind
    if kind in "iub":
        return a.tolist()
    if kind == "f":
        values = a.tolist()
        nan = np.flatnonzero(np.isnan(a))
        for i in nan.tolist():
            values[i] = None
        return values
    if kind == "O":
        return [(v.strip() or None) if type(v) is str else value(v) for v in a.tolist()]
    return [value(v) for v in a]


@dataclass
class Records:
    """One chunk's records in registry terms; `problem` holds a refusal reason or None."""

    source_id: list[str | None]
    category: list[str | None]
    name: list[str | None]
    condition: list[str | None]
    depts: dict[str, list[str | None]]
    attributes: list[dict[str, Any] | None]  # None: not known (see `apply`)
    problem: list[str | None]
    missing: list[tuple[int, str]]  # (record in the chunk, mapped field that is empty)


def _text(values: list[Any]) -> list[str | None]:
    return [v if v is None or type(v) is str else str(v) for v in values]


#: Longer source ids are refused (a key column of the crosswalk, indexed).
SOURCE_ID_LENGTH = 200


def _source_ids(values: list[Any], problems: list[str | None]) -> list[str | None]:
    """Source ids as text: a whole number stored as a float (a GeoJSON's 12.0, a DBF's numeric
    field) as "12", the way the same id reads from an integer field next month; too long: a
    problem of the record (a NUL too, though GDAL itself ends a text at one)."""
    out = [v if v is None or type(v) is str else
           str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in values]
    texts = [v for v in out if v is not None]
    if texts and (max(map(len, texts)) > SOURCE_ID_LENGTH or "\0" in "".join(texts)):
        for i, v in enumerate(out):
            if v is not None and (len(v) > SOURCE_ID_LENGTH or "\0" in v):
                problems[i] = (f"source id longer than {SOURCE_ID_LENGTH} characters"
                               if len(v) > SOURCE_ID_LENGTH else "source id with a NUL "
                               "character")
    return out


def apply(m: Mapping, cols: dict[str, np.ndarray], n: int) -> Records:
    """Map one chunk's columns (converted a column at a time, not a cell at a time)."""
    conv = {f: column(a) for f, a in cols.items() if f not in m.drop}
    for f, vm in m.values.items():
        if f in conv:
            conv[f] = [vm.get(str(x), x) if x is not None else None for x in conv[f]]

    def col(f: str | None) -> list[Any]:
        return conv[f] if f else [None] * n

    problems: list[str | None] = [None] * n
    sid = _source_ids(col(m.source_id), problems)
    raw_cat = [m.category_fixed] * n if m.category_fixed else col(m.category_field)
    cmap = m.category_map
    cats = [None if c is None else cmap.get(c if type(c) is str else str(c), str(c))
            for c in raw_cat]
    for i in np.flatnonzero(np.equal(np.array(sid, dtype=object), None)).tolist():
        problems[i] = "no source id"
    for i in np.flatnonzero(np.equal(np.array(cats, dtype=object), None)).tolist():
        problems[i] = problems[i] or "no class value"
    conds: list[str | None] = [None] * n
    if m.condition:
        smap = m.condition_map
        conds = [None if c is None else smap.get(c if type(c) is str else str(c))
                 for c in col(m.condition)]
        for i, c in enumerate(col(m.condition)):
            if c is not None and conds[i] is None and problems[i] is None:
                problems[i] = f"condition {c!r} is not a known state (map it in the mapping)"
    mapped = m.mapped_fields()
    attr_fields = [f for f in conv if f not in mapped or f in m.dates.values()]
    names = {f: m.rename.get(f, f) for f in attr_fields}
    for attr, f in m.dates.items():
        names[f] = attr
    plain = [f for f in attr_fields if f != EXPORTED_ATTRIBUTES]
    if plain:
        keys = [names[f] for f in plain]
        attrs = [{k: v for k, v in zip(keys, vals, strict=True) if v is not None}
                 for vals in zip(*(conv[f] for f in plain), strict=True)]
    else:
        attrs = [{} for _ in range(n)]
    if EXPORTED_ATTRIBUTES in attr_fields:  # the registry's export: attributes as JSON text
        own_export = EXPORT_MARK in cols
        for i, (a, j) in enumerate(zip(attrs, conv[EXPORTED_ATTRIBUTES], strict=True)):
            if j is None and own_export:  # too long for a Shapefile: left empty by the export
                attrs[i] = None  # unknown: the registry keeps what it holds (loaders.merge)
                continue
            if isinstance(j, str) and j.startswith("{"):
                try:
                    parsed = json.loads(j)
                except ValueError:  # not the export's JSON (cut by a Shapefile's 254 bytes?)
                    parsed = None
                if isinstance(parsed, dict):
                    a.update(parsed)
                    continue
            if j is not None:
                a[EXPORTED_ATTRIBUTES] = j  # kept as it is, like any other field
    # Mapped fields, and others that are nearly always filled: an empty one is a fault to
    # report (a field that is mostly empty, like a change date, is not).
    fields = [f for f in (m.name, m.condition, *m.departments.values(), *m.dates.values()) if f]
    empty = {f: np.flatnonzero(np.equal(np.array(conv[f], dtype=object), None))
             for f in dict.fromkeys(fields + attr_fields)}
    check = [f for f in empty if f in mapped or (n and len(empty[f]) <= 0.1 * n)]
    missing = [(i, f) for f in check for i in empty[f].tolist()]
    order = {f: k for k, f in enumerate(check)}
    missing.sort(key=lambda p: (p[0], order[p[1]]))
    return Records(sid, cats, _text(col(m.name)), conds,
                   {r: _text(col(m.departments.get(r))) for r in ROLES}, attrs, problems,
                   missing)
