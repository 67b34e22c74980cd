"""What GIS staff get wrong, refused before anything is written with a message that says what
to fix (found by probing the CLI: each of these crashed, or said something misleading):
missing Shapefile parts, archives without a layer, a layer that is not there, encodings, a
wrong CRS on a few features, multipoints, dataset names, source ids."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely
from pyogrio.raw import write
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.cli.main import app
from loaders.pipeline import Options, run
from loaders.read import ImportRefused
from tests.conftest import COUNTY

N = 3
IDS = np.array([f"S{i}" for i in range(N)], dtype=object)
LAMPS = np.array(["0118"] * N, dtype=object)


def _points(path: Path, driver: str, crs: str = "EPSG:4490", x: float = 113.93,
            y: float = 22.76, **kw) -> Path:
    wkb = shapely.to_wkb(shapely.points(x + np.arange(N) * 1e-3, np.full(N, y)))
    write(path, wkb, [IDS, LAMPS], ["ObjID", "BJLX"], driver=driver, crs=crs,
          geometry_type="Point", **kw)
    return path


def _nothing_written(engine: Engine) -> None:
    with engine.connect() as conn:
        for table in ("entity", "crosswalk", "import_batch"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table


def _shapefile_without(tmp: Path, suffix: str) -> Path:
    shp = _points(tmp / "lamps.shp", "ESRI Shapefile")
    shp.with_suffix(suffix).unlink()
    return shp


def _zip(tmp: Path, content: bytes | None) -> Path:
    path = tmp / "delivery.zip"
    if content is None:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "the layer is attached")
    else:
        path.write_bytes(content)
    return path


def _two_layers(tmp: Path) -> Path:
    path = _points(tmp / "two.gpkg", "GPKG", layer="a")
    return _points(path, "GPKG", layer="b", append=True)


def _csv(tmp: Path, body: str, encoding: str = "utf-8") -> Path:
    path = tmp / "lamps.csv"
    path.write_bytes(body.encode(encoding))
    return path


def _utf8_shapefile(tmp: Path) -> Path:
    path = tmp / "lamps.shp"
    write(path, shapely.to_wkb(shapely.points([113.93], [22.76])),
          [np.array(["S0"], dtype=object), np.array(["0118"], dtype=object),
           np.array(["光明路灯"], dtype=object)], ["ObjID", "BJLX", "name"],
          driver="ESRI Shapefile", crs="EPSG:4490", geometry_type="Point", encoding="UTF-8")
    return path


CASES = {
    "shapefile without .dbf": (lambda t: _shapefile_without(t, ".dbf"), {},
                               "has no lamps.dbf beside it"),
    "shapefile without .shx": (lambda t: _shapefile_without(t, ".shx"), {},
                               "has no lamps.shx beside it"),
    "zip without a layer": (lambda t: _zip(t, None), {}, "holds no layer GDAL reads .*"
                            "it holds: readme.txt"),
    "damaged zip": (lambda t: _zip(t, b"PK not really"), {}, "is not a zip archive"),
    "layer not there": (_two_layers, {"layer": "nope"}, "has no layer 'nope': its layers "
                        "are a, b"),
    "unknown encoding": (lambda t: _csv(t, "ObjID,BJLX,lon,lat\n"), {"encoding": "XYZ"},
                         "'XYZ' is not an encoding"),
    "encoding for a GeoPackage": (lambda t: _points(t / "a.gpkg", "GPKG"),
                                  {"encoding": "GBK"}, "this format stores UTF-8"),
    "GBK text claimed UTF-8": (lambda t: _csv(t, "ObjID,BJLX,name,lon,lat\nA,0118,光明,"
                                              "113.93,22.76\n", "gbk"),
                               {"encoding": "UTF-8"},
                               "reads as GBK, not utf-8: give --encoding GBK"),
    "UTF-8 text claimed GBK": (lambda t: _csv(t, "ObjID,BJLX,name,lon,lat\nA,0118,光明路灯,"
                                              "113.93,22.76\n"),
                               {"encoding": "GBK"}, "reads as UTF-8, not gbk"),
    "GBK claimed for a UTF-8 Shapefile": (lambda t: _utf8_shapefile(t), {"encoding": "GBK"},
                                          "reads as UTF-8, not gbk"),
    "lon and lat swapped": (lambda t: _csv(t, "ObjID,BJLX,lon,lat\nA,0118,22.76,113.93\n"),
                            {}, "are the lon and lat columns swapped"),
    "coordinates that are not numbers": (lambda t: _csv(t, "ObjID,BJLX,lon,lat\nA,0118,east,"
                                                        "north\n"), {},
                                         "no geometry that can be read"),
    "metres read as lon/lat by --crs": (lambda t: _points(t / "a.gpkg", "GPKG"),
                                        {"crs": "EPSG:4547"}, "outside the district: is "
                                        "the CRS right"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_file_that_cannot_be_read_right_is_refused_saying_what_to_fix(
        reg: Engine, tmp_path: Path, case: str) -> None:
    make, options, message = CASES[case]
    path = make(tmp_path)
    with pytest.raises(ImportRefused, match=message):
        run(reg, path, Options(dataset="t", **options), county=COUNTY)
    _nothing_written(reg)


KML = """<?xml version="1.0" encoding="{enc}"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>公明路灯</name>
<ExtendedData><Data name="ObjID"><value>K1</value></Data><Data name="BJLX"><value>0118</value>
</Data></ExtendedData><Point><coordinates>113.95,22.78</coordinates></Point></Placemark>
</Document></kml>
"""


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_text_files_in_gbk_are_detected_and_read_right(reg: Engine, tmp_path: Path,
                                                       encoding: str) -> None:
    """A CSV in EPSG:4547 with its .prj beside it, a GeoJSON (a bare array of Features) and
    a KML (its XML declaration naming the encoding) saved in GBK by a Chinese tool."""
    csv_path = _csv(tmp_path, "ObjID,BJLX,name,x,y\nC1,0118,光明路灯一,493098.36,2517949.91\n",
                    encoding)
    csv_path.with_suffix(".prj").write_text(pyproj.CRS.from_epsg(4547).to_wkt())
    features = [{"type": "Feature", "properties": {"ObjID": "J1", "BJLX": "0118",
                                                   "name": "凤凰路灯"},
                 "geometry": {"type": "Point", "coordinates": [113.94, 22.77]}}]
    json_path = tmp_path / "lamps.geojson"
    json_path.write_bytes(json.dumps(features, ensure_ascii=False).encode(encoding))
    kml_path = tmp_path / "lamps.kml"
    kml_path.write_bytes(KML.format(enc=encoding.upper()).encode(encoding))
    for path in (csv_path, json_path, kml_path):
        report = run(reg, path, Options(dataset=f"t/{path.suffix}"), county=COUNTY)
        assert report.counts["added"] == 1, (path, report.as_json())
        assert any("detected as GBK" in n for n in report.notes) == (encoding == "gbk")
    with reg.connect() as conn:
        rows = conn.execute(text("SELECT name, ST_X(geom), ST_Y(geom) FROM entity "
                                 "ORDER BY name")).all()
    assert [r[0] for r in rows] == ["光明路灯一", "公明路灯", "凤凰路灯"]
    assert abs(rows[0][1] - 113.9328) < 0.001 and abs(rows[0][2] - 22.7599) < 0.001  # .prj


def test_encoding_for_a_zip_of_something_else_than_a_shapefile_is_refused(
        reg: Engine, tmp_path: Path) -> None:
    src = tmp_path / "lamps.geojson"
    src.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    path = tmp_path / "lamps.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.write(src, "lamps.geojson")
    src.unlink()
    with pytest.raises(ImportRefused, match="a text file in a zip: unzip it"):
        run(reg, path, Options(dataset="z", encoding="GBK"), county=COUNTY)


@pytest.mark.parametrize("name", ["", "   ", " 城管", "a;b", "tab\there", "x" * 101])
def test_a_dataset_name_that_cannot_be_used_is_refused(reg: Engine, tmp_path: Path,
                                                       name: str) -> None:
    with pytest.raises(ImportRefused, match="cannot be used"):
        run(reg, _points(tmp_path / "a.gpkg", "GPKG"), Options(dataset=name), county=COUNTY)
    _nothing_written(reg)


def test_records_a_registry_cannot_hold_are_refused_one_by_one(reg: Engine,
                                                               tmp_path: Path) -> None:
    """A MultiPoint of several points, a source id too long for the crosswalk key; a whole
    number stored as a float keeps the id it has as an integer."""
    geoms = shapely.to_wkb(np.array([
        shapely.multipoints([(113.95, 22.75), (113.96, 22.77)]),
        shapely.multipoints([(113.95, 22.75)]), shapely.Point(113.94, 22.76),
        shapely.Point(113.941, 22.761)], dtype=object))
    ids = np.array([1.0, 2.0, 3.5, 4.0], dtype=np.float64)
    names = np.array(["a", "b", "c", "x" * 300], dtype=object)
    path = tmp_path / "mixed.gpkg"
    write(path, geoms, [ids, np.array(["0118"] * 4, dtype=object), names],
          ["ObjID", "BJLX", "sid"], driver="GPKG", crs="EPSG:4490", geometry_type="Unknown")
    report = run(reg, path, Options(dataset="f"), county=COUNTY)
    refused = {r["source_id"]: r["reason"] for r in report.lists["refused"]}
    assert list(refused) == ["1"] and "MultiPoint of 2 points" in refused["1"]
    assert sorted(r["source_id"] for r in report.lists["added"]) == ["2", "3.5", "4"]
    long_ids = tmp_path / "long.geojson"
    long_ids.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"ObjID": sid, "BJLX": "0118"},
         "geometry": {"type": "Point", "coordinates": [113.93 + i * 1e-3, 22.76]}}
        for i, sid in enumerate(["ok", "x" * 300])]}))
    report = run(reg, long_ids, Options(dataset="g"), county=COUNTY)
    assert report.counts["added"] == 1
    assert report.lists["refused"][0]["reason"] == "source id longer than 200 characters"


def test_a_report_that_could_not_be_written_stops_the_import_before_it_starts(
        reg: Engine, tmp_path: Path, settings) -> None:  # noqa: ANN001
    path = _points(tmp_path / "a.gpkg", "GPKG")
    env = {"COLUMNS": "400", "CITYTWIN_DATABASE_URL": settings.database_url,
           "CITYTWIN_COUNTY": COUNTY}  # the test database, where _nothing_written looks
    for report in (tmp_path / "no" / "r.json", tmp_path):
        result = CliRunner().invoke(app, ["import", str(path), "--dataset", "r",
                                          "--report", str(report)], env=env)
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert "does not exist" in result.output or "is a folder" in result.output, \
            result.output
    _nothing_written(reg)
    ok = CliRunner().invoke(app, ["import", str(path), "--dataset", "r", "--report",
                                  str(tmp_path / "r.json")], env=env)
    assert ok.exit_code == 0 and json.loads((tmp_path / "r.json").read_text())["counts"][
        "added"] == N, ok.output  # the same command with a good path imports (same database)
