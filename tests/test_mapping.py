"""A field mapping (YAML) as a department's GIS staff would write one: source fields to the
registry's, value maps, renames, dropped fields — applied to a real import; and a mapping of
the wrong shape refused with what to fix instead of a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from loaders.pipeline import Options, run
from loaders.read import ImportRefused
from tests.conftest import COUNTY

MAPPING = """\
source_id: 编号
category: {field: 类型, map: {给水井盖: 0101, 路灯: "0118"}}   # 0101 unquoted stays 0101
name: 名称
condition: {field: 状况, map: {好: intact, 坏: damaged}}
departments: {admin: 主管单位, maintainer: 养护单位}
dates: {install_date: 安装日期}
attributes: {材质: material}
values: {材质: {01: 铸铁, 02: 复合材料}}                     # 01 stays "01"
drop: [内部编号]
"""


def _file(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": r,
         "geometry": {"type": "Point", "coordinates": [113.93 + i * 1e-3, 22.76]}}
        for i, r in enumerate(rows)]}, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_mapping_file_maps_fields_values_and_names(reg: Engine, tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    rows = [{"编号": "W1", "类型": "给水井盖", "名称": "一号井", "状况": "好", "主管单位": "水务局",
             "养护单位": "水务集团", "安装日期": "2020-05-01", "材质": "01", "内部编号": "X9",
             "备注": "东侧"},
            {"编号": "L1", "类型": "路灯", "名称": "一号灯", "状况": "坏", "主管单位": "城管局",
             "养护单位": "路灯所", "安装日期": "2021-06-02", "材质": "02", "内部编号": "X8",
             "备注": None}]
    report = run(reg, _file(tmp_path / "mixed.geojson", rows),
                 Options(dataset="m", mapping=mapping), county=COUNTY)
    assert report.counts["added"] == 2 and report.counts["refused"] == 0
    with reg.connect() as conn:
        got = {r.source_id: r for r in conn.execute(text(
            "SELECT c.source_id, e.category, e.name, e.condition, e.dept_admin, e.dept_owner, "
            "e.dept_maintainer, e.attributes FROM crosswalk c JOIN entity e USING (code)"))}
    w, lamp = got["W1"], got["L1"]
    assert (w.category, w.name, w.condition) == ("0101", "一号井", "intact")
    assert (lamp.category, lamp.condition) == ("0118", "damaged")
    assert (w.dept_admin, w.dept_owner, w.dept_maintainer) == ("水务局", None, "水务集团")
    assert w.attributes == {"material": "铸铁", "install_date": "2020-05-01", "备注": "东侧"}
    assert lamp.attributes == {"material": "复合材料", "install_date": "2021-06-02"}


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("- 编号\n- 类型\n", "a YAML map of keys"),
    ("catgory: 类型\n", "unknown key 'catgory'"),
    ("category: [类型]\n", "category must be a field name or {field: NAME"),
    ("departments: [主管单位]\n", "departments must be a map of admin / owner / maintainer"),
    ("departments: {boss: 主管单位}\n", "departments must be"),
    ("attributes: [材质]\n", "attributes must be a map of names to names"),
    ("values: {材质: [铸铁]}\n", "values must be a map of field names to value maps"),
    ("condition: {field: 状况, map: {好: good}}\n", "condition values map to good: the "
     "states are intact, damaged, lost, occupied"),
    ("source_id: [\n", "mapping .*mapping.yaml"),  # not YAML at all
    ("category: 9999\n", "the mapping's class 9999 is not in the dictionary"),
    ("source_id: 没有这个字段\n", "names field '没有这个字段', which the file does not have"),
    ("values: {没有: {a: b}}\n", "names field '没有'"),
])
def test_a_mapping_of_the_wrong_shape_is_refused(reg: Engine, tmp_path: Path, yaml_text: str,
                                                 message: str) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(yaml_text, encoding="utf-8")
    path = _file(tmp_path / "a.geojson", [{"编号": "A", "类型": "路灯", "ObjID": "A",
                                           "BJLX": "0118"}])
    with pytest.raises(ImportRefused, match=message):
        run(reg, path, Options(dataset="m", mapping=mapping), county=COUNTY)
    with reg.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM entity")).scalar() == 0


def test_a_mapping_saved_in_gbk_is_refused_saying_so(reg: Engine, tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_bytes("name: 名称\n".encode("gbk"))
    with pytest.raises(ImportRefused, match="not UTF-8 text: save it as UTF-8"):
        run(reg, _file(tmp_path / "a.geojson", [{"ObjID": "A", "BJLX": "0118"}]),
            Options(dataset="m", mapping=mapping), county=COUNTY)
