"""Every format the issue names, written by GDAL (pyogrio) the way a department's tool would
write it, imports with its text and positions intact — FileGDB (a folder, also zipped), KML,
GeoJSONSeq, FlatGeobuf, CSV with a WKT column or lon/lat columns named in Chinese — and its
unchanged re-import changes nothing; a file with no geometry or no features is refused with
what to fix."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyogrio.raw import write
from sqlalchemy import Engine, text

from loaders.pipeline import Options, run
from loaders.read import ImportRefused
from tests.conftest import COUNTY

N = 7
X = (113.93 + np.arange(N) * 1e-3).tolist()
Y = (22.76 + np.arange(N) * 5e-4).tolist()
IDS = [f"灯{i}" for i in range(N)]
NAMES = [f"光明路灯 {i} 号" for i in range(N)]


def _gdal(path: Path, driver: str) -> Path:
    write(path, shapely.to_wkb(shapely.points(np.array(X), np.array(Y))),
          [np.array(IDS, dtype=object), np.array(["0118"] * N, dtype=object),
           np.array(NAMES, dtype=object)], ["ObjID", "BJLX", "name"], driver=driver,
          crs="EPSG:4490", geometry_type="Point", layer="lamps")
    return path


def _csv(path: Path, columns: list[str], cells) -> Path:  # noqa: ANN001 - row → its cells
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ObjID", "BJLX", "name", *columns])
        for i in range(N):
            w.writerow([IDS[i], "0118", NAMES[i], *cells(i)])
    return path


def _make(tmp: Path, kind: str) -> Path:
    if kind == "filegdb":
        return _gdal(tmp / "lamps.gdb", "OpenFileGDB")
    if kind == "filegdb-zipped":
        gdb = _gdal(tmp / "lamps.gdb", "OpenFileGDB")
        return Path(shutil.make_archive(str(tmp / "lamps.gdb"), "zip", tmp, gdb.name))
    if kind == "csv-wkt":
        return _csv(tmp / "lamps.csv", ["WKT"], lambda i: [f"POINT ({X[i]!r} {Y[i]!r})"])
    if kind == "csv-经纬度":
        return _csv(tmp / "lamps.csv", ["经度", "纬度"], lambda i: [repr(X[i]), repr(Y[i])])
    driver, ext = {"kml": ("KML", "kml"), "geojsonseq": ("GeoJSONSeq", "geojsonl"),
                   "flatgeobuf": ("FlatGeobuf", "fgb")}[kind]
    return _gdal(tmp / f"lamps.{ext}", driver)


@pytest.mark.parametrize("kind", ["filegdb", "filegdb-zipped", "kml", "geojsonseq",
                                  "flatgeobuf", "csv-wkt", "csv-经纬度"])
def test_each_format_imports_whole_and_again_unchanged(reg: Engine, tmp_path: Path,
                                                       kind: str) -> None:
    path = _make(tmp_path, kind)
    report = run(reg, path, Options(dataset=f"路灯/{kind}"), county=COUNTY)
    assert report.counts["added"] == N and report.counts["refused"] == 0
    with reg.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.source_id, e.name, e.category, e.attributes, ST_X(e.geom) AS x, "
            "ST_Y(e.geom) AS y "
            "FROM crosswalk c JOIN entity e USING (code)")).all()
    got = {r.source_id: r for r in rows}
    assert sorted(got) == sorted(IDS)
    for i, sid in enumerate(IDS):
        r = got[sid]
        assert (r.name, r.category) == (NAMES[i], "0118")
        # nothing of the format's own (KML's extrude, visibility …; CSV's coordinates)
        assert r.attributes == {}, r.attributes
        assert abs(r.x - X[i]) < 1e-7 and abs(r.y - Y[i]) < 1e-7  # ~1 cm
    again = run(reg, path, Options(dataset=f"路灯/{kind}"), county=COUNTY)
    assert again.counts["unchanged"] == N and again.counts["added"] == 0


@pytest.mark.parametrize(("content", "message"), [
    ("a,b\n1,2\n", "has no geometry: a CSV needs a lon and a lat column"),
    ("ObjID,WKT\n", "has no features"),
], ids=["csv-without-geometry", "empty"])
def test_a_file_without_geometry_or_features_is_refused(reg: Engine, tmp_path: Path,
                                                        content: str, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportRefused, match=message):
        run(reg, path, Options(dataset="t"), county=COUNTY)
    with reg.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM import_batch")).scalar() == 0
