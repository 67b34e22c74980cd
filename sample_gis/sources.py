"""How each department delivers its data, and the record tables it delivers.

A `Source` says what a department's files look like (format, declared CRS, encoding, field
names and what they mean, how a record names its class); `tables()` turns the population into
one `Table` per file and edition, rows in the department's own field names and source ids."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from sample_gis import coords
from sample_gis.attributes import AS_OF
from sample_gis.editions import Changes
from sample_gis.entities import Population

EDITIONS = {"v1": AS_OF, "v2": np.datetime64("2024-06-30")}
CONDITION_KEYS = {"完好": "intact", "破损": "damaged", "丢失": "lost", "占用": "occupied"}
DEVICE_STATUS = {"完好": "正常", "破损": "故障", "丢失": "离线", "占用": "正常"}


@dataclass(frozen=True)
class FileSpec:
    source: str
    path: str  # inside the edition folder
    layer: str | None
    kind: str  # point, line, polygon
    categories: tuple[str, ...]
    missing: str | None = None  # the sidecar the department forgot: ".cpg" or ".prj"

    @property
    def key(self) -> str:
        return self.path + (f":{self.layer}" if self.layer else "")


@dataclass(frozen=True)
class Source:
    key: str
    dataset: str  # the crosswalk dataset name
    department: str
    driver: str  # GDAL driver name, or CSV
    crs: int  # what the department says its coordinates are in (EPSG; GCJ-02 has none)
    crs_note: str
    encoding: str
    id_field: str
    category_field: str
    category_map: dict[str, str]  # the value a file carries → category code
    condition_field: str
    condition_map: dict[str, str]  # value → registry condition key
    fields: dict[str, str]  # field → meaning, in file order
    files: tuple[FileSpec, ...]
    types: dict[str, str] = field(default_factory=dict)  # field → int / date (else text)


_CG_FIELDS = {
    "ObjID": "source id (城管 部件 identifier)", "ObjName": "name (部件名称)",
    "BJLX": "category code (小类)", "DeptName1": "dept_admin (主管部门)",
    "DeptName2": "dept_owner (权属部门)", "DeptName3": "dept_maintainer (养护部门)",
    "ObjState": "condition (部件状态)", "ORDate": "install date (初始日期)",
    "CHDate": "change date (变更日期)", "Material": "material, or species for trees (材质)",
    "BGID": "unit grid code (所在单元网格)", "Address": "street or place (位置描述)",
}
_SW_POINT = {"SBBM": "source id (设备编码)", "SBMC": "name (设备名称)", "SBLX": "type (设备类型)",
             "GLDW": "dept_admin (管理单位)", "QSDW": "dept_owner (权属单位)",
             "YHDW": "dept_maintainer (养护单位)", "ZT": "condition (状态)",
             "AZRQ": "install date (安装日期)", "CZ": "material (材质)", "SZDL": "road (所在道路)"}
_SW_LINE = {"SBBM": "source id (管段编码)", "SBMC": "name (管段名称)", "SBLX": "type (管线类型)",
            "GJ": "diameter mm (管径)", "GLDW": "dept_admin (管理单位)",
            "QSDW": "dept_owner (权属单位)", "YHDW": "dept_maintainer (养护单位)",
            "ZT": "condition (状态)", "AZRQ": "build date (建设日期)", "CZ": "material (材质)",
            "SZDL": "road (所在道路)"}
_ZJ = {"FWBM": "source id (房屋编码)", "JZMC": "name (建筑名称)", "JZLX": "type (建筑类型)",
       "JZCS": "floors (层数)", "JGLX": "structure (结构类型)",
       "JGRQ": "completion date (竣工日期)",
       "GLDW": "dept_admin (主管单位)", "QSDW": "dept_owner (权属单位)",
       "WYDW": "dept_maintainer (物业/管理单位)", "FWZT": "condition (房屋状态)",
       "SZJD": "street (所在街道)"}
_IOT = {"device_sn": "source id and serial", "device_name": "name", "device_type": "type",
        "lng": "longitude, GCJ-02", "lat": "latitude, GCJ-02", "vendor": "vendor",
        "install_time": "install time", "status": "condition (正常/故障/离线)",
        "dept": "dept_admin", "owner": "dept_owner", "maintainer": "dept_maintainer",
        "address": "place"}
_CAM = {"camera_id": "source id (GB/T 28181 device code)", "device_sn": "serial",
        "name": "name", "camera_type": "type", "WKT": "geometry, WKT in EPSG:4326",
        "vendor": "vendor", "install_date": "install date", "status": "condition",
        "dept": "dept_admin", "owner": "dept_owner", "maintainer": "dept_maintainer",
        "address": "place"}
_STATE = dict(CONDITION_KEYS)
_STATUS = {"正常": "intact", "故障": "damaged", "离线": "lost"}

SOURCES: dict[str, Source] = {s.key: s for s in [
    Source("chengguan", "城管", "光明区城市管理和综合执法局", "ESRI Shapefile", 4547,
           "CGCS2000 3-degree Gauss-Krüger CM 114E", "GBK", "ObjID", "BJLX",
           {}, "ObjState", _STATE, _CG_FIELDS, (
               FileSpec("chengguan", "chengguan/manhole_covers.shp", None, "point",
                        ("0101", "0102", "0103", "0104", "0105", "0106", "0107", "0111")),
               FileSpec("chengguan", "chengguan/street_lamps.shp", None, "point",
                        ("0118", "0121"), missing=".prj"),
               FileSpec("chengguan", "chengguan/facilities.shp", None, "point",
                        ("0113", "0203", "0207", "0208", "0301", "0305", "0307", "0308")),
               FileSpec("chengguan", "chengguan/street_trees.shp", None, "point", ("0402",),
                        missing=".cpg"),
               FileSpec("chengguan", "chengguan/green_spaces.shp", None, "polygon", ("0405",)),
           ), {"ORDate": "date", "CHDate": "date"}),
    Source("shuiwu", "水务", "光明区水务局", "GPKG", 4490, "CGCS2000 geographic", "UTF-8",
           "SBBM", "SBLX", {"给水井盖": "0101", "污水井盖": "0102", "雨水井盖": "0103",
                            "水域附属设施": "0603", "给水管": "0150", "排水管": "0151"},
           "ZT", _STATE, _SW_POINT, (
               FileSpec("shuiwu", "shuiwu/water.gpkg", "ps_point", "point",
                        ("0101", "0102", "0103", "0603")),
               FileSpec("shuiwu", "shuiwu/water.gpkg", "ps_line", "line", ("0150", "0151")),
           ), {"AZRQ": "date", "GJ": "int"}),
    Source("zhujian", "住建", "光明区住房和建设局", "GeoJSON", 4326, "WGS84 geographic",
           "UTF-8", "FWBM", "JZLX", {"住宅": "0701", "公共建筑": "0702", "工业建筑": "0703",
                                     "其他": "0704"},
           "FWZT", _STATE, _ZJ, (
               FileSpec("zhujian", "zhujian/buildings.geojson", None, "polygon",
                        ("0701", "0702", "0703", "0704")),
           ), {"JZCS": "int", "JGRQ": "date"}),
    Source("iot", "物联网平台", "光明区政务服务和数据管理局", "CSV", 0,
           "GCJ-02 lon/lat (web-map offset; PROJ has no code for it)", "UTF-8", "device_sn",
           "device_type", {"井盖监测": "0801", "水位监测": "0802", "空气质量": "0803",
                           "环境噪声": "0804", "智慧路灯": "0805"},
           "status", _STATUS, _IOT, (
               FileSpec("iot", "iot/devices.csv", None, "point",
                        ("0801", "0802", "0803", "0804", "0805")),
           )),
    Source("cameras", "视频监控平台", "深圳市公安局光明分局", "CSV", 4326,
           "WGS84 geographic, WKT", "UTF-8", "camera_id", "camera_type",
           {"治安监控": "0901", "交通监控": "0902", "城管监控": "0903"},
           "status", _STATUS, _CAM, (
               FileSpec("cameras", "cameras/cameras.csv", None, "point",
                        ("0901", "0902", "0903")),
           )),
]}
def fields_of(spec: FileSpec) -> dict[str, str]:
    return _SW_LINE if spec.layer == "ps_line" else SOURCES[spec.source].fields


def file_of(category: str) -> FileSpec:
    for s in SOURCES.values():
        for f in s.files:
            if category in f.categories:
                return f
    raise KeyError(category)


@dataclass
class Table:
    """One file's (or layer's) records, in the department's field names."""

    spec: FileSpec
    entity: np.ndarray  # population index; -1 for a record of no district entity
    x: np.ndarray  # delivered position, metres (points) or representative point
    y: np.ndarray
    geom: np.ndarray | None  # delivered geometry, metres (lines, polygons)
    cols: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.x)

    @property
    def source(self) -> Source:
        return SOURCES[self.spec.source]

    @property
    def ids(self) -> np.ndarray:
        return self.cols[self.source.id_field]

    def take(self, idx: np.ndarray) -> Table:
        return replace(self, entity=self.entity[idx], x=self.x[idx], y=self.y[idx],
                       geom=None if self.geom is None else self.geom[idx],
                       cols={k: v[idx] for k, v in self.cols.items()})


@dataclass
class Delivery:
    """Who delivers which entity under which id; 城管's copies of 水务 manholes stand 1-3 m
    off (two surveys of one cover)."""

    ids: dict[str, np.ndarray]  # source key → id per entity (None: not delivered)
    twin: np.ndarray  # entity indexes 城管 also delivers
    twin_dx: np.ndarray
    twin_dy: np.ndarray
    last: dict[tuple[str, str], int] = field(default_factory=dict)  # last number used

    def new_id(self, source: str, code: str, serial: str | None = None) -> str:
        """The next id in the department's scheme (numbered per class where the id names
        the class, else across the department)."""
        key = (source, code if source in ("chengguan", "shuiwu", "cameras") else "")
        self.last[key] = self.last.get(key, 0) + 1
        return source_id(source, code, self.last[key], serial)


GridOf = Callable[[np.ndarray, np.ndarray], np.ndarray]


def tables(pop: Population, attrs: dict[str, np.ndarray], dv: Delivery, changes: Changes,
           edition: str, grid_of: GridOf) -> Iterator[Table]:
    """Every file's records for an edition (v1 or v2), in population order; one at a time,
    so only one file's table is in memory."""
    present = changes.in_v1 if edition == "v1" else changes.in_v2
    x, y = (pop.x, pop.y) if edition == "v1" else (changes.x2, changes.y2)
    condition = attrs["condition"] if edition == "v1" else changes.condition2
    for src in SOURCES.values():
        for spec in src.files:
            sel = np.flatnonzero(np.isin(pop.category, spec.categories) & present
                                 & np.not_equal(dv.ids[src.key], None))
            tx, ty = x[sel].copy(), y[sel].copy()
            if src.key == "chengguan":
                t = np.isin(dv.twin, sel)
                pos = np.searchsorted(sel, dv.twin[t])
                tx[pos] += dv.twin_dx[t]
                ty[pos] += dv.twin_dy[t]
            geom = pop.geom[sel] if spec.kind != "point" else None
            cols = _columns(spec, pop, attrs, condition, dv.ids[src.key], sel, changes, edition,
                            tx, ty, grid_of)
            yield Table(spec, sel, tx, ty, geom, cols)


def _columns(spec: FileSpec, pop: Population, a: dict[str, np.ndarray], condition: np.ndarray,
             ids: np.ndarray, i: np.ndarray, changes: Changes, edition: str, x: np.ndarray,
             y: np.ndarray, grid_of: GridOf) -> dict[str, np.ndarray]:
    src = SOURCES[spec.source]
    code_name = {v: k for k, v in src.category_map.items()}
    codes, inverse = np.unique(pop.category[i], return_inverse=True)
    kind = np.array([code_name.get(str(c), str(c)) for c in codes], dtype=object)[inverse]
    if spec.source == "chengguan":
        chdate = np.where(changes.changed_on[i] <= EDITIONS[edition], changes.changed_on[i],
                          np.datetime64("NaT"))
        return {"ObjID": ids[i], "ObjName": a["name"][i], "BJLX": kind,
                "DeptName1": a["dept_admin"][i], "DeptName2": a["dept_owner"][i],
                "DeptName3": a["dept_maintainer"][i], "ObjState": condition[i],
                "ORDate": a["install_date"][i], "CHDate": chdate.astype("datetime64[D]"),
                "Material": a["material"][i], "BGID": grid_of(x, y), "Address": pop.place[i]}
    if spec.source == "shuiwu":
        cols = {"SBBM": ids[i], "SBMC": a["name"][i], "SBLX": kind}
        if spec.kind == "line":
            cols["GJ"] = pop.extra["diameter"][i]
            cols["SBMC"] = np.array([f"{p}{k}DN{d}" for p, k, d in
                                     zip(pop.place[i], kind, cols["GJ"], strict=True)],
                                    dtype=object)
        return cols | {"GLDW": a["dept_admin"][i], "QSDW": a["dept_owner"][i],
                       "YHDW": a["dept_maintainer"][i], "ZT": condition[i],
                       "AZRQ": a["install_date"][i], "CZ": a["material"][i],
                       "SZDL": pop.place[i]}
    if spec.source == "zhujian":
        return {"FWBM": ids[i], "JZMC": a["name"][i], "JZLX": kind, "JZCS": a["floors"][i],
                "JGLX": a["material"][i], "JGRQ": a["install_date"][i],
                "GLDW": a["dept_admin"][i], "QSDW": a["dept_owner"][i],
                "WYDW": a["dept_maintainer"][i], "FWZT": condition[i], "SZJD": a["street"][i]}
    status = np.array([DEVICE_STATUS[c] for c in condition[i]], dtype=object)
    lon, lat = coords.to_lonlat(x, y)
    common = {"vendor": a["vendor"][i]}
    tail = {"status": status, "dept": a["dept_admin"][i], "owner": a["dept_owner"][i],
            "maintainer": a["dept_maintainer"][i], "address": pop.place[i]}
    if spec.source == "iot":
        glon, glat = coords.to_gcj02(lon, lat)
        when = a["install_date"][i].astype("datetime64[s]") + (
            (i * 7919) % 36000 + 8 * 3600).astype("timedelta64[s]")  # working hours
        return {"device_sn": ids[i], "device_name": a["name"][i], "device_type": kind,
                "lng": np.round(glon, 6), "lat": np.round(glat, 6), **common,
                "install_time": when, **tail}
    wkt = np.array([f"POINT ({a:.8f} {b:.8f})" for a, b in zip(lon, lat, strict=True)],
                   dtype=object)
    return {"camera_id": ids[i], "device_sn": a["serial"][i], "name": a["name"][i],
            "camera_type": kind, "WKT": wkt, **common, "install_date": a["install_date"][i],
            **tail}


def grid_finder(grids: list[BaseGeometry], grid_codes: list[str]) -> GridOf:
    """A function (x, y metres) → unit grid code ('' outside every grid); grids and codes in
    code order."""
    tree = shapely.STRtree(grids)
    codes = np.array([*grid_codes, ""], dtype=object)

    def find(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        lon, lat = coords.to_lonlat(x, y)
        pi, gi = tree.query(shapely.points(lon, lat), predicate="intersects")
        out = np.full(len(x), len(grid_codes))
        # A point on a shared edge takes the lowest code, as PostGIS's area_code() does
        # (grids are listed in code order).
        np.minimum.at(out, pi, gi)
        return codes[out]
    return find


TWIN_CATEGORIES = ("0101", "0102", "0103")
TWIN_SHARE = 0.3  # of 水务's manholes that 城管's census also surveyed
TWIN_GAP = (1.0, 3.0)  # metres between the two surveys of one cover


def choose_twins(pop: Population, district: BaseGeometry,
                 rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """水务 manholes that 城管 also delivers, and the offset of 城管's copy (chosen away from
    the boundary, so both copies are in the district)."""
    inner = district.buffer(-TWIN_GAP[1] - 1)
    idx = np.flatnonzero(np.isin(pop.category, TWIN_CATEGORIES)
                         & shapely.contains_xy(inner, pop.x, pop.y))
    twin = np.sort(rng.choice(idx, size=int(len(idx) * TWIN_SHARE), replace=False))
    d = rng.uniform(*TWIN_GAP, len(twin))
    a = rng.uniform(0, 2 * np.pi, len(twin))
    return twin, d * np.cos(a), d * np.sin(a)


_CAMERA_INDUSTRY = {"0901": "00", "0902": "04", "0903": "08"}  # GB/T 28181 行业编码


def source_id(source: str, code: str, seq: int, serial: str | None = None) -> str:
    """A record's id in the department's own scheme."""
    if source == "chengguan":
        return f"CG{code}{seq:07d}"
    if source == "shuiwu":
        return f"SW{code}{seq:07d}"
    if source == "zhujian":
        return f"FW{seq:09d}"
    if source == "iot":  # the platform keys devices by serial number
        return serial if serial else f"GM{code}{900000000 + seq:09d}"
    return f"44031100{_CAMERA_INDUSTRY[code]}1320{seq:06d}"


def deliver(pop: Population, attrs: dict[str, np.ndarray], changes: Changes,
            twins: tuple[np.ndarray, ...], rng: np.random.Generator) -> Delivery:
    """Source ids: v1 records numbered first (in random order), the next month's new records
    after them, as registers number them."""
    twin = twins[0]
    dv = Delivery({k: np.full(len(pop), None, dtype=object) for k in SOURCES}, twin,
                  twins[1], twins[2])
    for src in SOURCES.values():
        for new in (False, True):
            for spec in src.files:
                for code in spec.categories:
                    if src.key == "chengguan" and code in TWIN_CATEGORIES:
                        idx = twin[pop.category[twin] == code]
                    else:
                        idx = np.flatnonzero(pop.category == code)
                    idx = rng.permutation(idx[changes.in_v1[idx] != new])
                    dv.ids[src.key][idx] = [dv.new_id(src.key, code, s)
                                            for s in attrs["serial"][idx]]
    return dv
