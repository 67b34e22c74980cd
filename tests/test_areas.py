"""Admin placement: street, community and grid derived in PostGIS whenever geometry is written."""

from __future__ import annotations

from registry import areas, entities, reads
from registry.entities import NewEntity
from tests.conftest import point, square
from tests.test_entities import register


def test_placement_on_register(district):
    west, east, outside = register(district, NewEntity("0118", point(113.81, 22.71)),
                                   NewEntity("0118", point(113.95, 22.75)),
                                   NewEntity("0118", point(113.50, 22.75)))
    with district.connect() as conn:
        w, e, o = (reads.get(conn, c) for c in (west, east, outside))
    assert (w.street_code, w.community_code, w.grid_code) == \
        ("440311001", "440311001001", "440311001001001")
    assert (e.street_code, e.community_code, e.grid_code) == ("440311002", "440311002001", None)
    assert (o.street_code, o.community_code, o.grid_code) == (None, None, None)


def test_a_polygon_is_placed_by_a_point_on_its_surface(district):
    # An L-shaped building whose centroid falls outside it, in the east street.
    l_shape = {"type": "Polygon", "coordinates": [[
        [113.95, 22.75], [113.96, 22.75], [113.96, 22.751], [113.951, 22.751],
        [113.951, 22.76], [113.95, 22.76], [113.95, 22.75]]]}
    [code] = register(district, NewEntity("0701", l_shape))
    with district.connect() as conn:
        assert reads.get(conn, code).street_code == "440311002"


def test_placement_follows_a_move(district):
    [code] = register(district, NewEntity("0118", point(113.81, 22.71)))
    with district.begin() as conn:
        entities.update(conn, code, {"geometry": point(113.86, 22.76)}, actor="x")
        moved = reads.get(conn, code)
        first = reads.history(conn, code)[0]
    assert moved.grid_code == "440311001001004"
    assert first.version == 1


def test_areas_loaded_after_entities_place_them(db):
    [code] = register(db, NewEntity("0118", point(113.81, 22.71)))
    with db.begin() as conn:
        assert reads.get(conn, code).street_code is None
        areas.upsert(conn, [areas.Area("440311009", "street", "测试街道",
                                       square(113.8, 22.7, 113.82, 22.72))])
        assert reads.get(conn, code).street_code == "440311009"
        assert areas.get(conn, "440311009")["name"] == "测试街道"
