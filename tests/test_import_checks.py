"""What validation finds across a file read in chunks: a source id given again is a
duplicate whether its first record is in the same chunk or an earlier one."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, text

from loaders.pipeline import Options, run
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
