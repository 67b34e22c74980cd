"""Requests a probe of the running API answered with a 500 (or with a silent 200): each now gets
the 4xx that says what to fix, and writes refuse what they used to drop without a word."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from loaders.pipeline import Options, run
from registry import reads
from tests.conftest import COUNTY
from tests.test_api_writes import AUTH, TOKEN, lamp


@pytest.fixture
def client(settings, district):
    with TestClient(create_app(settings.model_copy(update={"write_token": TOKEN}))) as c:
        yield c


def _create(client, **props) -> str:
    r = client.post("/collections/lighting/items", json=lamp(**props), headers=AUTH)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_an_edit_of_a_retired_entity_is_410_with_its_status(client):
    code = _create(client)
    assert client.post(f"/entities/{code}/retire", headers=AUTH).status_code == 200
    r = client.patch(f"/collections/lighting/items/{code}", headers=AUTH,
                     json={"properties": {"name": "x"}})
    assert r.status_code == 410 and r.json()["entity_status"] == "retired", r.text


def test_a_source_id_linked_to_another_entity_is_409(client):
    src = [{"dataset": "城管", "source_id": "L-1"}]
    first = _create(client, sources=src)
    r = client.post("/collections/lighting/items", json=lamp(113.82, sources=src), headers=AUTH)
    assert r.status_code == 409 and r.json()["entity_code"] == first, r.text


@pytest.mark.parametrize(("bbox", "crs", "status"), [
    ("1,1,1,1", "http://www.opengis.net/def/crs/EPSG/0/3857", 200),
    ("0,0,1e300,1e300", "http://www.opengis.net/def/crs/EPSG/0/3857", 400),
])
def test_a_bbox_of_no_size_or_beyond_its_crs_in_a_projected_crs(client, bbox, crs, status):
    r = client.get("/collections/lighting/items", params={"bbox": bbox, "bbox-crs": crs})
    assert r.status_code == status, r.text
    if status == 400:
        assert "outside the area where EPSG:3857 is defined" in r.json()["detail"]


@pytest.mark.parametrize("cell", ["-1", "608c411c3338937ff", "1" * 1000])
def test_a_malformed_h3_cell_is_400(client, cell):
    r = client.get(f"/h3/{cell}/entities")
    assert r.status_code == 400 and "is not an H3 cell" in r.json()["detail"], r.text


def test_a_valid_from_without_a_zone_is_utc(client):
    code = _create(client)
    r = client.post(f"/entities/{code}/suspend", headers=AUTH,
                    json={"valid_from": "2099-01-01T00:00:00"})
    assert r.status_code == 200, r.text
    history = client.get(f"/entities/{code}/history").json()
    assert "2099-01-01T00:00:00+00:00" in str(history)


def test_numbers_beyond_64_bits_in_attributes_are_refused(client):
    r = client.post("/collections/lighting/items", headers=AUTH,
                    json=lamp(attributes={"x": 10**400}))
    assert r.status_code == 422 and "beyond 64 bits" in r.json()["detail"], r.text
    code = _create(client, attributes={"x": 2**62})
    assert client.get(f"/e/{code}").status_code == 200


def test_an_edit_refuses_what_it_cannot_change_instead_of_dropping_it(client):
    code = _create(client)
    url = f"/collections/lighting/items/{code}"
    r = client.patch(url, headers=AUTH, json={"properties": {"status": "retired"}})
    assert r.status_code == 422 and "/retire" in r.json()["detail"], r.text
    r = client.patch(url, headers=AUTH, json={"properties": {"category": "0101"}})
    assert r.status_code == 422 and "replace" in r.json()["detail"], r.text
    r = client.patch(url, headers=AUTH, json={"properties": {
        "sources": [{"dataset": "a", "source_id": "1"}]}})
    assert r.status_code == 422 and "linked when an entity is created" in r.json()["detail"]
    same = client.patch(url, headers=AUTH, json={"properties": {"status": "active",
                                                                 "category": "0118",
                                                                 "name": "路灯 9"}})
    assert same.status_code == 200 and same.json()["properties"]["name"] == "路灯 9"


def test_a_split_with_a_valid_from_is_refused(client):
    code = _create(client)
    r = client.post(f"/entities/{code}/split", headers=AUTH, json={
        "parts": [lamp(), lamp(113.811)], "valid_from": "2020-01-01T00:00:00Z"})
    assert r.status_code == 422 and "takes effect now" in r.json()["detail"], r.text


def test_an_actor_named_in_chinese_is_kept(client, engine):
    r = client.post("/collections/lighting/items", json=lamp(),
                    headers={**AUTH, "X-Citytwin-Actor": "张三".encode()})
    assert r.status_code == 201
    with engine.connect() as conn:
        assert [v.actor for v in reads.history(conn, r.json()["id"])] == ["张三"]


def test_head_answers_every_get_and_405_says_what_is_allowed(client):
    r = client.head("/collections/lighting/items?limit=1")
    assert r.status_code == 200 and r.content == b"" and "etag" in r.headers
    r = client.delete("/collections", headers=AUTH)
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    assert "allowed: GET" in r.json()["detail"]


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (b"{bad", "application/json", "the body is not valid JSON at character 1"),
    (b"", None, "the request needs a JSON body"),
    (b'{"type": "Feature"}', "text/plain", "must be a JSON object, sent with Content-Type"),
])
def test_a_body_that_is_not_json_says_so(client, body, content_type, message):
    headers = {**AUTH, **({"content-type": content_type} if content_type else {})}
    r = client.post("/collections/lighting/items", content=body, headers=headers)
    assert r.status_code == 422 and message in r.json()["detail"], r.text


@pytest.mark.parametrize(("geometry", "message"), [
    ({}, "a GeoJSON geometry has a type"),
    ({"type": "Point"}, "a GeoJSON Point needs coordinates as [x, y]"),
    ({"type": "Point", "coordinates": ["a", "b"]}, "needs coordinates as [x, y]"),
    ({"type": "Point", "coordinates": [113.81, 22.71],
      "crs": {"type": "name", "properties": {"name": "EPSG:4547"}}}, "send lon/lat"),
])
def test_a_geometry_that_cannot_be_read_says_how_to_write_it(client, geometry, message):
    feature = {**lamp(), "geometry": geometry}
    r = client.post("/collections/lighting/items", json=feature, headers=AUTH)
    assert r.status_code in (400, 422) and message in r.json()["detail"], r.text
    assert "NoneType" not in r.text and "gufunc" not in r.text


def test_writes_have_limits(client):
    r = client.post("/collections/lighting/items", json=lamp(name="灯" * 501), headers=AUTH)
    assert r.status_code == 422 and "name" in r.json()["detail"]
    ring = [[113.8 + 0.01 * i / 100_001, 22.7 + (i % 2) * 1e-5] for i in range(100_001)]
    park = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [
        [[113.80, 22.70], *ring, [113.81, 22.72], [113.80, 22.70]]]},
        "properties": {"category": "0201"}}
    r = client.post("/collections/entities/items", json=park, headers=AUTH)
    assert r.status_code == 422 and "at most 100,000" in r.json()["detail"], r.text[:300]


def test_an_import_batch_names_its_file_not_the_servers_folders(client, engine, tmp_path):
    path = tmp_path / "lamps.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"ObjID": "A", "BJLX": "0118"},
         "geometry": {"type": "Point", "coordinates": [113.81, 22.71]}}]}))
    batch = run(engine, path, Options(dataset="t"), county=COUNTY).batch_id
    one = client.get(f"/imports/{batch}").json()
    assert one["file_name"] == "lamps.geojson" and one["counts"]["added"] == 1
    assert client.get("/imports").json()["imports"][0]["file_name"] == "lamps.geojson"


def test_an_area_collections_items_resolve_and_it_refuses_entity_parameters(client):
    first = client.get("/collections/streets/items").json()["features"][0]["id"]
    one = client.get(f"/collections/streets/items/{first}")
    assert one.status_code == 200 and one.json()["id"] == first
    r = client.get("/collections/streets/items", params={"filter": "garbage((("})
    assert r.status_code == 400 and "not filter" in r.json()["detail"], r.text


@pytest.mark.parametrize(("params", "message"), [
    ({"datetime": "foo/2026-01-01T00:00:00Z"}, "'foo' is not RFC 3339"),
    ({"datetime": "2026-01-01T00:00:00Z/2020-01-01T00:00:00Z"}, "the start is after the end"),
    ({"sortby": "code,foo"}, "sortby takes one key (got 2)"),
])
def test_every_part_of_datetime_and_sortby_is_checked(client, params, message):
    r = client.get("/collections/lighting/items", params=params)
    assert r.status_code == 400 and message in r.json()["detail"], r.text


def test_a_server_with_every_connection_busy_says_busy_and_still_answers_health(settings,
                                                                                 district):
    small = settings.model_copy(update={"pool_size": 1, "pool_overflow": 0,
                                        "pool_timeout": 0.5})
    with TestClient(create_app(small)) as c:
        with c.app.state.engine.connect():  # the only connection, held
            r = c.get("/collections/lighting/items")
            assert r.status_code == 503 and r.json()["code"] == "busy", r.text
            assert r.headers["retry-after"] == "5"
            assert c.get("/health").status_code == 200
            assert c.get("/codes/44031101180000019/check").status_code in (200, 422)
        assert c.get("/collections/lighting/items").status_code == 200


def test_every_link_of_a_tilesets_document_resolves(client):
    doc = client.get("/collections/lighting/tiles").json()
    for link in doc["tilesets"][0]["links"]:
        if not link.get("templated"):
            assert client.get(link["href"]).status_code == 200, link
    assert client.get("/tiles/map.json").json() == client.get("/tiles.json").json()


def test_bbox_crs_messages_name_the_parameter_and_the_axis_order(client):
    r = client.get("/collections/lighting/items", params={"bbox": "1,2,3,4",
                                                          "bbox-crs": "EPSG:2000"})
    assert r.status_code == 400 and r.json()["detail"].startswith("bbox-crs 'EPSG:2000'")
    r = client.get("/collections/lighting/items", params={
        "bbox": "113.9,22.7,114,22.8", "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"})
    assert r.status_code == 400 and "minlat,minlon,maxlat,maxlon" in r.json()["detail"], r.text


def test_an_item_in_another_crs_has_its_own_etag_which_if_match_takes(client):
    code = _create(client)
    url_ = f"/collections/lighting/items/{code}"
    plain = client.get(url_).headers["etag"]
    projected = client.get(url_, params={"crs": "http://www.opengis.net/def/crs/EPSG/0/4547"})
    assert projected.headers["etag"] != plain
    stale = client.get(url_, params={"crs": "http://www.opengis.net/def/crs/EPSG/0/4547"},
                       headers={"If-None-Match": plain})
    assert stale.status_code == 200  # not the CRS84 bytes' 304
    crs84 = client.get(url_, params={"crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"})
    lat_first = client.get(url_, params={"crs": "http://www.opengis.net/def/crs/EPSG/0/4490"})
    assert crs84.headers["etag"] == plain != lat_first.headers["etag"]  # same srid, other axes
    r = client.patch(url_, headers={**AUTH, "If-Match": projected.headers["etag"]},
                     json={"properties": {"name": "x"}})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("where", [[0, 0], [22.71, 113.81], [12669000, 2599000]],
                         ids=["null-island", "lat-lon", "metres"])
def test_a_write_far_outside_the_district_is_refused(client, where):
    feature = {**lamp(), "geometry": {"type": "Point", "coordinates": where}}
    r = client.post("/collections/lighting/items", json=feature, headers=AUTH)
    assert r.status_code == 422 and ("outside the district" in r.json()["detail"] or
                                     "outside lon" in r.json()["detail"]), r.text
    code = _create(client)
    r = client.patch(f"/collections/lighting/items/{code}", headers=AUTH,
                     json={"geometry": {"type": "Point", "coordinates": [0, 0]}})
    assert r.status_code == 422 and "outside the district" in r.json()["detail"], r.text


@pytest.mark.parametrize("category", ["zz", "9999"])
def test_a_category_parameter_not_in_the_dictionary_is_400_like_any_parameter(client,
                                                                               category):
    r = client.get("/areas/440311001/entities", params={"category": category})
    assert r.status_code == 400 and r.json()["code"] == "invalid_parameter", r.text


def test_a_replacement_far_outside_the_district_is_refused(client):
    code = _create(client)
    far = {**lamp(), "geometry": {"type": "Point", "coordinates": [116.4, 39.9]}}  # Beijing
    r = client.post(f"/entities/{code}/replace", headers=AUTH, json={"by": far})
    assert r.status_code == 422 and "outside the district" in r.json()["detail"], r.text


def test_if_match_takes_a_list_of_etags(client):
    code = _create(client)
    url_ = f"/collections/lighting/items/{code}"
    r = client.patch(url_, headers={**AUTH, "If-Match": f'"{code}-7", "{code}-1"'},
                     json={"properties": {"name": "a"}})
    assert r.status_code == 200, r.text
    r = client.patch(url_, headers={**AUTH, "If-Match": f'"{code}-1", W/"{code}-3"'},
                     json={"properties": {"name": "b"}})
    assert r.status_code == 412 and "not 1 or 3" in r.json()["detail"], r.text
