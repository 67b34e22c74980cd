"""Vector tiles: decoded and counted against the database; hexagons at low zoom; the budget
degrades instead of truncating; a write invalidates exactly the tiles it touches."""

from __future__ import annotations

import math

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from tests.conftest import load_builtin_sample

TOKEN = "tile-test-token"


def xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


@pytest.fixture(scope="module")
def sample(engine):
    load_builtin_sample(engine)
    return engine


@pytest.fixture
def client(settings, sample):
    custom = settings.model_copy(update={"write_token": TOKEN, "tile_check_every": 0.0})
    with TestClient(create_app(custom)) as c:
        yield c


def decode(r) -> dict:
    return mapbox_vector_tile.decode(r.content) if r.status_code == 200 else {}


def count_in_tile(engine, z: int, x: int, y: int, where: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(
            f"SELECT count(*) FROM entity WHERE {where} AND ST_Intersects(geom, "
            "ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490))"), {"z": z, "x": x, "y": y}
        ).scalar()


def densest_point(engine) -> tuple[float, float]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM entity "
                                "WHERE category = '0118' ORDER BY code LIMIT 1")).one()
    return row[0], row[1]


def test_raw_tiles_hold_every_feature_of_the_tile(client, sample):
    lon, lat = densest_point(sample)
    for z in (14, 15):
        x, y = xy(lon, lat, z)
        r = client.get(f"/tiles/lighting/{z}/{x}/{y}.mvt")
        assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        assert r.headers["x-tile-aggregated"] == "0"
        features = decode(r)["lighting"]["features"]
        expected = count_in_tile(sample, z, x, y, "category IN ('0118', '0119', '0120', '0805')")
        inside = [f for f in features if all(0 <= c <= 4096 for c in
                                             f["geometry"]["coordinates"])]
        assert len(inside) == expected > 0
        assert set(features[0]["properties"]) == {"code", "category", "status"}


def test_low_zoom_tiles_are_hexagon_counts_that_add_up(client, sample):
    total = 0
    z = 8
    lon, lat = densest_point(sample)
    x0, y0 = xy(lon, lat, z)
    seen = set()
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            r = client.get(f"/tiles/lighting/{z}/{x0 + dx}/{y0 + dy}.mvt")
            if r.status_code == 204:
                continue
            assert r.headers["x-tile-aggregated"] == "1"
            for f in decode(r)["lighting"]["features"]:
                assert f["geometry"]["type"] == "Polygon"
                if f["properties"]["cell"] not in seen:  # a hexagon may straddle tiles
                    seen.add(f["properties"]["cell"])
                    total += f["properties"]["count"]
    with sample.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM entity WHERE category IN "
                              "('0118', '0119', '0120', '0805')")).scalar()
    assert total == n


def test_low_zoom_tiles_of_the_district_are_small(client, sample):
    lon, lat = densest_point(sample)
    for z in (10, 11, 12):
        x, y = xy(lon, lat, z)
        r = client.get(f"/tiles/map/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": "identity"})
        assert len(r.content) <= 500_000


def test_a_full_tile_degrades_to_hexagons_and_says_so(settings, sample):
    lon, lat = densest_point(sample)
    z = 14
    x, y = xy(lon, lat, z)
    here = count_in_tile(sample, z, x, y, "true")
    tight = settings.model_copy(update={"tile_budget": max(here - 1, 1)})
    roomy = settings.model_copy(update={"tile_budget": 2 * here + 100})  # the buffer reads more
    with TestClient(create_app(tight)) as c:
        r = c.get(f"/tiles/entities/{z}/{x}/{y}.mvt")
        assert r.headers["x-tile-aggregated"] == "1"  # never a silently shortened tile
        hexes = decode(r)["entities"]["features"]
        assert all(f["geometry"]["type"] == "Polygon" for f in hexes)
    with TestClient(create_app(roomy)) as c:
        r = c.get(f"/tiles/entities/{z}/{x}/{y}.mvt")
        assert r.headers["x-tile-aggregated"] == "0"
        assert len(decode(r)["entities"]["features"]) >= here


def test_cache_hits_and_exact_invalidation_on_write(client, sample):
    lon, lat = densest_point(sample)
    with sample.connect() as conn:
        code = conn.execute(text("SELECT code FROM entity WHERE category = '0118' "
                                 "ORDER BY code LIMIT 1")).scalar()
    z = 16
    here = xy(lon, lat, z)
    far = xy(lon + 0.05, lat + 0.05, z)
    there = xy(lon + 0.01, lat, z)
    for t in (here, far, there):
        client.get(f"/tiles/lighting/{z}/{t[0]}/{t[1]}.mvt")
    assert client.get(f"/tiles/lighting/{z}/{here[0]}/{here[1]}.mvt").headers[
        "x-tile-cache"] == "hit"
    r = client.patch(f"/collections/lighting/items/{code}",
                     headers={"Authorization": f"Bearer {TOKEN}"},
                     json={"geometry": {"type": "Point", "coordinates": [lon + 0.01, lat]}})
    assert r.status_code == 200, r.text
    old = client.get(f"/tiles/lighting/{z}/{here[0]}/{here[1]}.mvt")
    new = client.get(f"/tiles/lighting/{z}/{there[0]}/{there[1]}.mvt")
    untouched = client.get(f"/tiles/lighting/{z}/{far[0]}/{far[1]}.mvt")
    assert old.headers["x-tile-cache"] == new.headers["x-tile-cache"] == "miss"
    assert untouched.headers["x-tile-cache"] == "hit"
    codes_now = [f["properties"]["code"] for f in decode(new).get("lighting", {"features": []})
                 ["features"]]
    assert code in codes_now
    assert code not in [f["properties"]["code"] for f in
                        decode(old).get("lighting", {"features": []})["features"]]


def test_tilejson_style_and_ogc_tiles(client, sample):
    tj = client.get("/tiles.json").json()
    assert tj["tilejson"] == "3.0.0" and tj["tiles"][0].endswith("/tiles/map/{z}/{x}/{y}.mvt")
    assert {"lighting", "streets"} <= {v["id"] for v in tj["vector_layers"]}
    one = client.get("/tiles/fire.json").json()
    assert one["tiles"][0].endswith("/tiles/fire/{z}/{x}/{y}.mvt")
    style = client.get("/styles/default.json").json()
    assert style["version"] == 8 and style["sources"]["citytwin"]["url"].endswith("/tiles.json")
    assert client.get("/tileMatrixSets/WebMercatorQuad").json()["id"] == "WebMercatorQuad"
    sets = client.get("/collections/fire/tiles").json()["tilesets"][0]
    assert sets["dataType"] == "vector"
    lon, lat = densest_point(client.app.state.engine)
    x, y = xy(lon, lat, 15)
    ogc = client.get(f"/collections/lighting/tiles/WebMercatorQuad/15/{y}/{x}")
    plain = client.get(f"/tiles/lighting/15/{x}/{y}.mvt")
    assert ogc.content == plain.content


@pytest.mark.parametrize("path,status", [
    ("/tiles/lighting/3/8/1.mvt", 400), ("/tiles/lighting/23/0/0.mvt", 400),
    ("/tiles/nope/1/0/0.mvt", 404), ("/tiles/lighting/1/0/-1.mvt", 400),
])
def test_bad_tile_requests(client, path, status):
    r = client.get(path)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
