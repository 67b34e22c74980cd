"""What `citytwin export` does with bad input and failures: a clear error (exit 1, never a
traceback) before anything is written, a file already at the path left as it was, and a
Shapefile that never holds a cut value."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pyogrio
import pytest
from pyogrio.errors import DataLayerError
from pyogrio.raw import read
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.cli.main import app
from loaders import export as export_mod
from loaders.export import ExportRefused, Filter, export
from loaders.pipeline import Options, run
from tests.conftest import COUNTY, square

DATASET = "巡查"
LONG = "长" * 100  # 300 bytes in UTF-8: more than a Shapefile text field holds


@pytest.fixture
def entities(reg: Engine, tmp_path: Path) -> Engine:
    """Six manhole covers (0104; P1, P3, P5 with an attribute too long for a DBF field) and
    three buildings (0701)."""
    feats = [{"type": "Feature", "geometry": {"type": "Point",
                                              "coordinates": [113.93 + i * 1e-4, 22.76]},
              "properties": {"ObjID": f"P{i}", "BJLX": "0104",
                             "note": LONG if i % 2 else f"short {i}"}} for i in range(6)]
    feats += [{"type": "Feature", "geometry": square(113.93 + i * 1e-3, 22.77,
                                                     113.9301 + i * 1e-3, 22.7701),
               "properties": {"ObjID": f"B{i}", "BJLX": "0701"}} for i in range(3)]
    path = tmp_path / "in.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}),
                    encoding="utf-8")
    assert run(reg, path, Options(dataset=DATASET), county=COUNTY).counts["added"] == 9
    return reg


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def cli(settings, *args: str) -> tuple[int, str]:  # noqa: ANN001
    env = {"CITYTWIN_DATABASE_URL": settings.database_url, "CITYTWIN_COUNTY": COUNTY}
    r = CliRunner().invoke(app, ["export", *map(str, args)], env=env)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output  # no traceback
    return r.exit_code, " ".join(r.output.split())


@pytest.mark.parametrize(("crs", "says"), [
    ("EPSG:99999", "not a known CRS: give an EPSG code"),
    ("foo", "not a known CRS: give an EPSG code"),
    ("gcj02", "not supported for export"),
    ("bd09", "not supported for export"),
])
def test_an_output_crs_that_is_not_an_epsg_code_is_refused(entities, settings, out, crs, says):
    code, said = cli(settings, "--format", "gpkg", "--crs", crs, out / "x.gpkg")
    assert code == 1 and "--crs" in said and says in said, said
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(("bbox", "says"), [
    ("a,b,c,d", ""),
    ("113.9 22.7 114 22.8", ""),
    ("113.9,22.7,114", ""),
    ("114,22.8,113.9,22.7", "a minimum is greater than its maximum"),
    ("500000,2500000,510000,2510000", "not in degrees"),
])
def test_a_bbox_not_four_numbers_in_degrees_min_first_is_refused(entities, settings, out,
                                                                 bbox, says):
    code, said = cli(settings, "--format", "gpkg", "--bbox", bbox, out / "x.gpkg")
    assert code == 1 and "--bbox takes four numbers minlon,minlat,maxlon,maxlat" in said, said
    assert says in said and list(out.iterdir()) == []


def test_an_output_path_that_cannot_be_written_is_refused(entities, settings, out):
    code, said = cli(settings, "--format", "gpkg", out / "missing" / "x.gpkg")
    assert code == 1 and f"folder {out / 'missing'} does not exist: create it first" in said
    (out / "x.gpkg").mkdir()
    code, said = cli(settings, "--format", "gpkg", out / "x.gpkg")
    assert code == 1 and f"{out / 'x.gpkg'} is a folder: give a file name" in said, said
    assert [p.name for p in out.iterdir()] == ["x.gpkg"] and not any(out.glob("x.gpkg/*"))


def test_the_suffix_must_be_the_formats_and_a_file_is_replaced_only_with_overwrite(
        entities, settings, out):
    notes = out / "notes.txt"
    notes.write_text("mine", encoding="utf-8")
    code, said = cli(settings, "--format", "csv", notes)
    assert code == 1 and "name ends in .csv" in said and notes.read_text() == "mine"
    code, said = cli(settings, "--format", "shp", "--category", "0104", out / "x.gpkg")
    assert code == 1 and "name ends in .shp" in said and sorted(out.iterdir()) == [notes]
    gpkg = out / "all.gpkg"
    assert cli(settings, "--format", "gpkg", gpkg)[0] == 0
    code, said = cli(settings, "--format", "gpkg", "--category", "0104", gpkg)
    assert code == 1 and "already exists: give --overwrite to replace it" in said, said
    assert pyogrio.read_info(gpkg)["features"] == 9
    code, said = cli(settings, "--format", "gpkg", "--category", "0104", "--overwrite", gpkg)
    assert code == 0 and pyogrio.read_info(gpkg)["features"] == 6, said
    assert sorted(p.name for p in out.iterdir()) == ["all.gpkg", "notes.txt"]


def test_a_shapefile_of_mixed_types_is_refused_before_anything_is_written(entities, out):
    shp = out / "covers.shp"
    export(entities, shp, "shp", Filter(category="0104"))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # Points come first (by code): chunks of 2 were written before the polygons were seen.
    with pytest.raises(ExportRefused, match=r"one geometry type; these entities have "
                                            r"Point \(6\), Polygon \(3\)"):
        export(entities, shp, "shp", Filter(), overwrite=True, chunk=2)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("fmt", ["shp", "gpkg"])
def test_a_failed_write_leaves_the_previous_file_and_no_temporary_one(entities, out,
                                                                      monkeypatch, fmt):
    path = out / f"covers.{fmt}"
    export(entities, path, fmt, Filter(category="0104"))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = []

    def failing(*a, **k):  # noqa: ANN002, ANN003
        calls.append(1)
        if len(calls) == 2:
            raise DataLayerError("No space left on device")
        return pyogrio.raw.write(*a, **k)

    monkeypatch.setattr(export_mod, "write", failing)
    with pytest.raises(ExportRefused, match="failed: No space left on device; no file written"):
        export(entities, path, fmt, Filter(category="0104"), overwrite=True, chunk=2)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_multipoint_is_named(entities, out):
    with entities.begin() as conn:
        conn.execute(text("UPDATE entity SET geom = ST_Multi(geom) WHERE code = "
                          "(SELECT code FROM crosswalk WHERE source_id = 'P0')"))
    with pytest.raises(ExportRefused, match=r"MultiPoint \(1\), Point \(5\)"):
        export(entities, out / "covers.shp", "shp", Filter(category="0104"))
    assert list(out.iterdir()) == []
    export(entities, out / "multi.gpkg", "gpkg", Filter(category="0104", dataset=DATASET,
                                                         bbox=(113.92, 22.75, 113.93005,
                                                               22.765)))
    assert pyogrio.read_info(out / "multi.gpkg")["geometry_type"] == "MultiPoint"


def test_a_shapefile_leaves_too_long_values_empty_and_says_so(entities, settings, out):
    shp = out / "covers.shp"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        n = export(entities, shp, "shp", Filter(category="0104"), chunk=2)
    assert [str(w.message) for w in seen] == []  # not GDAL's raw "… has been truncated"
    assert n == 6 and len(n.notes) == 1
    assert "3 of 6 records' attributes did not fit" in n.notes[0]
    assert "GeoPackage, FlatGeobuf or GeoJSON export keeps them whole" in n.notes[0]
    meta, _, _, cols = read(shp)
    by = dict(zip(meta["fields"], cols, strict=True))
    attrs = dict(zip(by["source_id"], by["attributes"], strict=True))
    assert {s: attrs[s] for s in ("P1", "P3", "P5")} == dict.fromkeys(("P1", "P3", "P5"))
    assert [json.loads(attrs[f"P{i}"]) for i in (0, 2, 4)] == [
        {"note": f"short {i}"} for i in (0, 2, 4)]
    code, said = cli(settings, "--format", "shp", "--category", "0104", out / "cli.shp")
    assert code == 0 and "note: a Shapefile text field holds at most 254 bytes: 3 of 6" in said
    # Re-imported: nothing refused, nothing changed — a value the export left empty is not
    # known, so the registry keeps the attributes it holds (loaders.mapping, loaders.merge).
    with entities.connect() as conn:
        before = dict(conn.execute(text(
            "SELECT source_id, attributes FROM crosswalk JOIN entity USING (code)")).all())
    again = run(entities, shp, Options(dataset=DATASET, full=True), county=COUNTY)
    assert again.counts["refused"] == again.counts["added"] == again.counts["changed"] == 0
    assert again.counts["unchanged"] == 6
    with entities.connect() as conn:
        after = dict(conn.execute(text(
            "SELECT source_id, attributes FROM crosswalk JOIN entity USING (code)")).all())
    assert after == before and len(json.dumps(after["P1"])) > 254


@pytest.mark.parametrize(("args", "says"), [
    (["--area", "nonexistent-code"], "--area nonexistent-code is not the code of a street, "
                                     "community or grid"),
    (["--area", COUNTY], f"--area {COUNTY} is the district"),
    (["--category", "9999"], "--category 9999 is not a class in the dictionary"),
    (["--dataset", "nonexistent"], f"--dataset nonexistent has delivered no entities "
                                   f"(datasets: {DATASET})"),
    (["--category", "9999", "--dataset", "nonexistent"], "--category 9999 is not a class in "
     "the dictionary (see `citytwin category list`); --dataset nonexistent"),
    (["--category", "0101", "--dataset", DATASET], "nothing matches these filters together"),
])
def test_a_filter_that_names_nothing_is_named(entities, settings, out, args, says):
    code, said = cli(settings, "--format", "gpkg", *args, out / "x.gpkg")
    assert code == 1 and says in said and "no file written" in said, said
    assert list(out.iterdir()) == []


def test_ct_sources_escapes_colons_and_semicolons(entities, out):
    pairs = [("a:b", r"x;y\z:w"), (DATASET, "P0"), ("c", "d;e:f")]
    with entities.begin() as conn:
        code = conn.execute(text("SELECT code FROM crosswalk WHERE source_id = 'P0'")).scalar()
        for dataset, sid in pairs[::2]:
            conn.execute(text("INSERT INTO crosswalk (dataset, source_id, code) "
                              "VALUES (:d, :s, :c)"), {"d": dataset, "s": sid, "c": code})
    export(entities, out / "x.gpkg", "gpkg", Filter(category="0104"))
    meta, _, _, cols = read(out / "x.gpkg")
    by = dict(zip(meta["fields"], cols, strict=True))
    sources = dict(zip(by["ct_code"], by["ct_sources"], strict=True))[code]

    def pieces(s: str, sep: str) -> list[str]:  # split on `sep` where not escaped
        return re.findall(rf"(?:\\.|[^\\{sep}])+", s)

    # The module docstring's rule: split on unescaped `;`, then at the unescaped `:`, unescape.
    split = [[re.sub(r"\\(.)", r"\1", x) for x in pieces(p, ":")] for p in pieces(sources, ";")]
    assert sorted(map(tuple, split)) == sorted(pairs)


def test_overwriting_a_shapefile_replaces_every_part_of_it(entities, out):
    shp = out / "covers.shp"
    export(entities, shp, "shp", Filter(category="0104"))
    (out / "covers.qix").write_bytes(b"an index of the old file")
    assert export(entities, shp, "shp", Filter(category="0104", bbox=(113.92, 22.75, 113.93025,
                                                                       22.765)),
                  overwrite=True) == 3
    assert sorted(p.name for p in out.iterdir()) == [f"covers.{s}" for s in
                                                     ("cpg", "dbf", "prj", "shp", "shx")]
    assert pyogrio.read_info(shp)["features"] == 3
