"""TileJSON 3.0 for one layer or the whole map, and the OGC WebMercatorQuad tile matrix set."""

from __future__ import annotations

from typing import Any

from registry.layers import Layer
from tiles import grid

ENTITY_FIELDS = {"code": "String", "category": "String", "status": "String",
                 "condition": "String", "name": "String",
                 "cell": "String (aggregates)", "count": "Number (aggregates)",
                 "res": "Number (aggregates)"}
AREA_FIELDS = {"code": "String", "name": "String", "level": "String"}


def vector_layer(layer: Layer) -> dict[str, Any]:
    return {"id": layer.id, "description": layer.title,
            "fields": AREA_FIELDS if layer.kind == "areas" else ENTITY_FIELDS,
            "minzoom": 0, "maxzoom": grid.MAX_ZOOM}


def tilejson(base: str, name: str, layers: list[Layer], tiles_path: str,
             bounds: list[float]) -> dict[str, Any]:
    return {
        "tilejson": "3.0.0", "name": name, "scheme": "xyz", "format": "pbf",
        "tiles": [f"{base}{tiles_path}"],
        "minzoom": 0, "maxzoom": grid.MAX_ZOOM, "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 12],
        "vector_layers": [vector_layer(layer) for layer in layers],
        "attribution": "citytwin",
    }


def web_mercator_quad() -> dict[str, Any]:
    """The OGC TileMatrixSet definition (2D TMS standard), zooms 0..MAX_ZOOM."""
    matrices = []
    for z in range(grid.MAX_ZOOM + 1):
        n = 1 << z
        matrices.append({"id": str(z), "scaleDenominator": 559082264.0287178 / n,
                         "cellSize": 156543.03392804097 / n, "cornerOfOrigin": "topLeft",
                         "pointOfOrigin": [-grid.WORLD, grid.WORLD], "tileWidth": 256,
                         "tileHeight": 256, "matrixWidth": n, "matrixHeight": n})
    return {"id": "WebMercatorQuad", "title": "Google Maps Compatible for the World",
            "uri": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
            "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
            "orderedAxes": ["E", "N"], "tileMatrices": matrices}
