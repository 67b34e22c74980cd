"""The direct load (loaders.direct) writes rows as CSV that PostgreSQL parses: text with
quotes, commas, new lines, backslashes and Chinese, empty attributes and NULLs must come out
of the registry as they went into the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from loaders import direct as direct_mod
from loaders.pipeline import Options, run
from registry import areas, bulk
from sample_gis.areas import admin_areas
from tests.conftest import COUNTY, empty

NAMES = ['井盖 "北"', "a,b", "line\nbreak", "back\\slash", "tab\there", "'single'", None,
         "NULL", "\\N", "  padded  ", "光明区\r\n凤凰街道"]


def test_tricky_text_survives_the_direct_load(engine: Engine, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with engine.begin() as conn:
        empty(conn)
        areas.upsert(conn, admin_areas(), place=False)
    features = [{"type": "Feature",
                 "geometry": {"type": "Point", "coordinates": [113.93 + i * 1e-4, 22.76]},
                 "properties": {"ObjID": f"T{i}", "BJLX": "0104", "name": name,
                                "note": name, "n": i}}
                for i, name in enumerate(NAMES)]
    path = tmp_path / "tricky.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features},
                               ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(bulk, "MIN_ROWS", 1)
    written = []
    real = direct_mod.Direct.write
    monkeypatch.setattr(direct_mod.Direct, "write",
                        lambda self, *a: written.append(1) or real(self, *a))
    report = run(engine, path, Options(dataset="tricky"), county=COUNTY)
    assert written and report.counts["added"] == len(NAMES)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.source_id, e.name, e.attributes, e.version, e.status, e.valid_from, "
            "e.created_at, v.change FROM crosswalk c JOIN entity e USING (code) "
            "JOIN entity_version v USING (code)")).all()
    got = {r.source_id: r for r in rows}
    for i, name in enumerate(NAMES):
        want = name.strip() or None if name else None  # the mapping trims text
        r = got[f"T{i}"]
        assert r.name == want, i
        assert r.attributes.get("note") == want and r.attributes["n"] == i, i
        assert (r.version, r.status, r.change) == (1, "active", "created")
        assert r.valid_from == r.created_at
