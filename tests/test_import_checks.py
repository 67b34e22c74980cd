"""What the reading and the checks find across a file: a source id given again is a duplicate
whether its first record is in the same chunk or an earlier one; a DBF's encoding is told
wherever its first non-ASCII text is; text not in its claimed encoding is a clear refusal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyogrio.raw import write
from sqlalchemy import Engine, text

from loaders.pipeline import Options, run
from loaders.read import ImportRefused, detect_dbf_encoding
from registry import areas
from sample_gis.areas import admin_areas
from tests.conftest import COUNTY, empty


def test_a_source_id_given_again_is_a_duplicate_in_any_chunk(engine: Engine,
                                                            tmp_path: Path) -> None:
    with engine.begin() as conn:
        empty(conn)
        areas.upsert(conn, admin_areas(), place=False)
    ids = ["a", "b", "c", "d", "a", "e", "f", "c", "c", "g", "j", "j"]  # chunks of 3
    path = tmp_path / "dups.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"ObjID": s, "BJLX": "0104"},
         "geometry": {"type": "Point", "coordinates": [113.93 + i * 1e-4, 22.76]}}
        for i, s in enumerate(ids)]}), encoding="utf-8")
    report = run(engine, path, Options(dataset="dups", chunk=3), county=COUNTY)
    dups = [(d["record"], d["source_id"], d["reason"]) for d in report.lists["duplicate"]]
    assert dups == [(4, "a", "source id given again (first: record 0)"),
                    (7, "c", "source id given again (first: record 2)"),
                    (8, "c", "source id given again (first: record 2)"),
                    (11, "j", "source id given again (first: record 10)")]
    assert report.counts["added"] == len(set(ids))
    with engine.connect() as conn:
        linked = conn.execute(text("SELECT source_id FROM crosswalk ORDER BY source_id"))
        assert linked.scalars().all() == sorted(set(ids))


def _shapefile(path: Path, names: list[str], encoding: str) -> Path:
    xs = 113.93 + np.arange(len(names)) * 1e-4
    write(path, shapely.to_wkb(shapely.points(xs, np.full(len(names), 22.76))),
          [np.array([f"T{i}" for i in range(len(names))], dtype=object),
           np.array(["0104"] * len(names), dtype=object), np.array(names, dtype=object)],
          ["ObjID", "BJLX", "ObjName"], driver="ESRI Shapefile", crs="EPSG:4490",
          geometry_type="Point", encoding=encoding)
    return path


@pytest.mark.parametrize("encoding", ["GBK", "UTF-8"])
def test_the_encoding_of_a_dbf_without_cpg_is_found_past_ascii_and_cut_characters(
        tmp_path: Path, encoding: str) -> None:
    """A layer's first records may be all ASCII and a stretch read may end inside a
    character: whatever the stretch, GBK is told from UTF-8 (the sample district's street
    trees, 10 MB, were read as Latin-1 and failed)."""
    names = ["plain"] * 40 + ["光明街道行道树", "凤凰社区香樟"] * 5
    path = _shapefile(tmp_path / "t.shp", names, encoding)
    path.with_suffix(".cpg").unlink()
    for stretch in range(5, 60):
        assert detect_dbf_encoding(path.with_suffix(".dbf"), stretch) == encoding, stretch


def test_text_not_in_the_encoding_it_claims_is_refused_with_the_field(
        engine: Engine, tmp_path: Path) -> None:
    path = _shapefile(tmp_path / "lying.shp", ["光明街道行道树"] * 3, "GBK")
    path.with_suffix(".cpg").write_text("UTF-8")  # it is GBK
    with pytest.raises(ImportRefused, match="field 'ObjName'.*--encoding"):
        run(engine, path, Options(dataset="lying"), county=COUNTY)
