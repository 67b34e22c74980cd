"""A department delivering its layers in separate files under one dataset name: each file's
import finds the other layers' records "missing", and `--retire-missing` must not retire a
whole layer for that naming slip — only records of classes the file does deliver."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, text

from loaders.pipeline import Options, run
from tests.conftest import COUNTY


def _layer(path: Path, prefix: str, category: str, n: int) -> Path:
    features = [{"type": "Feature", "properties": {"ObjID": f"{prefix}{i}", "BJLX": category},
                 "geometry": {"type": "Point",
                              "coordinates": [113.93 + i * 1e-3, 22.76 + len(prefix) * 1e-3]}}
                for i in range(n)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _statuses(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text(
            "SELECT c.source_id, e.status FROM crosswalk c JOIN entity e USING (code)")).all())


def test_another_layer_under_the_same_dataset_is_not_retired(reg: Engine,
                                                             tmp_path: Path) -> None:
    opts = Options(dataset="城管", retire_missing=True)
    covers = _layer(tmp_path / "manhole_covers.geojson", "M", "0101", 5)
    assert run(reg, covers, opts, county=COUNTY).counts["added"] == 5
    lamps = _layer(tmp_path / "street_lamps.geojson", "LL", "0118", 4)
    report = run(reg, lamps, opts, county=COUNTY)
    assert report.counts["added"] == 4 and report.counts["retired"] == 0
    assert sorted(m["source_id"] for m in report.lists["missing"]) == [f"M{i}" for i in range(5)]
    assert all(m["class_absent"] and m["category"] == "0101" for m in report.lists["missing"])
    note = next(n for n in report.notes if "classes it has none of" in n)
    assert "0101 上水井盖: 5" in note and "城管/<layer>" in note
    assert set(_statuses(reg).values()) == {"active"}

    # The next edition of the covers, one gone: that one is retired, the lamps are not.
    fewer = _layer(tmp_path / "manhole_covers_2.geojson", "M", "0101", 4)
    report = run(reg, fewer, opts, county=COUNTY)
    assert [r["source_id"] for r in report.lists["retired"]] == ["M4"]
    assert sorted(m["source_id"] for m in report.lists["missing"]) == [
        "LL0", "LL1", "LL2", "LL3", "M4"]
    statuses = _statuses(reg)
    assert statuses.pop("M4") == "retired" and set(statuses.values()) == {"active"}

    # The same file again into the unchanged registry: not read again, the same answer.
    again = run(reg, fewer, opts, county=COUNTY)
    assert any("not read again" in n for n in again.notes)
    assert any("classes it has none of" in n for n in again.notes)
    assert again.counts["retired"] == 0 and again.counts["missing"] == 4
    assert _statuses(reg) == {**statuses, "M4": "retired"}
