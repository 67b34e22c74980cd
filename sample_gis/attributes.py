"""What departments record about each entity, like real 部件 data (CJ/T 214): name, condition
(ObjState), the 主管 / 权属 / 养护 departments, install date, material, and for devices the
vendor and serial number. Department names are plausible, not a statement about who really
owns what in 光明."""

from __future__ import annotations

import numpy as np
import shapely

from registry.dictionary import load_seed
from sample_gis import coords
from sample_gis.areas import build as build_areas
from sample_gis.entities import Population, filled

AS_OF = np.datetime64("2024-05-31")  # the first edition's date
CONDITIONS = ["完好", "破损", "丢失", "占用"]
_WATER = "光明区水务局"
_CG = "光明区城市管理和综合执法局"
_OPS = "深圳市光明水务运营有限公司"
_LIGHT = "光明区路灯管理所"
_TRAFFIC = "光明区交通运输局"
_POLICE = "深圳市公安局光明分局"
_DATA = "光明区政务服务和数据管理局"
_STREET = "{street}办事处"  # the entity's street office
_POLICE_TRAFFIC = "光明交警大队"
_POWER = ("光明区发展和改革局", "深圳供电局光明供电分局", "深圳供电局光明供电分局")
_TELECOM = ["中国电信光明分公司", "中国移动光明分公司", "中国联通光明分公司"]
_ADS = ["光明广告传媒有限公司", "鹏城户外广告有限公司", "新湖文化传播有限公司"]
_HOUSING = "光明区住房和建设局"
_COOP = "{street}股份合作公司"
_GREEN = (_CG, _CG, "光明区园林绿化管理所")
_IOT_OPS = "中移物联网光明运维中心"
_ENV = (_DATA, "光明区生态环境局", "华为技术光明运维中心")
#: (主管, 权属, 养护); a list means one of them at random; "vendor": the device's vendor.
DEPARTMENTS: dict[str, tuple] = {
    "0101": (_WATER, _OPS, _OPS), "0102": (_WATER, _WATER, _OPS),
    "0103": (_WATER, _WATER, _OPS), "0104": (_WATER, _WATER, _OPS), "0105": _POWER,
    "0106": (_CG, _CG, _LIGHT), "0107": ("光明区工业和信息化局", _TELECOM, _TELECOM),
    "0111": (_HOUSING, "深圳市燃气集团光明分公司", "深圳市燃气集团光明分公司"),
    "0113": ("光明区消防救援大队", _WATER, _OPS), "0118": (_CG, _CG, _LIGHT), "0121": _POWER,
    "0203": (_TRAFFIC, _TRAFFIC, "深圳巴士集团光明分公司"),
    "0207": (_TRAFFIC, _TRAFFIC, _POLICE_TRAFFIC),
    "0208": (_POLICE_TRAFFIC, _TRAFFIC, _POLICE_TRAFFIC),
    "0301": (_CG, _STREET, "光明区环境卫生管理所"), "0305": (_CG, _STREET, _STREET),
    "0307": (_CG, _ADS, _ADS), "0308": (_CG, _STREET, _STREET), "0402": _GREEN,
    "0405": _GREEN, "0603": (_WATER, _WATER, _OPS),
    "0150": (_WATER, _OPS, _OPS), "0151": (_WATER, _WATER, _OPS),
    "0701": (_HOUSING, [_COOP, "个人业主", "开发商"], ["物业服务企业", _COOP]),
    "0702": (_HOUSING, "光明区机关事务管理局", "光明区机关事务管理局"),
    "0703": (_HOUSING, [_COOP, "工业园区运营公司"], "工业园区运营公司"),
    "0704": (_HOUSING, _COOP, _COOP),
    "0801": (_DATA, _WATER, _IOT_OPS), "0802": (_DATA, _WATER, _IOT_OPS),
    "0803": _ENV, "0804": _ENV, "0805": (_DATA, _CG, _LIGHT),
    "0901": (_POLICE, _POLICE, "vendor"), "0902": (_POLICE_TRAFFIC, _POLICE, "vendor"),
    "0903": (_CG, _CG, "vendor"),
}
MATERIALS: dict[str, list[str]] = {
    "01": ["球墨铸铁", "复合材料", "铸铁", "钢筋混凝土"], "0104": ["铸铁", "复合材料", "不锈钢"],
    "0113": ["铸铁"], "0118": ["镀锌钢", "铝合金"], "0121": ["金属箱体"],
    "0203": ["不锈钢", "钢结构"], "0207": ["铝合金"], "0208": ["钢"], "0301": ["砖混", "装配式"],
    "0305": ["不锈钢", "塑料", "玻璃钢"], "0307": ["钢结构", "铝合金"], "0308": ["防腐木", "石材",
                                                                            "不锈钢"],
    "0402": ["榕树", "香樟", "大叶紫薇", "黄花风铃木", "小叶榄仁", "美丽异木棉", "秋枫"],
    "0603": ["钢筋混凝土", "浆砌石"], "0150": ["球墨铸铁", "PE", "钢管"], "0151": ["HDPE双壁波纹管",
                                                                              "钢筋混凝土"],
    "07": ["钢筋混凝土", "砖混", "钢结构"],
}
VENDORS = {"08": [("华为", "HW"), ("中移物联", "CM"), ("拓扑感知", "TP"), ("万讯自控", "WX")],
           "09": [("海康威视", "HK"), ("大华", "DH"), ("宇视", "UV"), ("华为", "HW")]}
#: Installed from ... (years): the estate grew from the 1990s; IoT since 2019.
SINCE = {"07": 1990, "08": 2019, "09": 2012}
ESTATES = list("碧桂翠华锦龙凤玉金福康泰和瑞兴明光新")
ESTATE_SUFFIX = ["花园", "苑", "新村", "家园", "府", "小区"]
PUBLIC = ["社区服务中心", "学校教学楼", "医院门诊楼", "文体中心", "派出所", "图书馆"]


def streets_of(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The street name each point (metres) lies in ('' outside)."""
    out = filled("", len(x))
    for a in build_areas():
        if a.level == "street":
            poly = coords.geoms_to_metres(np.array([a.geometry]))[0]
            out[shapely.contains_xy(poly, x, y) & (out == "")] = a.name
    return out


def assign(pop: Population, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Attribute columns, one value per entity (None where a class has no such attribute)."""
    n = len(pop)
    names = {c.code: c.name_zh for c in load_seed().categories.values()}
    street = streets_of(pop.x, pop.y)
    cat = pop.category
    out: dict[str, np.ndarray] = {
        "street": street,
        "name": np.empty(n, dtype=object),
        "condition": np.empty(n, dtype=object),
        "dept_admin": np.empty(n, dtype=object),
        "dept_owner": np.empty(n, dtype=object),
        "dept_maintainer": np.empty(n, dtype=object),
        "install_date": np.empty(n, dtype="datetime64[D]"),
        "material": np.full(n, None, dtype=object),
        "vendor": np.full(n, None, dtype=object),
        "serial": np.full(n, None, dtype=object),
        "floors": np.full(n, None, dtype=object),
    }
    serial_seq = rng.permutation(n)  # unique serial numbers across all devices
    for code in sorted(np.unique(cat)):
        idx = np.flatnonzero(cat == code)
        k, mj = len(idx), code[:2]
        p = [0.92, 0.05, 0.01, 0.02] if mj not in ("07", "08", "09") else [0.95, 0.04, 0.01, 0]
        out["condition"][idx] = np.array(CONDITIONS, dtype=object)[rng.choice(4, size=k, p=p)]
        for role, spec in zip(("dept_admin", "dept_owner", "dept_maintainer"),
                              DEPARTMENTS[code], strict=True):
            vals = (np.array(spec, dtype=object)[rng.integers(len(spec), size=k)]
                    if isinstance(spec, list) else filled(spec, k))
            if "{street}" in str(spec):
                vals = _per_street(vals, street[idx])
            out[role][idx] = vals
        first = np.datetime64(f"{SINCE.get(mj, 2008)}-01-01")
        days = int((AS_OF - np.timedelta64(30, "D") - first).astype(int))
        out["install_date"][idx] = first + rng.integers(0, days, size=k).astype("timedelta64[D]")
        mats = MATERIALS.get(code) or MATERIALS.get(mj)
        if mats:
            out["material"][idx] = np.array(mats, dtype=object)[rng.integers(len(mats), size=k)]
        out["name"][idx] = _names(code, names[code], idx, pop, rng)
        if mj in VENDORS:
            v = rng.integers(len(VENDORS[mj]), size=k)
            vend = np.array([name for name, _ in VENDORS[mj]], dtype=object)
            prefix = np.array([pre for _, pre in VENDORS[mj]], dtype=object)
            out["vendor"][idx] = vend[v]
            years = out["install_date"][idx].astype("datetime64[Y]").astype(int) + 1970
            out["serial"][idx] = [f"{pre}{yy % 100:02d}{code}{s:09d}" for pre, yy, s in
                                  zip(prefix[v], years, serial_seq[idx], strict=True)]
            if mj == "09":  # cameras are serviced by their vendor
                out["dept_maintainer"][idx] = [f"{name}光明运维中心" for name in vend[v]]
        if mj == "07":
            factory = pop.extra["industrial"][idx].astype(bool)  # object column, None = no
            floors = np.where(factory, rng.integers(1, 6, size=k), rng.integers(2, 34, size=k))
            out["floors"][idx] = floors.astype(object)
    return out


def _per_street(vals: np.ndarray, street: np.ndarray) -> np.ndarray:
    """Fill the {street} placeholder with the entity's street (光明街道 → 光明街道办事处)."""
    cache: dict[tuple[str, str], str] = {}  # one string per (department, street)
    return np.array([cache.setdefault((v, s), v.format(street=s or "光明街道"))
                     for v, s in zip(vals, street, strict=True)], dtype=object)


def _names(code: str, zh: str, idx: np.ndarray, pop: Population,
           rng: np.random.Generator) -> np.ndarray:
    """部件 are named by their class (ObjName); devices, buildings and parks by where they are."""
    k = len(idx)
    place = pop.place[idx]
    seq = np.arange(1, k + 1)
    if code[:2] in ("08", "09"):
        corner = pop.extra.get("corner", np.full(len(pop), None, dtype=object))[idx]
        short = zh.replace("监控摄像机", "监控").replace("监测传感器", "监测")
        return np.array([f"{p}{c or ''}{short}{s:03d}" for p, c, s in
                         zip(place, corner, rng.permutation(seq), strict=True)], dtype=object)
    if code == "0405":
        return place.copy()
    if code == "0701":
        est = rng.integers(len(ESTATES), size=(k, 2))
        suf = rng.integers(len(ESTATE_SUFFIX), size=k)
        return np.array([f"{ESTATES[a]}{ESTATES[b]}{ESTATE_SUFFIX[c]}{n}栋" for (a, b), c, n in
                         zip(est, suf, rng.integers(1, 30, size=k), strict=True)], dtype=object)
    if code == "0703":
        est = rng.integers(len(ESTATES), size=k)
        return np.array([f"{ESTATES[a]}科技工业园{n}号厂房" for a, n in
                         zip(est, rng.integers(1, 20, size=k), strict=True)], dtype=object)
    if code == "0702":
        return np.array(PUBLIC, dtype=object)[rng.integers(len(PUBLIC), size=k)]
    if code == "0704":
        return np.array([f"配套用房{n}" for n in rng.integers(1, 50, size=k)], dtype=object)
    return filled(zh, k)
