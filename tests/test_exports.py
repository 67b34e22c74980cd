"""What leaves the server as files: QR tags (decoded back), tag sheets, PMTiles archives."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
from pathlib import Path

import mapbox_vector_tile
import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image
from pmtiles.reader import MmapSource, Reader, all_tiles
from sqlalchemy import text

from api.app import create_app
from tests.conftest import load_builtin_sample

CLI = str(Path(sys.executable).parent / "citytwin")


@pytest.fixture(scope="module")
def sample(engine):
    load_builtin_sample(engine)
    return engine


@pytest.fixture
def env(settings):
    return {**os.environ, "CITYTWIN_DATABASE_URL": settings.database_url,
            "CITYTWIN_PUBLIC_URL": "https://citytwin.example.gov.cn"}


def a_code(engine, street: str = "440311001") -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT code FROM entity WHERE street_code = :s ORDER BY code "
                                 "LIMIT 1"), {"s": street}).scalar()


def test_qr_tags_decode_to_the_inspector_page(settings, sample):
    code = a_code(sample)
    public = settings.model_copy(update={"public_url": "https://citytwin.example.gov.cn"})
    with TestClient(create_app(public)) as c:
        png = c.get(f"/entities/{code}/qr.png")
        svg = c.get(f"/entities/{code}/qr.svg")
        bad = c.get(f"/entities/{code[:-1]}{(int(code[-1]) + 1) % 10}/qr.png")
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)).convert("L"))
    assert [d.text for d in decoded] == [f"https://citytwin.example.gov.cn/e/{code}"]
    assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
    assert bad.status_code == 422


def test_a_tag_sheet_for_a_street(sample, env, tmp_path):
    with sample.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM entity WHERE street_code = '440311001'"))
        n = n.scalar()
    pdf, svg = tmp_path / "tags.pdf", tmp_path / "tags.svg"
    outputs = {}
    for out in (pdf, svg):
        r = subprocess.run([CLI, "qr", "sheet", "--street", "440311001", str(out)], env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert f"{n} tags" in r.stdout
        outputs[out.suffix] = r.stdout
    pages = -(-n // 15)  # 3 x 5 tags a page
    assert pdf.read_bytes().startswith(b"%PDF") and f"on {pages} pages" in outputs[".pdf"]
    body = svg.read_text(encoding="utf-8")
    assert body.count("<text") == 2 * n and a_code(sample) in body
    r = subprocess.run([CLI, "qr", "sheet", "--street", "440311999", str(svg)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no " in r.stderr


def test_pmtiles_export_reads_back(sample, env, tmp_path):
    out = tmp_path / "map.pmtiles"
    r = subprocess.run([CLI, "tiles", "export", str(out), "--layer", "lighting", "--minzoom",
                        "12", "--maxzoom", "15"], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    with out.open("rb") as f:
        reader = Reader(MmapSource(f))
        header = reader.header()
        assert (header["min_zoom"], header["max_zoom"]) == (12, 15)
        tiles = list(all_tiles(reader.get_bytes))
    assert tiles
    zooms = {zxy[0] for zxy, _ in tiles}
    assert zooms == {12, 13, 14, 15}
    (z, x, y), data = max(tiles, key=lambda t: len(t[1]))
    layer = mapbox_vector_tile.decode(gzip.decompress(data))["lighting"]
    assert layer["features"]
