"""Real clients against a real server on 127.0.0.1: GDAL's OAPIF driver (the path QGIS uses),
OWSLib's OGC API Features client, and schemathesis over the OpenAPI document."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from sqlalchemy import text

from tests.conftest import api_server, load_builtin_sample


@pytest.fixture(scope="module")
def server(engine, settings):
    load_builtin_sample(engine)
    with api_server(settings) as base:
        yield base


def count(engine, where: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM entity WHERE {where}")).scalar()


def test_gdal_lists_the_collections(server):
    out = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{server}"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for layer in ("manholes", "lighting", "buildings", "streets"):
        assert f": {layer} (" in out.stdout


def test_gdal_reads_items_with_spat_and_where(server, engine, tmp_path):
    target = tmp_path / "out.geojson"
    out = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", str(target), f"OAPIF:{server}", "manholes",
         "-spat", "113.88", "22.72", "113.95", "22.79", "-where", "condition = 'damaged'"],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(target.read_text())["features"]
    expected = count(engine, "category BETWEEN '0101' AND '0112' AND condition = 'damaged' AND "
                             "geom && ST_MakeEnvelope(113.88, 22.72, 113.95, 22.79, 4490)")
    assert len(got) == expected > 0
    assert all(f["properties"]["condition"] == "damaged" for f in got)


def test_owslib_reads_collections_bbox_and_cql2(server, engine):
    from owslib.ogcapi.features import Features

    api = Features(server)
    ids = [c["id"] for c in api.collections()["collections"]]
    assert "lighting" in ids
    bbox = [113.88, 22.72, 113.95, 22.79]
    items = api.collection_items("lighting", bbox=bbox, limit=1000)
    assert items["numberMatched"] == count(
        engine, "category IN ('0118', '0119', '0120', '0805') AND "
                "geom && ST_MakeEnvelope(113.88, 22.72, 113.95, 22.79, 4490)")
    damaged = api.collection_items("entities", filter="condition = 'lost'", limit=1000)
    assert damaged["numberReturned"] == count(engine, "condition = 'lost'") > 0


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(server, tmp_path):
    cli = shutil.which("schemathesis", path=os.path.dirname(sys.executable))
    out = subprocess.run(
        [cli, "run", f"{server}/api", "--checks",
         "not_a_server_error,response_schema_conformance", "--max-examples", "25",
         "--seed", "2214", "--no-color"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-4000:]
