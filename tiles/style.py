"""The map's MapLibre style: streets, communities and grids from the registry as the base (no
external basemap, and no text layers: glyph servers are out of reach of an intranet, so names
show in the page's panels), then each entity layer with its catalog style — hexagon
aggregates at low zoom, points from RAW_MINZOOM."""

from __future__ import annotations

from typing import Any

from registry.layers import Catalog
from tiles import grid

_AREA_LINE = {"streets": (2.0, 8), "communities": (1.0, 11), "grids": (0.5, 14)}


def style(base: str, catalog: Catalog, lang: str = "zh") -> dict[str, Any]:
    layers: list[dict[str, Any]] = [
        {"id": "background", "type": "background", "paint": {"background-color": "#f4f2ee"}}]
    for layer in catalog.layers.values():
        color = layer.style.get("color", "#555555")
        src = {"source": "citytwin", "source-layer": layer.id}
        if layer.kind == "areas":
            width, minzoom = _AREA_LINE.get(layer.id, (1.0, 10))
            layers.append({"id": f"{layer.id}-line", "type": "line", **src, "minzoom": minzoom,
                           "paint": {"line-color": color, "line-width": width}})
            continue
        if layer.id == "entities":
            continue  # all entities: for queries; the map draws the thematic layers
        hexes = ["has", "cell"]
        layers.append({
            "id": f"{layer.id}-density", "type": "fill", **src, "filter": hexes,
            "maxzoom": grid.MAX_ZOOM, "metadata": {"citytwin:layer": layer.id,
                                                   "citytwin:kind": "density"},
            "paint": {"fill-color": color, "fill-outline-color": "#ffffff",
                      "fill-opacity": ["interpolate", ["linear"], ["get", "count"],
                                       1, 0.15, 50, 0.45, 500, 0.8]}})
        if "width" in layer.style:
            layers.append({"id": f"{layer.id}-line", "type": "line", **src,
                           "filter": ["!", hexes], "metadata": {"citytwin:layer": layer.id},
                           "paint": {"line-color": color, "line-width": layer.style["width"]}})
        elif "opacity" in layer.style:
            layers.append({"id": f"{layer.id}-fill", "type": "fill", **src,
                           "filter": ["!", hexes], "metadata": {"citytwin:layer": layer.id},
                           "paint": {"fill-color": color,
                                     "fill-opacity": layer.style["opacity"]}})
        else:
            layers.append({"id": f"{layer.id}-point", "type": "circle", **src,
                           "filter": ["!", hexes], "metadata": {"citytwin:layer": layer.id},
                           "paint": {"circle-color": color,
                                     "circle-radius": layer.style.get("radius", 3),
                                     "circle-stroke-color": "#ffffff",
                                     "circle-stroke-width": 0.5}})
    layers.append({  # the H3 density overlay, off until the page's toggle turns it on
        "id": "density", "type": "fill", "source": "density", "source-layer": "entities",
        "layout": {"visibility": "none"}, "metadata": {"citytwin:kind": "density-overlay"},
        "paint": {"fill-color": ["interpolate", ["linear"], ["get", "count"],
                                 1, "#ffffcc", 20, "#fd8d3c", 200, "#bd0026"],
                  "fill-opacity": 0.6, "fill-outline-color": "#ffffff"}})
    return {
        "version": 8, "name": "citytwin 一张图",
        "metadata": {"citytwin:lang": lang},
        "sources": {"citytwin": {"type": "vector", "url": f"{base}/tiles.json"},
                    "density": {"type": "vector", "minzoom": 0, "maxzoom": grid.MAX_ZOOM,
                                "tiles": [f"{base}/tiles/entities-density/{{z}}/{{x}}/{{y}}.mvt"]}},
        "layers": layers,
    }
