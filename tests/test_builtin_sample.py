"""The built-in demo sample: streets tile the district; loading twice adds nothing."""

from __future__ import annotations

import json

import pytest
import shapely
from sqlalchemy import text

from sample_gis import builtin
from sample_gis.boundary import SHARED, SIMPLIFIED, from_shared


def test_streets_tile_the_district():
    district, *streets = builtin.street_areas()
    geoms = [s.geometry for s in streets]
    union = shapely.union_all(geoms)
    assert abs(union.area - district.geometry.area) / district.geometry.area < 1e-9
    overlap = sum(a.intersection(b).area for i, a in enumerate(geoms) for b in geoms[i + 1:])
    assert overlap < 1e-12
    assert [s.code for s in streets] == [f"440311{i:03d}" for i in range(1, 7)]


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is not here")
def test_the_committed_boundary_stays_close_to_the_real_one():
    simplified = shapely.geometry.shape(
        json.loads(SIMPLIFIED.read_text(encoding="utf-8"))["features"][0]["geometry"])
    real = from_shared()
    assert len(shapely.get_coordinates(simplified)) <= 200
    assert abs(simplified.area / real.area - 1) < 0.01


def test_load_places_every_entity_and_is_idempotent(db, settings):
    with db.begin() as conn:
        assert builtin.load(conn, n=120) == 120
        assert builtin.load(conn, n=120) == 0
        unplaced = conn.execute(text("SELECT count(*) FROM entity WHERE street_code IS NULL"))
        assert unplaced.scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM entity")).scalar() == 120
