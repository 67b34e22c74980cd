"""OGC API - Features (Parts 1-3) over the built-in sample, checked against the database."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from tests.conftest import load_builtin_sample


@pytest.fixture(scope="module")
def client(engine, settings):
    load_builtin_sample(engine)
    with TestClient(create_app(settings)) as c:
        yield c


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def test_landing_and_conformance(client):
    doc = client.get("/", headers={"Accept": "application/json"}).json()
    rels = {link["rel"] for link in doc["links"]}
    assert {"self", "conformance", "data", "service-desc", "service-doc"} <= rels
    page = client.get("/?f=html")
    assert page.headers["content-type"].startswith("text/html") and "collections" in page.text
    conf = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter" in conf


def test_collections_are_the_layer_catalog(client):
    docs = client.get("/collections").json()["collections"]
    ids = [d["id"] for d in docs]
    assert {"entities", "manholes", "lighting", "streets", "grids"} <= set(ids)
    one = client.get("/collections/manholes").json()
    minx, miny, maxx, maxy = one["extent"]["spatial"]["bbox"][0]
    assert 113.8 < minx < maxx < 114.1 and 22.6 < miny < maxy < 22.9
    assert "http://www.opengis.net/def/crs/EPSG/0/4547" in one["crs"]
    assert client.get("/collections/nope").status_code == 404


def test_items_match_the_database_and_page_through(client, engine):
    expected = scalar(engine, "SELECT count(*) FROM entity WHERE category BETWEEN '0101' AND "
                              "'0112'")
    first = client.get("/collections/manholes/items?limit=40").json()
    assert first["numberMatched"] == expected and first["numberReturned"] == 40
    seen, page = [], first
    while True:
        seen += [f["id"] for f in page["features"]]
        nxt = [link for link in page["links"] if link["rel"] == "next"]
        if not nxt:
            break
        page = client.get(nxt[0]["href"]).json()
    assert len(seen) == len(set(seen)) == expected
    assert all(f["properties"]["category"] <= "0112" for f in first["features"])


def test_bbox_and_filter(client, engine):
    bbox = "113.88,22.72,113.95,22.79"
    got = client.get(f"/collections/entities/items?bbox={bbox}&limit=1000").json()
    expected = scalar(engine, "SELECT count(*) FROM entity WHERE ST_Intersects(geom, "
                              "ST_MakeEnvelope(113.88, 22.72, 113.95, 22.79, 4490))")
    assert got["numberMatched"] == got["numberReturned"] == expected > 0
    cql = "condition = 'damaged' AND category = '0118'"
    filtered = client.get("/collections/entities/items", params={"filter": cql,
                                                                  "limit": 1000}).json()
    n = scalar(engine, "SELECT count(*) FROM entity WHERE condition = 'damaged' "
                       "AND category = '0118'")
    assert filtered["numberReturned"] == n
    assert all(f["properties"]["condition"] == "damaged" for f in filtered["features"])


def test_crs_output_and_bbox_crs(client):
    plain = client.get("/collections/fire/items?limit=1").json()["features"][0]
    lon, lat = plain["geometry"]["coordinates"]
    r = client.get("/collections/fire/items?limit=1&crs=http://www.opengis.net/def/crs/EPSG/0/4547")
    assert r.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4547>"
    north, east = r.json()["features"][0]["geometry"]["coordinates"]
    # CM 114E with a 500 km false easting; 光明 lies just west of it. Northing comes first.
    assert 2_500_000 < north < 2_540_000 and 480_000 < east < 501_000
    r = client.get("/collections/fire/items?limit=1&crs=http://www.opengis.net/def/crs/EPSG/0/4326")
    assert r.json()["features"][0]["geometry"]["coordinates"] == pytest.approx([lat, lon])
    lat_first = f"{lat - 0.001},{lon - 0.001},{lat + 0.001},{lon + 0.001}"
    hit = client.get("/collections/fire/items", params={
        "bbox": lat_first, "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"}).json()
    assert plain["id"] in [f["id"] for f in hit["features"]]
    assert client.get("/collections/fire/items?crs=EPSG:2000").status_code == 400


def test_sortby_and_properties(client):
    docs = client.get("/collections/entities/items?sortby=-name&limit=20"
                      "&properties=code,name").json()["features"]
    names = [f["properties"]["name"] for f in docs]
    assert names == sorted(names, reverse=True)
    assert set(docs[0]["properties"]) == {"code", "name"}
    assert client.get("/collections/entities/items?sortby=secret").status_code == 400
    assert client.get("/collections/entities/items?properties=geom_wkb").status_code == 400


def test_one_item_with_etag(client):
    fid = client.get("/collections/lighting/items?limit=1").json()["features"][0]["id"]
    r = client.get(f"/collections/lighting/items/{fid}")
    assert r.status_code == 200 and r.json()["id"] == fid
    assert r.headers["etag"] == f'"{fid}-1"'
    again = client.get(f"/collections/lighting/items/{fid}",
                       headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert client.get(f"/collections/manholes/items/{fid}").status_code == 404


def test_area_collections(client):
    streets = client.get("/collections/streets/items").json()
    assert streets["numberMatched"] == 6
    assert {f["properties"]["name"] for f in streets["features"]} >= {"光明街道", "马田街道"}


def test_queryables_and_html(client):
    q = client.get("/collections/entities/queryables")
    assert q.headers["content-type"].startswith("application/schema+json")
    assert {"code", "category", "geometry"} <= set(q.json()["properties"])
    page = client.get("/collections/lighting/items?f=html&limit=5")
    assert page.status_code == 200 and "<table>" in page.text


@pytest.mark.parametrize("query,status", [
    ("limit=100001", 400), ("limit=0", 400), ("filter=category%20%3D", 400),
    ("bbox=1,2,3", 400), ("bbox=114,22,113,23", 400), ("datetime=yesterday", 400),
    ("f=xml", 400), ("offset=-1", 400),
])
def test_bad_requests_say_what_to_fix(client, query, status):
    r = client.get(f"/collections/entities/items?{query}")
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json" and r.json()["detail"]
