"""The registry's own endpoints: history, crosswalk, code check, dictionary, change feed,
areas, H3 cells, nearby, aggregates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from registry import entities
from registry.entities import NewEntity
from spatial import h3
from tests.conftest import point
from tests.test_entities import register


@pytest.fixture
def client(settings, district):
    with TestClient(create_app(settings)) as c:
        yield c


def test_history_and_as_of(client, district):
    [code] = register(district, NewEntity("0118", point(113.81, 22.71), name="A"))
    before = datetime.now(UTC)
    with district.begin() as conn:
        entities.update(conn, code, {"name": "B"}, actor="inspector", reason="renamed")
    doc = client.get(f"/entities/{code}/history").json()
    assert [v["change"] for v in doc["versions"]] == ["created", "updated"]
    assert doc["versions"][1]["actor"] == "inspector"
    past = client.get(f"/entities/{code}/history", params={"as_of": before.isoformat()})
    assert past.json()["entity"]["name"] == "A"
    assert client.get(f"/entities/{code}/history?as_of=yesterday").status_code == 400


def test_resolve_and_code_check(client, district):
    [code] = register(district, NewEntity("0113", point(), sources=[("水务", "XF-1")]))
    r = client.get("/resolve", params={"dataset": "水务", "source_id": "XF-1"})
    assert r.json()["code"] == code
    assert client.get("/resolve", params={"dataset": "水务", "source_id": "X"}).status_code == 404
    ok = client.get(f"/codes/{code}/check").json()
    assert ok["valid"] and ok["category"]["name_zh"] == "消防设施"
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    bad = client.get(f"/codes/{wrong}/check")
    assert bad.status_code == 422 and bad.json()["reason"] == "check_digit"


def test_categories_and_changes_feed(client, district):
    cats = client.get("/categories").json()
    assert {"code": "0118", "name_zh": "路灯"}.items() <= next(
        c for c in cats["categories"] if c["code"] == "0118").items()
    a, b = register(district, NewEntity("0118", point()), NewEntity("0305", point()))
    feed = client.get("/changes?since=0").json()
    assert [c["code"] for c in feed["changes"]] == [a, b]
    assert client.get(f"/changes?since={feed['next_since']}").json()["changes"] == []


def test_areas_cells_nearby_and_aggregates(client, district):
    codes = register(district, *(NewEntity("0118", point(113.801 + i * 0.001, 22.701))
                                 for i in range(5)))
    areas = client.get("/areas?level=grid").json()["areas"]
    assert len(areas) == 4
    inside = client.get("/areas/440311001001001/entities").json()
    assert inside["numberMatched"] == 5
    cell = h3.to_str(h3.cell(22.701, 113.801, 9))
    in_cell = client.get(f"/h3/{cell}/entities").json()
    assert codes[0] in [f["id"] for f in in_cell["features"]]
    assert client.get("/h3/zzz/entities").status_code == 400
    around = client.get(f"/entities/{codes[0]}/ring?k=1&res=8").json()
    assert set(codes) <= {f["id"] for f in around["features"]}
    near = client.get(f"/entities/{codes[0]}/nearby?k=2").json()["nearest"]
    assert [n["code"] for n in near] == codes[1:3]
    assert 100 < near[0]["distance_m"] < 105
    hexes = client.get("/collections/lighting/aggregate?by=h3:8").json()
    assert hexes["total"] == 5
    streets = client.get("/collections/lighting/aggregate?by=street").json()
    assert streets["areas"] == [{"code": "440311001", "name": "光明街道", "count": 5}]
    assert client.get("/collections/lighting/aggregate?by=h3:13").status_code == 400


def test_imports_listing_is_empty_before_any_import(client):
    assert client.get("/imports").json() == {"imports": []}
    assert client.get("/imports/1").status_code == 404
