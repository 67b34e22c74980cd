"""The sample district generator, checked the way a user of its files would: the files open
with GDAL in their declared CRS and encoding, the counts and faults the manifest states are
really in the files, areas tile, the next month's edition differs by exactly what is stated,
and the same seed gives the same bytes. Generated once per session at a small scale."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from pyogrio.raw import read
from pyproj import Transformer
from sqlalchemy import text

from registry import areas as registry_areas
from registry.dictionary import load_seed
from sample_gis import coords
from sample_gis.areas import STREETS, admin_areas
from sample_gis.boundary import SHARED
from sample_gis.generate import generate
from sample_gis.manifest import Manifest

SCALE, SEED = 0.02, 11
TO_LONLAT = {4547: Transformer.from_crs(4547, 4490, always_xy=True)}


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return generate(tmp_path_factory.mktemp("sample") / "a", scale=SCALE, seed=SEED)


def files(m: Manifest, edition: str = "v1") -> dict[str, dict]:
    return m["files"][edition]


def records(m: Manifest, key: str, edition: str = "v1", **kw) -> tuple[dict, dict, np.ndarray]:
    """(meta, fields by name, lon/lat (n, 2) in EPSG:4490) of one file or layer."""
    info = files(m, edition)[key]
    path = m.path(info["path"])
    if info["driver"] == "CSV":
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        cols = {k: np.array([r[k] for r in rows], dtype=object) for k in rows[0]}
        if "WKT" in cols:
            pts = shapely.from_wkt(cols["WKT"])
            xy = shapely.get_coordinates(pts)
        else:
            xy = np.column_stack(coords.from_gcj02(cols["lng"].astype(float),
                                                   cols["lat"].astype(float)))
        return {"crs": None}, cols, xy
    meta, _, geom, data = read(path, layer=info["layer"], **kw)
    cols = dict(zip(meta["fields"], data, strict=True))
    g = shapely.from_wkb(geom)
    if info["crs_declared"] == "EPSG:4547":  # a Shapefile without .prj is still in 4547
        g = shapely.transform(g, lambda c: np.column_stack(
            TO_LONLAT[4547].transform(c[:, 0], c[:, 1])))
    cols["_geom"] = g
    return meta, cols, g


def points_of(g: np.ndarray) -> np.ndarray:
    return shapely.get_coordinates(shapely.point_on_surface(g)) if g.dtype == object else g


def metres(lonlat: np.ndarray) -> np.ndarray:
    return np.column_stack(coords.to_metres(lonlat[:, 0], lonlat[:, 1]))


@pytest.fixture(scope="session")
def truth(sample: Manifest) -> dict[str, dict]:
    """source key → source id → truth row."""
    out: dict[str, dict] = {}
    with sample.path("truth.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            for pair in row["sources"].split(";"):
                key, sid = pair.split(":", 1)
                out.setdefault(key, {})[sid] = row
    return out


# --- determinism and caching ------------------------------------------------------------------

def test_same_seed_same_bytes_other_seed_other_sample(sample, tmp_path):
    again = generate(tmp_path / "b", scale=SCALE, seed=SEED, parallel=False)
    assert again.hash == sample.hash
    mine = sorted(p.relative_to(sample.root) for p in sample.root.rglob("*") if p.is_file())
    theirs = sorted(p.relative_to(again.root) for p in again.root.rglob("*") if p.is_file())
    assert mine == theirs
    for rel in mine:
        assert (sample.root / rel).read_bytes() == (again.root / rel).read_bytes(), rel
    other = generate(tmp_path / "c", scale=SCALE, seed=SEED + 1)
    assert other.hash != sample.hash
    assert other.path("truth.csv").read_bytes() != sample.path("truth.csv").read_bytes()


def test_a_complete_sample_is_not_generated_again(sample):
    before = {p: p.stat().st_mtime_ns for p in sample.root.rglob("*") if p.is_file()}
    m = generate(sample.root, scale=SCALE, seed=SEED)
    assert m.hash == sample.hash
    assert before == {p: p.stat().st_mtime_ns for p in sample.root.rglob("*") if p.is_file()}


def test_an_edited_manifest_means_an_incomplete_sample(tmp_path):
    m = generate(tmp_path / "x", scale=0.005, seed=1)
    doc = json.loads(m.path("manifest.json").read_text(encoding="utf-8"))
    doc["counts"]["entities"]["v1"] += 1
    m.path("manifest.json").write_text(json.dumps(doc), encoding="utf-8")
    again = generate(tmp_path / "x", scale=0.005, seed=1)
    assert again.hash == m.hash  # regenerated, same content


# --- admin areas ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def area_rows(sample) -> list[dict]:
    meta, _, geom, data = read(sample.path("areas.gpkg"), layer="admin_area")
    assert meta["crs"] == "EPSG:4490"
    rows = [dict(zip(meta["fields"], vals, strict=True)) for vals in zip(*data, strict=True)]
    for row, g in zip(rows, shapely.from_wkb(geom), strict=True):
        row["geometry"] = g
    return rows


def test_streets_communities_and_grids_tile_their_parents(area_rows):
    by_code = {r["code"]: r for r in area_rows}
    children: dict[str, list] = {}
    for r in area_rows:
        if r["parent_code"]:
            children.setdefault(r["parent_code"], []).append(r["geometry"])
    assert len(children) == 1 + 6 + 29  # district, streets, communities all have children
    for parent, kids in children.items():
        whole = by_code[parent]["geometry"].area
        assert abs(shapely.union_all(kids).area - whole) / whole < 1e-9, parent
        assert abs(sum(k.area for k in kids) - whole) / whole < 1e-9, parent
        tree = shapely.STRtree(kids)
        i, j = tree.query(kids, predicate="intersects")
        pairs = i < j
        overlap = shapely.area(shapely.intersection(np.array(kids)[i[pairs]],
                                                    np.array(kids)[j[pairs]]))
        assert overlap.sum() == 0, parent
    assert all(r["geometry"].is_valid for r in area_rows)


def test_areas_have_the_real_street_codes_and_sample_codes_below(area_rows):
    levels = Counter(r["level"] for r in area_rows)
    assert levels["district"] == 1 and levels["street"] == 6 and levels["community"] == 29
    assert 300 <= levels["grid"] <= 1500
    streets = {r["code"]: r["name"] for r in area_rows if r["level"] == "street"}
    assert streets == {code: name for code, name, _, _ in STREETS}
    assert streets["440311001"] == "光明街道" and streets["440311006"] == "马田街道"
    for r in area_rows:
        if r["level"] == "community":
            assert len(r["code"]) == 12 and r["code"].startswith(r["parent_code"])
            assert "sample" in r["code_origin"]
        if r["level"] == "grid":
            assert len(r["code"]) == 15 and r["code"].startswith(r["parent_code"])
            assert r["code"].isdigit()


@pytest.mark.skipif(not SHARED.parent.joinpath("guangming_areas.csv").exists(),
                    reason="../shared/data is not here")
def test_street_and_community_names_are_the_published_ones():
    with SHARED.parent.joinpath("guangming_areas.csv").open(encoding="utf-8") as f:
        published = {(r["street_code"], r["street_name"], r["community_name"])
                     for r in csv.DictReader(f)}
    ours = {(code, name, c) for code, name, _, cs in STREETS for c in cs}
    assert ours == published


def test_without_shared_data_the_committed_boundary_is_used(tmp_path, monkeypatch):
    from sample_gis import areas, boundary

    monkeypatch.setattr(boundary, "SHARED", tmp_path / "absent.geojson")
    areas.build.cache_clear()
    try:
        m = generate(tmp_path / "s", scale=0.005, seed=2)
        built = areas.build()
    finally:
        areas.build.cache_clear()
    assert m["boundary"] == "simplified"
    district = built[0].geometry
    streets = [a.geometry for a in built if a.level == "street"]
    assert abs(shapely.union_all(streets).area - district.area) / district.area < 1e-9
    assert m.counts["entities"]["v1"] > 1000


def test_admin_areas_load_into_the_registry(db, sample):
    with db.begin() as conn:
        registry_areas.upsert(conn, admin_areas())
        levels = dict(conn.execute(text(
            "SELECT level, count(*) FROM admin_area GROUP BY level")).all())
        # 城管 states each record's unit grid; PostGIS must place the point in the same one.
        meta, cols, g = records(sample, "chengguan/facilities.shp")
        inside = np.flatnonzero(cols["BGID"] != "")[:25]
        xy = shapely.get_coordinates(g[inside])
        found = [conn.execute(text("SELECT area_code('grid', ST_SetSRID(ST_Point(:x, :y), 4490))"),
                              {"x": x, "y": y}).scalar() for x, y in xy]
    assert levels == {"district": 1, "street": 6, "community": 29,
                      "grid": sample.counts["areas"]["grid"]}
    assert found == list(cols["BGID"][inside])


# --- files: open with GDAL, CRS, encoding, counts -------------------------------------------------

def test_every_file_opens_with_gdal_in_its_declared_crs(sample):
    for edition in ("v1", "v2"):
        for key, info in files(sample, edition).items():
            meta = pyogrio.read_info(sample.path(info["path"]), layer=info["layer"])
            assert meta["features"] == info["features"], key
            if info["driver"] == "CSV":
                assert meta["crs"] is None  # a CSV carries no CRS: the manifest states it
            elif info["missing_sidecar"] == ".prj":
                assert meta["crs"] is None
                assert not sample.path(info["path"]).with_suffix(".prj").exists()
            else:
                assert meta["crs"] == info["crs_declared"], key
                assert meta["geometry_type"] == info["geometry"], key


def test_record_counts_per_category_match_the_manifest(sample):
    seed = load_seed().categories
    for edition in ("v1", "v2"):
        total = 0
        for key, info in files(sample, edition).items():
            src = sample["sources"][key.split("/")[0]]
            _, cols, _ = records(sample, key, edition, encoding=None)
            cmap = src["category_map"] if isinstance(src["category_map"], dict) else {}
            found = Counter(cmap.get(v, v) for v in cols[src["category_field"]])
            assert dict(found) == info["categories"], key
            assert set(found) <= set(seed)
            total += info["features"]
        assert total == sample.counts["records"][edition]
        f = sample["faults"]
        entities = sample.counts["entities"][edition]
        assert total == (entities + f["cross_department"]["count"]
                         + f["duplicate_in_file"]["count"] + f["outside_district"]["count"])
    assert sample.counts["categories"] >= 20 and sample.counts["sources"] >= 4


def test_gbk_shapefile_reads_right_only_as_gbk(sample):
    info = files(sample)["chengguan/manhole_covers.shp"]
    path = sample.path(info["path"])
    assert path.with_suffix(".cpg").read_text() == "GBK"
    assert "上水井盖".encode("gbk") in path.with_suffix(".dbf").read_bytes()
    _, cols, _ = records(sample, "chengguan/manhole_covers.shp", encoding="GBK")
    assert "雨水箅子" in set(cols["ObjName"])


def test_shapefile_without_cpg_gives_mojibake_unless_told_gbk(sample):
    key = "chengguan/street_trees.shp"
    path = sample.path(files(sample)[key]["path"])
    assert not path.with_suffix(".cpg").exists()
    _, plain, _ = records(sample, key)
    _, gbk, _ = records(sample, key, encoding="GBK")
    assert set(gbk["ObjName"]) == {"行道树"}
    assert "行道树" not in set(plain["ObjName"])
    assert plain["ObjName"][0] == "行道树".encode("gbk").decode("latin-1")


# --- faults ---------------------------------------------------------------------------------

def fault_ids(sample, kind: str, key: str) -> list[dict]:
    return [r for r in sample["faults"][kind]["records"] if r["file"] == key]


def test_duplicates_are_in_the_files_as_stated(sample):
    for key in files(sample):
        src = sample["sources"][key.split("/")[0]]
        _, cols, _ = records(sample, key)
        twice = {i for i, n in Counter(cols[src["id_field"]]).items() if n > 1}
        assert twice == {r["source_id"] for r in fault_ids(sample, "duplicate_in_file", key)}
    assert sample["faults"]["duplicate_in_file"]["count"] > 0


def test_missing_attributes_are_in_the_files_as_stated(sample):
    for key in files(sample):
        src = sample["sources"][key.split("/")[0]]
        _, cols, _ = records(sample, key, encoding="GBK" if "street_trees" in key else None)
        listed = fault_ids(sample, "missing_attribute", key)
        stated = Counter(r["field"] for r in listed)
        for field in set(stated) | {"ObjState", "ZT", "JZCS", "status"} & set(cols):
            col = cols[field]
            empty = [c is None or c == "" or (isinstance(c, np.datetime64) and np.isnat(c))
                     or (isinstance(c, float) and np.isnan(c)) for c in col]
            ids = set(cols[src["id_field"]][np.array(empty, bool)])
            assert ids == {r["source_id"] for r in listed if r["field"] == field}, (key, field)
    assert sample["faults"]["missing_attribute"]["count"] > 0


def test_invalid_geometries_are_invalid_and_only_those(sample):
    checked = 0
    for key, info in files(sample).items():
        if info["geometry"] == "Point":
            continue
        src = sample["sources"][key.split("/")[0]]
        _, cols, g = records(sample, key)
        bad = set(cols[src["id_field"]][~shapely.is_valid(g)])
        assert bad == {r["source_id"] for r in fault_ids(sample, "invalid_geometry", key)}
        checked += len(bad)
    assert checked == sample["faults"]["invalid_geometry"]["count"] > 0


def test_outside_records_are_outside_and_only_those(sample, area_rows):
    district = next(r["geometry"] for r in area_rows if r["level"] == "district")
    for key in files(sample):
        src = sample["sources"][key.split("/")[0]]
        _, cols, g = records(sample, key)
        out = ~shapely.contains_xy(district, *points_of(g).T)
        listed = fault_ids(sample, "outside_district", key)
        assert set(cols[src["id_field"]][out]) == {r["source_id"] for r in listed}, key
        assert all(r["distance_m"] >= 300 for r in listed)
    assert sample["faults"]["outside_district"]["count"] > 0


def test_cross_department_copies_stand_1_to_3_m_apart(sample):
    _, cg, cg_g = records(sample, "chengguan/manhole_covers.shp")
    _, sw, sw_g = records(sample, "shuiwu/water.gpkg:ps_point")
    cg_at = dict(zip(cg["ObjID"], metres(points_of(cg_g)), strict=True))
    sw_at = dict(zip(sw["SBBM"], metres(points_of(sw_g)), strict=True))
    pairs = sample["faults"]["cross_department"]["records"]
    assert len(pairs) > 0
    for p in pairs:
        d = np.hypot(*(cg_at[p["chengguan"]["source_id"]] - sw_at[p["shuiwu"]["source_id"]]))
        assert 0.99 <= d <= 3.01 and abs(d - p["distance_m"]) < 0.01


def test_missing_sidecars_are_missing(sample):
    listed = {(r["file"], r["sidecar"]) for r in sample["faults"]["missing_sidecar"]["records"]}
    assert listed == {("chengguan/street_trees.shp", ".cpg"),
                      ("chengguan/street_lamps.shp", ".prj")}
    for edition in ("v1", "v2"):
        for f, sidecar in listed:
            shp = sample.root / edition / f
            assert shp.exists() and not shp.with_suffix(sidecar).exists()


# --- positions against the truth ---------------------------------------------------------------

def test_delivered_positions_are_the_true_ones(sample, truth):
    """Every record of a district entity is within 1 m of its true position, GCJ-02 ones once
    converted back; 城管's copies of 水务 manholes are the stated 1-3 m off."""
    twins = {p["chengguan"]["source_id"] for p in
             sample["faults"]["cross_department"]["records"]}
    for key in files(sample):
        source = key.split("/")[0]
        src = sample["sources"][source]
        _, cols, g = records(sample, key)
        ok = shapely.is_valid(g) if g.dtype == object else np.ones(len(g), bool)
        ids = cols[src["id_field"]]
        known = np.array([i in truth[source] for i in ids]) & ok
        got = metres(points_of(g)[known])
        rows = [truth[source][i] for i in ids[known]]
        want = metres(np.array([[float(r["lon"]), float(r["lat"])] for r in rows]))
        d = np.hypot(*(got - want).T)
        far = np.array([i in twins for i in ids[known]])
        assert (d[~far] < 1.0).all(), key
        assert ((d[far] > 0.99) & (d[far] < 3.01)).all(), key
        assert known.sum() == len(ids) - len(fault_ids(sample, "outside_district", key)) \
            - len(fault_ids(sample, "invalid_geometry", key))


def test_iot_coordinates_are_really_gcj02(sample, truth):
    path = sample.path(files(sample)["iot/devices.csv"]["path"])
    with path.open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["device_sn"] in truth["iot"]]
    raw = np.array([[float(r["lng"]), float(r["lat"])] for r in rows])
    true = np.array([[float(truth["iot"][r["device_sn"]][k]) for k in ("lon", "lat")]
                     for r in rows])
    east, north = (metres(raw) - metres(true)).T
    # The published GCJ-02 offset at 光明: about 500 m east and 330 m south of WGS84.
    assert (abs(east - 500) < 60).all() and (abs(north + 330) < 60).all()


# --- next month -----------------------------------------------------------------------------

def test_next_month_differs_by_exactly_the_stated_changes(sample):
    stated = sample["changes"]
    for source, src in sample["sources"].items():
        found: dict[str, set] = {k: set() for k in ("added", "removed", "moved", "changed")}
        for key in src["fields"]:
            recs = {}
            for edition in ("v1", "v2"):
                _, cols, g = records(sample, key, edition)
                pts = metres(points_of(g))
                geo = {"WKT", "lng", "lat", "_geom", "BGID"}
                attrs = [c for c in cols if c not in geo]
                recs[edition] = {
                    cols[src["id_field"]][k]: (pts[k], tuple(str(cols[c][k]) for c in attrs))
                    for k in range(len(pts))}
            v1, v2 = recs["v1"], recs["v2"]
            found["added"] |= set(v2) - set(v1)
            found["removed"] |= set(v1) - set(v2)
            for i in set(v1) & set(v2):
                if np.hypot(*(v1[i][0] - v2[i][0])) > 0.01:
                    found["moved"].add(i)
                elif v1[i][1] != v2[i][1]:
                    found["changed"].add(i)
        for kind, ids in found.items():
            assert sorted(ids) == stated[source][kind]["source_ids"], (source, kind)
            assert len(ids) == stated[source][kind]["count"]
    assert all(stated[s][k]["count"] > 0 for s in stated for k in ("added", "removed", "changed"))


def test_truth_counts_match_the_manifest(sample):
    with sample.path("truth.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sample.counts["entities"]["all"] == sample["truth"]["rows"]
    for edition in ("v1", "v2"):
        n = Counter(r["category"] for r in rows if r[f"in_{edition}"] == "1")
        assert dict(n) == {c: v[edition] for c, v in sample.counts["by_category"].items()}
        assert sum(n.values()) == sample.counts["entities"][edition]


def test_cli_generates_and_then_finds_the_sample(tmp_path):
    from typer.testing import CliRunner

    from api.cli.main import app

    runner = CliRunner()
    args = ["sample", "generate", "--scale", "0.005", "--seed", "3", "--out", str(tmp_path)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert (tmp_path / "manifest.json").exists() and "entities" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "(cached)" in second.output
    assert Path(tmp_path / "v2" / "iot" / "devices.csv").exists()
