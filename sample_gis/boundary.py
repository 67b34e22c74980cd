"""The district boundary of 光明 (Guangming): the real polygon from ../shared/data when present,
else the simplified derivative committed in sample_gis/data (≤ 200 vertices, area within 1 %)."""

from __future__ import annotations

import json
from pathlib import Path

from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from registry.settings import PROJECT_ROOT

SHARED = PROJECT_ROOT.parent / "shared" / "data" / "shenzhen_districts_wgs84.geojson"
SIMPLIFIED = Path(__file__).parent / "data" / "guangming_boundary.geojson"
NAME = "光明"


def from_shared(path: Path = SHARED) -> BaseGeometry:
    doc = json.loads(path.read_text(encoding="utf-8"))
    for f in doc["features"]:
        if f["properties"].get("qh") == NAME:
            return shape(f["geometry"])
    raise LookupError(f"no feature with qh = {NAME} in {path}")


def district_boundary() -> BaseGeometry:
    """lon/lat (WGS84 = CGCS2000 at this precision)."""
    if SHARED.exists():
        return from_shared()
    return shape(json.loads(SIMPLIFIED.read_text(encoding="utf-8"))["features"][0]["geometry"])


def write_simplified(tolerance: float = 0.0006) -> BaseGeometry:
    """Regenerate the committed derivative from the shared file."""
    g = from_shared().simplify(tolerance, preserve_topology=True)
    doc = {
        "type": "FeatureCollection",
        "name": "guangming_boundary",
        "features": [{"type": "Feature", "properties": {
            "qh": NAME, "code": "440311",
            "source": "ni1o1/transbigdata docs/source/gallery/data/sz.json (BSD-3-Clause), "
                      f"simplified with tolerance {tolerance} degrees",
        }, "geometry": mapping(g)}],
    }
    SIMPLIFIED.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return g
