"""Writes over HTTP (OGC API Features Part 4 and lifecycle actions): a key is needed, ETag /
If-Match protect concurrent edits, bad bodies are 4xx with a message."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from registry import reads

TOKEN = "test-token-not-a-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def lamp(x: float = 113.81, y: float = 22.71, **props) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": {"category": "0118", "name": "路灯 1", "condition": "完好", **props}}


@pytest.fixture
def client(settings, district):
    with TestClient(create_app(settings.model_copy(update={"write_token": TOKEN}))) as c:
        yield c


def test_writes_need_the_key(client, settings, district):
    assert client.post("/collections/lighting/items", json=lamp()).status_code == 401
    bad = client.post("/collections/lighting/items", json=lamp(),
                      headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401 and bad.json()["code"] == "unauthorized"
    with TestClient(create_app(settings)) as no_token:  # no token configured: writes off
        r = no_token.post("/collections/lighting/items", json=lamp(), headers=AUTH)
        assert r.status_code == 401 and "CITYTWIN_WRITE_TOKEN" in r.json()["detail"]


def test_create_read_update_delete(client, district):
    r = client.post("/collections/lighting/items", json=lamp(), headers=AUTH)
    assert r.status_code == 201, r.text
    code = r.json()["id"]
    assert r.headers["location"].endswith(f"/collections/lighting/items/{code}")
    assert r.headers["etag"] == f'"{code}-1"'
    assert r.json()["properties"]["street"]["code"] == "440311001"

    patched = client.patch(f"/collections/lighting/items/{code}", headers={
        **AUTH, "If-Match": f'"{code}-1"'}, json={"properties": {"condition": "damaged"}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["properties"]["condition"] == "damaged"
    assert patched.json()["properties"]["name"] == "路灯 1"  # untouched by PATCH

    stale = client.put(f"/collections/lighting/items/{code}", headers={
        **AUTH, "If-Match": f'"{code}-1"'}, json=lamp(name="路灯 2"))
    assert stale.status_code == 412 and stale.json()["code"] == "precondition_failed"

    put = client.put(f"/collections/lighting/items/{code}", headers={
        **AUTH, "If-Match": patched.headers["etag"]}, json=lamp(113.95, 22.75, name="路灯 2"))
    assert put.status_code == 200
    assert put.json()["properties"]["street"]["code"] == "440311002"  # moved east

    gone = client.delete(f"/collections/lighting/items/{code}", headers=AUTH)
    assert gone.status_code == 204
    assert client.get(f"/entities/{code}").status_code == 410
    with district.connect() as conn:
        assert [v.change for v in reads.history(conn, code)] == \
            ["created", "updated", "updated", "retired"]


def test_lifecycle_actions_and_lineage(client):
    code = client.post("/collections/lighting/items", json=lamp(), headers=AUTH).json()["id"]
    r = client.post(f"/entities/{code}/suspend", json={"reason": "road works"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    bad = client.post(f"/entities/{code}/suspend", headers=AUTH)
    assert bad.status_code == 409 and "cannot become suspended" in bad.json()["detail"]
    assert client.post(f"/entities/{code}/activate", headers=AUTH).status_code == 200
    split = client.post(f"/entities/{code}/split", headers=AUTH, json={
        "parts": [lamp(113.811, 22.711), lamp(113.812, 22.712)], "reason": "two poles"})
    assert split.status_code == 201, split.text
    parts = split.json()["created"]
    gone = client.get(f"/entities/{code}").json()
    assert sorted(s["code"] for s in gone["successors"]) == sorted(parts)
    merged = client.post("/entities/merge", headers=AUTH,
                         json={"codes": parts, "into": lamp(113.8115, 22.7115)})
    assert merged.status_code == 201
    assert client.get(f"/entities/{parts[0]}").status_code == 410


@pytest.mark.parametrize("body,status,words", [
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [113.8, 22.7]},
      "properties": {}}, 422, "category"),
    (lamp(category="0113"), 422, "does not belong"),
    ({**lamp(), "geometry": {"type": "Polygon", "coordinates": [[[113.8, 22.7],
                                                                   [113.81, 22.7],
                                                                   [113.8, 22.71],
                                                                   [113.8, 22.7]]]}},
     422, "takes point"),
    ({**lamp(), "geometry": {"type": "Point", "coordinates": [500000, 2500000]}}, 422,
     "outside lon"),
    ({"type": "Feature"}, 422, "geometry"),
    (lamp(condition="shiny"), 422, "condition"),
])
def test_bad_bodies_are_refused_with_a_reason(client, body, status, words):
    r = client.post("/collections/lighting/items", json=body, headers=AUTH)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"] and "Traceback" not in r.text


def test_writing_to_an_area_layer_or_a_bad_code(client):
    assert client.post("/collections/streets/items", json=lamp(), headers=AUTH).status_code == 422
    r = client.patch("/collections/lighting/items/123", headers=AUTH, json={"properties": {}})
    assert r.status_code == 422 and r.json()["code"] == "invalid_code"
