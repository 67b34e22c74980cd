"""The HTTP API: /health and /entities/{code}, with problem+json errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from registry import lineage, migrate
from registry.codes import make
from registry.entities import NewEntity
from tests.conftest import point
from tests.test_entities import register


@pytest.fixture
def client(settings, district):
    with TestClient(create_app(settings)) as c:
        yield c


def test_health_reports_database_postgis_and_schema(client):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["database"] == "reachable"
    assert body["postgis"].startswith("3.")
    assert body["schema_revision"] == migrate.head() is not None


def test_an_entity_is_a_geojson_feature(client, district):
    [code] = register(district, NewEntity("0118", point(113.81, 22.71), name="路灯 7",
                                          condition="占用", dept_maintainer="养护公司"))
    r = client.get(f"/entities/{code}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    f = r.json()
    assert f["type"] == "Feature" and f["id"] == code
    assert f["geometry"] == {"type": "Point", "coordinates": [113.81, 22.71]}
    p = f["properties"]
    assert (p["category"], p["category_name"], p["status"], p["condition"]) == \
        ("0118", "路灯", "active", "occupied")
    assert p["street"] == {"code": "440311001", "name": "光明街道"}
    assert p["grid"]["code"] == "440311001001001"
    assert p["departments"]["maintainer"] == "养护公司"
    assert p["version"] == 1
    assert {"rel": "self", "type": "application/geo+json",
            "href": f"/entities/{code}"} in f["links"]


def test_a_retired_code_is_gone_with_its_successors(client, district):
    [old] = register(district, NewEntity("0118", point()))
    with district.begin() as conn:
        new = lineage.replace(conn, old, NewEntity("0118", point()), actor="x")
    r = client.get(f"/entities/{old}")
    assert r.status_code == 410
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "gone" and new in body["detail"]
    assert [s["code"] for s in body["successors"]] == [new]
    assert client.get(f"/entities/{new}").status_code == 200


def test_an_unknown_code_is_404(client):
    r = client.get(f"/entities/{make('440311', '0118', 999_999)}")
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "not_found"


@pytest.mark.parametrize("code,reason", [
    ("4403110118000001", "length"),
    ("44031101180000O1X", "non_digit"),
    ("44031101180000012", "check_digit"),
    ("99999901180000011", None),
])
def test_a_malformed_code_is_422_with_the_reason(client, code, reason):
    if reason is None:  # well-formed but of an unknown county
        code, reason = make("999999", "0118", 1), "unknown_county"
    r = client.get(f"/entities/{code}")
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid_code" and body["reason"] == reason
    assert "Traceback" not in r.text


def test_unknown_routes_answer_problem_json(client):
    r = client.get("/nope")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_openapi_is_served(client):
    r = client.get("/api")
    assert r.status_code == 200
    assert "/entities/{code}" in r.json()["paths"]


def test_an_unreachable_database_is_503_not_500():
    from registry.settings import Settings

    down = Settings(database_url="postgresql://nobody:x@127.0.0.1:9/none")
    with TestClient(create_app(down)) as c:
        for path in ("/health", f"/entities/{make('440311', '0118', 1)}"):
            r = c.get(path)
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "database_unavailable"


def test_every_response_carries_a_request_id(client):
    r = client.get("/health", headers={"X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"
    assert len(client.get("/health").headers["x-request-id"]) == 16
    nul = client.get("/entities/1?x=%00")
    assert nul.status_code == 400 and nul.headers["x-request-id"]


def test_large_responses_are_gzipped(client):
    r = client.get("/api", headers={"Accept-Encoding": "gzip"})
    assert r.headers.get("content-encoding") == "gzip"


def test_cors_only_for_configured_origins(settings, district):
    allowed = settings.model_copy(update={"cors_origins": ["https://cim.example.gov.cn"]})
    with TestClient(create_app(allowed)) as c:
        ok = c.get("/health", headers={"Origin": "https://cim.example.gov.cn"})
        other = c.get("/health", headers={"Origin": "https://evil.example"})
    assert ok.headers["access-control-allow-origin"] == "https://cim.example.gov.cn"
    assert "access-control-allow-origin" not in other.headers
