"""Tile sources: one per layer of the catalog, its SQL written once when the layer is
registered; a request binds only z/x/y (and the tile's own margin). Entity layers give raw
features from RAW_MINZOOM on (within a per-tile budget) and H3 hexagon counts below it or past
the budget; area layers give their polygons, simplified by the MVT grid."""

from __future__ import annotations

from dataclasses import dataclass

import h3 as h3lib
import mapbox_vector_tile
from pyproj import Transformer
from shapely.geometry import Polygon, box
from sqlalchemy import Connection, text

from registry.layers import Catalog, Layer
from registry.search import LIVE
from spatial import h3
from tiles import grid

EXTENT, BUFFER = grid.EXTENT, grid.BUFFER
_TO_3857 = Transformer.from_crs(4326, 3857, always_xy=True)

_FILTER = """e.status = ANY(CAST(:live AS text[]))
    AND (cardinality(CAST(:minors AS text[])) + cardinality(CAST(:majors AS text[])) = 0
         OR e.category = ANY(CAST(:minors AS text[]))
         OR left(e.category, 2) = ANY(CAST(:majors AS text[])))"""

# Only what the style and the map's click need travels (code, class, status): the card
# fetches the rest by code. Name and condition made a dense z14 tile 1.66 MB instead of
# 1.0 MB raw and cost 60 instead of 42 ms of SQL (bench/tiles.py's 14/13376/7128, 24,349 rows).
_RAW = """
    WITH env AS (SELECT ST_TileEnvelope(:z, :x, :y) AS tile,
                        ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4490) AS q),
    src AS (
        SELECT e.code, e.category, e.status,
               ST_AsMVTGeom(ST_Transform(e.geom, 3857), env.tile, {extent}, {buffer}, true)
                   AS geom
        FROM entity e, env
        WHERE e.geom && env.q AND {filter}
        LIMIT :budget + 1)
    -- n counts the rows read, before clipping drops any: past the budget the tile becomes
    -- hexagons instead of a silently shortened raw tile.
    SELECT count(*) AS n, ST_AsMVT(src, :layer, {extent}, 'geom') FILTER (WHERE geom IS NOT NULL)
        AS mvt FROM src
"""

_HEX = f"""
    SELECT {h3.sql_parent_bound('e.h3')} AS cell,
           count(*) AS n, mode() WITHIN GROUP (ORDER BY e.category) AS top
    FROM entity e
    WHERE e.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4490)
      AND e.h3 IS NOT NULL AND {{filter}}
    GROUP BY 1
"""

_AREAS = f"""
    WITH env AS (SELECT ST_TileEnvelope(:z, :x, :y) AS tile,
                        ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4490) AS q)
    SELECT count(*) AS n, ST_AsMVT(src, :layer, {EXTENT}, 'geom') AS mvt FROM (
        SELECT a.code, a.name, a.level,
               ST_AsMVTGeom(ST_Transform(a.geom, 3857), env.tile, {EXTENT}, {BUFFER}, true)
                   AS geom
        FROM admin_area a, env WHERE a.level = :level AND a.geom && env.q) src
    WHERE geom IS NOT NULL
"""


@dataclass
class Tile:
    data: bytes
    features: int
    aggregated: bool


class TileSource:
    def __init__(self, layer: Layer, budget: int) -> None:
        self.layer = layer
        self.budget = budget
        self.params = {
            "layer": layer.id, "level": layer.level, "budget": budget, "live": list(LIVE),
            "minors": [c for c in layer.categories if len(c) == 4],
            "majors": [c for c in layer.categories if len(c) == 2],
        }
        if layer.kind == "areas":
            self.raw_sql = text(_AREAS)
            self.hex_sql = None
        else:
            self.raw_sql = text(_RAW.format(extent=EXTENT, buffer=BUFFER, filter=_FILTER))
            self.hex_sql = text(_HEX.format(filter=_FILTER))

    def tile(self, conn: Connection, z: int, x: int, y: int) -> Tile:
        grid.check(z, x, y)
        if self.hex_sql is None or z >= grid.RAW_MINZOOM:
            row = conn.execute(self.raw_sql, {**self.params, "z": z, "x": x, "y": y,
                                              "margin": grid.margin(z, False)}).one()
            if self.hex_sql is None or row.n <= self.budget:
                return Tile(bytes(row.mvt or b""), row.n, False)
        return self.hexagons(conn, z, x, y)

    def hexagons(self, conn: Connection, z: int, x: int, y: int) -> Tile:
        """Counts per H3 cell (and the commonest class) as hexagon polygons."""
        res = grid.h3_resolution(z)
        rows = conn.execute(self.hex_sql, {**self.params, "z": z, "x": x, "y": y,
                                           "margin": grid.margin(z, True),
                                           **h3.parent_params(res)}).all()
        features = []
        tile = box(*grid.bounds_3857(z, x, y))
        for r in rows:
            ring = [_TO_3857.transform(lng, lat)
                    for lat, lng in h3lib.cell_to_boundary(h3.to_str(r.cell))]
            hexagon = Polygon(ring)
            # Only hexagons on this tile: one wholly in the margin may be missing points.
            if not hexagon.intersects(tile):
                continue
            features.append({"geometry": hexagon, "properties": {
                "cell": h3.to_str(r.cell), "count": r.n, "category": r.top, "res": res}})
        data = mapbox_vector_tile.encode(
            [{"name": self.layer.id, "features": features}],
            default_options={"quantize_bounds": grid.bounds_3857(z, x, y), "extents": EXTENT},
        ) if features else b""
        return Tile(data, len(features), True)


def build(catalog: Catalog, budget: int) -> dict[str, TileSource]:
    return {layer_id: TileSource(layer, budget) for layer_id, layer in catalog.layers.items()}
