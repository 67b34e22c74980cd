"""The loaders on the generated sample district, against the real PostGIS: each department's
file imports with the manifest's counts and faults, cross-department duplicates link to one
code, re-import is a no-op, the next month's edition gives exactly the manifest's changes,
text and positions come out right, and a failed import leaves nothing behind."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, text

from loaders import direct as direct_mod
from loaders import merge as merge_mod
from loaders import unchanged
from loaders.pipeline import Options, run
from registry import areas as registry_areas
from registry import bulk, entities, reads
from sample_gis.areas import admin_areas
from sample_gis.generate import generate
from sample_gis.manifest import Manifest
from tests.conftest import COUNTY, empty

SCALE, SEED = 0.02, 5


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return generate(tmp_path_factory.mktemp("loaders") / "s", scale=SCALE, seed=SEED)



def imp(engine: Engine, m: Manifest, key: str, dataset: str, edition: str = "v1",
        **kw) -> object:
    info = m["files"][edition][key]
    return run(engine, m.path(info["path"]), Options(dataset=dataset, layer=info["layer"],
                                                      **kw), county=COUNTY)


def faults(m: Manifest, kind: str, key: str) -> list[dict]:
    return [r for r in m["faults"][kind]["records"] if r.get("file") == key]


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def test_cameras_counts_and_faults(reg: Engine, sample: Manifest) -> None:
    key = "cameras/cameras.csv"
    r = imp(reg, sample, key, "视频监控平台")
    info = sample["files"]["v1"][key]
    c = r.counts
    dups = sum(x["copies"] - 1 for x in faults(sample, "duplicate_in_file", key))
    outside = faults(sample, "outside_district", key)
    assert c["duplicate"] == dups
    assert {x["source_id"] for x in r.lists["review"]} == {x["source_id"] for x in outside}
    assert c["added"] + c["refused"] + c["review"] + c["duplicate"] == info["features"]
    assert c["added"] == count(reg, "SELECT count(*) FROM entity")
    missing = {(x["source_id"], x["field"]) for x in faults(sample, "missing_attribute", key)}
    got = {(x["source_id"], x["field"]) for x in r.warnings["missing_attribute"]}
    assert missing <= got


def test_reimport_is_noop(reg: Engine, sample: Manifest) -> None:
    key = "iot/devices.csv"
    first = imp(reg, sample, key, "物联网平台", crs="gcj02")
    versions = count(reg, "SELECT count(*) FROM entity_version")
    again = imp(reg, sample, key, "物联网平台", crs="gcj02")
    assert again.counts["added"] == 0 and again.counts["changed"] == 0
    assert again.counts["unchanged"] == first.counts["added"]
    assert any("not read again" in n for n in again.notes)  # loaders.unchanged
    full = imp(reg, sample, key, "物联网平台", crs="gcj02", full=True)
    assert not any("not read again" in n for n in full.notes)
    assert full.counts == again.counts
    assert count(reg, "SELECT count(*) FROM entity_version") == versions
    assert count(reg, "SELECT count(*) FROM import_batch") == 3


def test_an_edit_since_the_last_import_makes_the_same_file_read_again(
        reg: Engine, sample: Manifest) -> None:
    """The unchanged-file shortcut holds only while the registry is as the last import left
    it: an entity edited since (here by the registry API) is compared, and set back."""
    key = "iot/devices.csv"
    first = imp(reg, sample, key, "物联网平台", crs="gcj02")
    code = first.lists["added"][0]["code"]
    with reg.begin() as conn:
        name = conn.execute(text("SELECT name FROM entity WHERE code = :c"), {"c": code}).scalar()
        entities.update(conn, code, {"name": "edited"}, actor="t")
        # The dataset's last change, both ways: the edit's number in the feed.
        last = [conn.execute(q, {"ds": "物联网平台"}).scalar()
                for q in (unchanged._LAST_CHANGE, unchanged._LAST_CHANGE_BY_LINK)]
        assert last == [conn.execute(text("SELECT max(seq) FROM entity_version")).scalar()] * 2
    again = imp(reg, sample, key, "物联网平台", crs="gcj02")
    assert not any("not read again" in n for n in again.notes)
    assert [c["code"] for c in again.lists["changed"]] == [code]
    assert count(reg, f"SELECT name FROM entity WHERE code = '{code}'") == name
    third = imp(reg, sample, key, "物联网平台", crs="gcj02", encoding="UTF-8")
    assert not any("not read again" in n for n in third.notes)  # other options: read again


def test_invalid_geometries_reported(reg: Engine, sample: Manifest) -> None:
    key = "zhujian/buildings.geojson"
    r = imp(reg, sample, key, "住建")
    bad = {x["source_id"] for x in faults(sample, "invalid_geometry", key)}
    repaired = {x["source_id"] for x in r.warnings["repaired"]}
    refused = {x["source_id"] for x in r.lists["refused"]}
    assert bad and bad <= repaired | refused
    lines = "shuiwu/water.gpkg:ps_line"
    r = imp(reg, sample, lines, "水务")
    zero = {x["source_id"] for x in faults(sample, "invalid_geometry", lines)}
    assert zero <= {x["source_id"] for x in r.lists["refused"]}


def test_cross_department_duplicates_link(reg: Engine, sample: Manifest) -> None:
    cg = imp(reg, sample, "chengguan/manhole_covers.shp", "城管")
    assert cg.counts["added"] > 0
    sw = imp(reg, sample, "shuiwu/water.gpkg:ps_point", "水务")
    twins = sample["faults"]["cross_department"]["records"]
    linked = {x["source_id"] for x in sw.lists["linked"]}
    want = {t["shuiwu"]["source_id"] for t in twins}
    assert want <= linked | {x["source_id"] for x in sw.lists["review"]}
    assert len(want & linked) >= 0.95 * len(want)
    with reg.connect() as conn:
        same = conn.execute(text("""
            SELECT count(*) FROM crosswalk a JOIN crosswalk b ON a.code = b.code
            WHERE a.dataset = '城管' AND b.dataset = '水务'""")).scalar()
    assert same == len(linked)


def test_next_month_edition(reg: Engine, sample: Manifest) -> None:
    key = "zhujian/buildings.geojson"
    imp(reg, sample, key, "住建")
    r = imp(reg, sample, key, "住建", edition="v2", retire_missing=True)
    ch = sample["changes"]["zhujian"]
    assert {x["source_id"] for x in r.lists["added"]} == set(ch["added"]["source_ids"])
    assert {x["source_id"] for x in r.lists["missing"]} == set(ch["removed"]["source_ids"])
    assert {x["source_id"] for x in r.lists["retired"]} == set(ch["removed"]["source_ids"])
    assert count(reg, "SELECT count(*) FROM entity WHERE status = 'retired'") == \
        ch["removed"]["count"]
    assert {x["source_id"] for x in r.lists["changed"]} == \
        set(ch["changed"]["source_ids"]) | set(ch["moved"]["source_ids"])


_STATE = """SELECT code, category, status, condition, name, dept_admin, dept_owner,
    dept_maintainer, attributes::text, ST_AsEWKB(geom), street_code, community_code, grid_code,
    h3 FROM {table} WHERE {where} ORDER BY code"""


def test_an_imported_entitys_first_version_keeps_its_state(reg: Engine, sample: Manifest
                                                          ) -> None:
    """An import's first versions leave their state to the entity row while open (migration
    0007); closing them — by the next edition's changes, by retiring what went missing, by an
    edit through the registry — keeps exactly the state the entity had."""
    key = "zhujian/buildings.geojson"
    imp(reg, sample, key, "住建")
    with reg.connect() as conn:
        before = {r[0]: r for r in conn.execute(text(_STATE.format(table="entity",
                                                                   where="true")))}
        code = next(iter(before))
        first = reads.as_of(conn, code, conn.execute(text("SELECT now()")).scalar())
        assert first == reads.get(conn, code)  # an open thin version reads as the entity
    r = imp(reg, sample, key, "住建", edition="v2", retire_missing=True)
    touched = {x["code"] for x in r.lists["changed"] + r.lists["retired"]}
    with reg.begin() as conn:
        entities.update(conn, code, {"name": "改名"}, actor="t")
        closed = conn.execute(text(_STATE.format(
            table="entity_version", where="version = 1 AND valid_to IS NOT NULL"))).all()
        assert {row[0] for row in closed} == touched | {code}
        for row in closed:
            assert tuple(row) == tuple(before[row[0]]), row[0]
        old = reads.as_of(conn, code, first.valid_from)
    assert old.name == before[code][4] and old.geometry == first.geometry
    assert old.valid_to is not None


def test_gbk_without_cpg(reg: Engine, sample: Manifest) -> None:
    r = imp(reg, sample, "chengguan/street_trees.shp", "城管")
    assert any("GBK" in n for n in r.notes)
    with reg.connect() as conn:
        names = conn.execute(text("SELECT DISTINCT dept_admin FROM entity")).scalars().all()
    assert "光明区城市管理和综合执法局" in names


def test_zipped_gbk_shapefile_without_cpg(reg: Engine, sample: Manifest,
                                         tmp_path: Path) -> None:
    """The same GBK Shapefile without .cpg, delivered as a .zip: detected inside the zip."""
    import zipfile

    info = sample["files"]["v1"]["chengguan/street_trees.shp"]
    shp = sample.path(info["path"])
    parts = [p for p in shp.parent.glob(shp.stem + ".*") if p.suffix.lower() != ".cpg"]
    zipped = tmp_path / "street_trees.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        for p in parts:
            z.write(p, p.name)
    r = run(reg, zipped, Options(dataset="城管"), county=COUNTY)
    assert any("GBK" in n for n in r.notes) and r.counts["added"] > 0
    with reg.connect() as conn:
        names = conn.execute(text("SELECT DISTINCT dept_admin FROM entity")).scalars().all()
    assert "光明区城市管理和综合执法局" in names


def test_bare_json_array_of_features(reg: Engine, tmp_path: Path) -> None:
    """A file that is a bare array of Features (what many web APIs return) imports."""
    features = [{"type": "Feature", "properties": {"ObjID": f"A{i}", "BJLX": "0118",
                                                   "ObjName": f"路灯{i}"},
                 "geometry": {"type": "Point", "coordinates": [113.93 + i * 1e-3, 22.76]}}
                for i in range(5)]
    path = tmp_path / "lamps.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(features, ensure_ascii=False).encode())
    r = run(reg, path, Options(dataset="web"), county=COUNTY)
    assert r.counts["added"] == 5 and any("bare JSON array" in n for n in r.notes)
    with reg.connect() as conn:
        got = conn.execute(text("SELECT name FROM entity ORDER BY name")).scalars().all()
    assert got == [f"路灯{i}" for i in range(5)]


def _truth(m: Manifest, source: str) -> dict[str, tuple[float, float]]:
    out = {}
    with m.path("truth.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            for s in row["sources"].split(";"):
                if s.startswith(source + ":"):
                    out[s.split(":", 1)[1]] = (float(row["lon"]), float(row["lat"]))
    return out


@pytest.mark.parametrize("key,dataset,source,crs", [
    ("iot/devices.csv", "物联网平台", "iot", "gcj02"),
    ("chengguan/street_lamps.shp", "城管", "chengguan", "EPSG:4547"),
])
def test_positions_match_truth(reg: Engine, sample: Manifest, key: str, dataset: str,
                               source: str, crs: str) -> None:
    imp(reg, sample, key, dataset, crs=crs)
    truth = _truth(sample, source)
    with reg.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.source_id, ST_X(e.geom), ST_Y(e.geom) FROM crosswalk c "
            "JOIN entity e USING (code)")).all()
    d = np.array([np.hypot((x - truth[s][0]) * 102_600, (y - truth[s][1]) * 111_000)
                  for s, x, y in rows if s in truth])
    assert len(d) > 10 and d.max() < 1.0


def test_street_lamps_without_prj_refused(reg: Engine, sample: Manifest) -> None:
    from loaders.read import ImportRefused
    with pytest.raises(ImportRefused, match="--crs"):
        imp(reg, sample, "chengguan/street_lamps.shp", "城管")


def test_failure_leaves_registry_unchanged(reg: Engine, sample: Manifest,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    key = "cameras/cameras.csv"
    before = count(reg, "SELECT count(*) FROM entity")

    real = merge_mod._link
    monkeypatch.setattr(merge_mod, "_link",  # the entities are inserted, not committed
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError):
        imp(reg, sample, key, "视频监控平台")
    monkeypatch.setattr(merge_mod, "_link", real)
    assert count(reg, "SELECT count(*) FROM entity") == before
    assert count(reg, "SELECT count(*) FROM import_batch") == 0
    r = imp(reg, sample, key, "视频监控平台")
    assert r.counts["added"] == count(reg, "SELECT count(DISTINCT code) FROM entity")
    assert count(reg, "SELECT count(*) FROM entity WHERE serial > "
                      "(SELECT max(last_serial) FROM serial_counter)") == 0


def test_dry_run_writes_nothing(reg: Engine, sample: Manifest) -> None:
    r = imp(reg, sample, "cameras/cameras.csv", "视频监控平台", dry_run=True)
    assert r.counts["added"] > 0
    for table in ("entity", "crosswalk", "import_batch", "serial_counter", "entity_version"):
        assert count(reg, f"SELECT count(*) FROM {table}") == 0


def test_other_import_of_same_dataset_refused(reg: Engine, sample: Manifest) -> None:
    with reg.connect() as conn, conn.begin():
        merge_mod.lock(conn, "住建", wait=False)
        with pytest.raises(merge_mod.DatasetBusy):
            imp(reg, sample, "zhujian/buildings.geojson", "住建")


def test_cli_import(reg: Engine, sample: Manifest, settings, tmp_path: Path) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    from api.cli.main import app

    path = str(sample.path(sample["files"]["v1"]["iot/devices.csv"]["path"]))
    env = {"CITYTWIN_DATABASE_URL": settings.database_url, "CITYTWIN_COUNTY": COUNTY}
    args = ["import", path, "--dataset", "物联网平台", "--crs", "gcj02"]
    out = tmp_path / "report.json"
    dry = CliRunner().invoke(app, [*args, "--dry-run", "--report", str(out)], env=env)
    assert dry.exit_code == 0, dry.output
    assert "DRY RUN" in dry.output and count(reg, "SELECT count(*) FROM entity") == 0
    assert json.loads(out.read_text(encoding="utf-8"))["counts"]["added"] > 0
    assert CliRunner().invoke(app, args, env=env).exit_code == 0
    again = CliRunner().invoke(app, args, env=env)
    assert again.exit_code == 0 and "unchanged:" in again.output


CRS_OF = {"chengguan/street_lamps.shp": "EPSG:4547", "iot/devices.csv": "gcj02"}
DATASET_OF = {"chengguan": "城管", "shuiwu": "水务", "zhujian": "住建", "iot": "物联网平台",
              "cameras": "视频监控平台"}


def test_every_file_imports_with_manifest_counts(reg: Engine, sample: Manifest) -> None:
    """Each v1 file into an empty registry (one dataset each, so nothing links): every record
    is accounted for, the seeded faults are reported as such, and what is added is what the
    file holds of the district's entities."""
    for key, info in sample["files"]["v1"].items():
        with reg.begin() as conn:
            conn.execute(text("TRUNCATE crosswalk, entity_cover, entity_version, entity, "
                              "serial_counter, import_batch CASCADE"))
        r = imp(reg, sample, key, DATASET_OF[key.split("/")[0]], crs=CRS_OF.get(key))
        c = r.counts
        dups = sum(x["copies"] - 1 for x in faults(sample, "duplicate_in_file", key))
        outside = {x["source_id"] for x in faults(sample, "outside_district", key)}
        invalid = {x["source_id"] for x in faults(sample, "invalid_geometry", key)}
        refused = {x["source_id"] for x in r.lists["refused"]}
        assert c["added"] + c["refused"] + c["review"] + c["duplicate"] == info["features"], key
        assert c["duplicate"] == dups, key
        assert outside <= {x["source_id"] for x in r.lists["review"]}, key
        assert refused <= invalid, key  # nothing refused that was not broken
        assert invalid <= refused | {x["source_id"] for x in r.warnings["repaired"]}, key
        assert c["added"] == info["features"] - dups - len(outside) - len(refused), key
        assert count(reg, "SELECT count(*) FROM entity") == c["added"], key


_KILLABLE = """
import sys, time
from pathlib import Path
from loaders import merge
from loaders.pipeline import Options, run
from registry.db import make_engine
from registry.settings import Settings
real = merge._link
def slow(*a, **k):  # the entities are inserted, not committed
    print("ready", flush=True)
    time.sleep(60)
    return real(*a, **k)
merge._link = slow
s = Settings(database_url=sys.argv[1])
run(make_engine(s), Path(sys.argv[2]), Options(dataset="视频监控平台"), county="440311")
"""


def test_killed_import_leaves_registry_unchanged(reg: Engine, sample: Manifest,
                                                 settings) -> None:  # noqa: ANN001
    import os
    import signal
    import subprocess
    import sys

    key = "cameras/cameras.csv"
    path = str(sample.path(sample["files"]["v1"][key]["path"]))
    proc = subprocess.Popen([sys.executable, "-c", _KILLABLE, settings.database_url, path],
                            stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        assert proc.stdout.readline().strip() == "ready"
        with reg.connect() as conn:  # the write is under way in the other process
            assert conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE "
                                     "state LIKE 'idle in transaction%'")).scalar() >= 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    for table in ("entity", "crosswalk", "import_batch", "serial_counter", "entity_version"):
        assert count(reg, f"SELECT count(*) FROM {table}") == 0, table
    r = imp(reg, sample, key, "视频监控平台")
    assert r.counts["added"] == count(reg, "SELECT count(DISTINCT code) FROM entity")
    assert count(reg, "SELECT min(serial) FROM entity") == 1


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "shp", "csv", "fgb"])
def test_export_round_trip(reg: Engine, sample: Manifest, tmp_path: Path, fmt: str) -> None:
    import pyogrio

    from loaders.export import Filter, export

    first = imp(reg, sample, "zhujian/buildings.geojson", "住建")
    out = tmp_path / f"buildings.{fmt}"
    n = export(reg, out, fmt, Filter(dataset="住建"))
    assert n == first.counts["added"] == pyogrio.read_info(out)["features"]
    if fmt == "shp":
        assert out.with_suffix(".cpg").exists()
    again = run(reg, out, Options(dataset="住建"), county=COUNTY)
    assert again.counts["added"] == again.counts["refused"] == 0
    if fmt in ("gpkg", "fgb"):  # binary coordinates and types: exactly what was stored
        assert again.counts["unchanged"] == n
    else:  # text coordinates may round in the last digit, a Shapefile reads a one-part
        # MultiPolygon back as a Polygon: the same entities, some with "geometry" changed
        assert again.counts["unchanged"] + again.counts["changed"] == n
        assert all(x["changed"] == ["geometry"] for x in again.lists["changed"])


def test_export_in_another_crs(reg: Engine, sample: Manifest, tmp_path: Path) -> None:
    from loaders.export import Filter, export

    imp(reg, sample, "cameras/cameras.csv", "视频监控平台")
    out = tmp_path / "cams.gpkg"
    export(reg, out, "gpkg", Filter(), crs="EPSG:4547")
    again = run(reg, out, Options(dataset="视频监控平台"), county=COUNTY)
    assert again.counts["added"] == 0
    assert again.counts["unchanged"] + again.counts["changed"] > 0


def test_points_placed_in_python_as_sql_places_them(reg: Engine) -> None:
    """The loaders place points in bulk (registry.placement); the registry's one rule is the
    SQL `area_code()`. Random points and every grid vertex (on two or more boundaries, where
    the lowest code wins) get the same street, community and grid both ways."""
    from registry.placement import Placer

    with reg.begin() as conn:
        placer = Placer.load(conn)
        verts = conn.execute(text(
            "SELECT ST_X(p.geom), ST_Y(p.geom) FROM admin_area a, "
            "ST_DumpPoints(a.geom) p WHERE a.level = 'grid' LIMIT 3000")).all()
        minx, miny, maxx, maxy = conn.execute(text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom) e FROM admin_area WHERE level = 'street') s")).one()
        rng = np.random.default_rng(3)
        x = np.concatenate([rng.uniform(minx, maxx, 3000), [v[0] for v in verts]])
        y = np.concatenate([rng.uniform(miny, maxy, 3000), [v[1] for v in verts]])
        ours = placer.place(x, y)
        sql = conn.execute(text(
            "SELECT area_code('street', p), area_code('community', p), area_code('grid', p) "
            "FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY "
            "AS t(x, y, i), LATERAL (SELECT ST_SetSRID(ST_MakePoint(x, y), 4490) p) q "
            "ORDER BY i"), {"x": x.tolist(), "y": y.tolist()}).all()
    for k, level in enumerate(("street", "community", "grid")):
        assert ours[level].tolist() == [r[k] for r in sql], level
    assert sum(r[2] is None for r in sql) > 100  # the random points reach outside too


_INDEXES = """SELECT concat((SELECT string_agg(indexdef, ';' ORDER BY indexname)
                             FROM pg_indexes WHERE schemaname = 'citytwin'
                               AND tablename IN ('entity', 'entity_version', 'crosswalk')),
                            (SELECT string_agg(tgname || tgenabled::text, ';' ORDER BY tgname)
                             FROM pg_trigger WHERE NOT tgisinternal))"""  # and checks on
_ROWS = """SELECT string_agg(concat_ws('|', c.source_id, e.code, e.category, e.street_code,
                                    e.grid_code, e.h3, e.version, ST_AsText(e.geom)), ','
                          ORDER BY c.source_id)
           FROM crosswalk c JOIN entity e USING (code)"""


def test_a_bulk_load_gives_what_the_indexed_path_gives(reg: Engine, sample: Manifest,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """An import that at least doubles the registry writes without index maintenance and
    builds the indexes again (registry.bulk): the same outcome, the same indexes, and a
    failure rolls the dropped indexes back with the rest."""
    key = "zhujian/buildings.geojson"
    indexes = count(reg, _INDEXES)
    normal = imp(reg, sample, key, "住建")
    normal_rows = count(reg, _ROWS)
    with reg.begin() as conn:
        empty(conn)
        registry_areas.upsert(conn, admin_areas(), place=False)
    monkeypatch.setattr(bulk, "MIN_ROWS", 10)
    drops = []
    real_drop = bulk.drop_indexes
    monkeypatch.setattr(bulk, "drop_indexes", lambda c: drops.append(1) or real_drop(c))
    monkeypatch.setattr(merge_mod, "_link",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError):
        imp(reg, sample, key, "住建")
    assert drops and count(reg, _INDEXES) == indexes
    assert count(reg, "SELECT count(*) FROM entity") == 0
    monkeypatch.undo()
    monkeypatch.setattr(bulk, "MIN_ROWS", 10)
    monkeypatch.setattr(bulk, "drop_indexes", lambda c: drops.append(2) or real_drop(c))
    loaded = imp(reg, sample, key, "住建")
    assert drops[-1] == 2 and count(reg, _INDEXES) == indexes
    assert loaded.counts == normal.counts
    assert count(reg, _ROWS) == normal_rows
    assert count(reg, "SELECT count(*) FROM entity_version") == loaded.counts["added"]
    again = imp(reg, sample, key, "住建", full=True)  # read again: nothing new, indexes kept
    assert again.counts["unchanged"] == loaded.counts["added"] and drops[-1] == 2
    held = loaded.counts["added"]
    with reg.connect() as conn:  # a load smaller than the registry is not a bulk load
        assert bulk.worth_it(conn, held) and not bulk.worth_it(conn, held - 1)


_EVERYTHING = """SELECT concat_ws(';',
    (SELECT string_agg(concat_ws('|', code, county, category, serial, status, condition, name,
                                 dept_admin, dept_owner, dept_maintainer, attributes::text,
                                 ST_AsEWKT(geom), street_code, community_code, grid_code, h3,
                                 version, valid_from = recorded_at), ',' ORDER BY code)
     FROM entity),
    (SELECT string_agg(concat_ws('|', code, version, status, change, changed, actor, reason,
                                 geom IS NULL, valid_to, valid_from = recorded_at),
                       ',' ORDER BY code, version) FROM entity_version),
    (SELECT string_agg(concat_ws('|', dataset, source_id, code), ',' ORDER BY dataset, source_id)
     FROM crosswalk),
    (SELECT string_agg(concat_ws('|', category, last_serial), ',' ORDER BY category)
     FROM serial_counter),
    (SELECT string_agg(concat_ws('|', category, status, cell, n), ',' ORDER BY category, cell)
     FROM h3_count WHERE n <> 0))"""


def test_a_direct_load_gives_what_the_staged_path_gives(reg: Engine, sample: Manifest,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A dataset's first bulk import writes its points of classes the registry does not hold
    straight into `entity` (loaders.direct) and stages the rest — the cross-department twins
    here, linked by place: the same entities, codes, versions, links and counters as the
    staged path, and a failure after the direct rows leaves the registry as it was."""
    first, second = ("shuiwu/water.gpkg:ps_point", "水务"), ("chengguan/manhole_covers.shp", "城管")
    indexes = count(reg, _INDEXES)
    imp(reg, sample, *first)
    normal = imp(reg, sample, *second)
    everything = count(reg, _EVERYTHING)

    def again() -> str:
        with reg.begin() as conn:
            empty(conn)
            registry_areas.upsert(conn, admin_areas(), place=False)
        imp(reg, sample, *first)
        return count(reg, _EVERYTHING)

    before = again()
    monkeypatch.setattr(bulk, "MIN_ROWS", 10)
    real_write, writes = direct_mod.Direct.write, []

    def third_write_fails(self, *a) -> None:  # noqa: ANN001 - mid-stream, rows already sent
        writes.append(1)
        if len(writes) == 3:
            raise RuntimeError("killed")
        real_write(self, *a)

    for fail in (third_write_fails,
                 lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed"))):
        monkeypatch.setattr(direct_mod.Direct, "write" if fail is third_write_fails
                            else "added", fail)
        with pytest.raises(RuntimeError):
            imp(reg, sample, *second, chunk=100)
        assert count(reg, _EVERYTHING) == before and count(reg, _INDEXES) == indexes
    monkeypatch.undo()
    monkeypatch.setattr(bulk, "MIN_ROWS", 10)
    direct = []
    real_write = direct_mod.Direct.write
    monkeypatch.setattr(direct_mod.Direct, "write",
                        lambda self, conn, st, rows, *a: direct.append(len(rows["category"]))
                        or real_write(self, conn, st, rows, *a))
    loaded = imp(reg, sample, *second, chunk=100)  # many chunks, streams switched often
    assert len(direct) > 2 and loaded.counts["linked"] > 0  # both ways were taken
    assert loaded.counts == normal.counts
    assert count(reg, _EVERYTHING) == everything
    assert count(reg, _INDEXES) == indexes


def test_a_file_linked_by_place_is_read_again(reg: Engine, sample: Manifest) -> None:
    """Records linked by place are compared with the file on the next full read, so the
    unchanged-file shortcut does not stand in for it."""
    imp(reg, sample, "chengguan/manhole_covers.shp", "城管")
    sw = imp(reg, sample, "shuiwu/water.gpkg:ps_point", "水务")
    assert sw.counts["linked"] > 0
    again = imp(reg, sample, "shuiwu/water.gpkg:ps_point", "水务")
    assert not any("not read again" in n for n in again.notes)
    assert again.counts["added"] == 0
