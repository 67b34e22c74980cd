"""Vector tiles: `/tiles/{layer}/{z}/{x}/{y}.mvt` and OGC API - Tiles under each collection,
TileJSON per layer and for the whole map, the tile matrix set, and the MapLibre style."""

from __future__ import annotations

import gzip

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.deps import AppSettings, Db, Layers
from api.negotiate import cached, url
from registry import areas
from registry.layers import Layer
from tiles import style, tilejson
from tiles.service import MAP

router = APIRouter(tags=["tiles"])
MVT = "application/vnd.mapbox-vector-tile"
TMS = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"


def _tile(request: Request, conn: Db, settings: AppSettings, layer: str, z: int, x: int,
          y: int) -> Response:
    served = request.app.state.tiles.get(conn, layer, z, x, y)
    headers = {"ETag": served.etag, "Cache-Control": f"public, max-age={settings.cache_max_age}",
               "X-Tile-Aggregated": "1" if served.aggregated else "0",
               "X-Tile-Cache": "hit" if served.cached else "miss"}
    if served.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if served.empty:
        return Response(status_code=204, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(served.gzipped, media_type=MVT,
                        headers={**headers, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    return Response(gzip.decompress(served.gzipped), media_type=MVT, headers=headers)


@router.get("/tiles/{layer}/{z}/{x}/{y}.mvt", summary="A vector tile of a layer (or 'map')",
            responses={200: {"content": {MVT: {}}}, 204: {"description": "empty tile"}})
def tile(request: Request, conn: Db, settings: AppSettings, layer: str,
         z: int = Path(ge=0, le=22), x: int = Path(ge=0), y: int = Path(ge=0)) -> Response:
    return _tile(request, conn, settings, layer, z, x, y)


@router.get("/collections/{collection_id}/tiles/WebMercatorQuad/{z}/{row}/{col}",
            summary="OGC API - Tiles: a tile (tileMatrix/tileRow/tileCol)")
def ogc_tile(request: Request, conn: Db, settings: AppSettings, catalog: Layers,
             collection_id: str, z: int = Path(ge=0, le=22), row: int = Path(ge=0),
             col: int = Path(ge=0)) -> Response:
    return _tile(request, conn, settings, catalog.get(collection_id).id, z, col, row)


@router.get("/tiles.json", summary="TileJSON of the whole map (one source, every layer)")
def map_tilejson(request: Request, conn: Db, catalog: Layers,
                 settings: AppSettings) -> Response:
    layers = [catalog.layers[i] for i in request.app.state.tiles.map_layers]
    doc = tilejson.tilejson(url(request, ""), "citytwin 一张图", layers,
                            f"/tiles/{MAP}/{{z}}/{{x}}/{{y}}.mvt", areas.extent(conn))
    return cached(request, orjson.dumps(doc), "application/json", settings.cache_max_age)


@router.get("/tiles/{layer}.json", summary="TileJSON of one layer")
def layer_tilejson(request: Request, layer: str, conn: Db, catalog: Layers,
                   settings: AppSettings) -> Response:
    if layer == MAP:  # the map's tiles are /tiles/map/…: its TileJSON answers here too
        return map_tilejson(request, conn, catalog, settings)
    one = catalog.get(layer)
    doc = tilejson.tilejson(url(request, ""), one.title, [one],
                            f"/tiles/{one.id}/{{z}}/{{x}}/{{y}}.mvt", areas.extent(conn))
    return cached(request, orjson.dumps(doc), "application/json", settings.cache_max_age)


@router.get("/styles/default.json", summary="The map's MapLibre style")
def default_style(request: Request, catalog: Layers, settings: AppSettings,
                  lang: str = Query("zh", pattern="^(zh|en)$")) -> Response:
    doc = style.style(url(request, ""), catalog, lang)
    return cached(request, orjson.dumps(doc), "application/json", settings.cache_max_age)


@router.get("/tileMatrixSets", summary="Tile matrix sets")
def matrix_sets(request: Request, settings: AppSettings) -> Response:
    doc = {"tileMatrixSets": [{"id": "WebMercatorQuad", "uri": TMS, "links": [
        {"rel": "self", "href": url(request, "/tileMatrixSets/WebMercatorQuad")}]}]}
    return cached(request, orjson.dumps(doc), "application/json", settings.cache_max_age)


@router.get("/tileMatrixSets/WebMercatorQuad", summary="The WebMercatorQuad definition")
def matrix_set(request: Request, settings: AppSettings) -> Response:
    return cached(request, orjson.dumps(tilejson.web_mercator_quad()), "application/json",
                  settings.cache_max_age)


@router.get("/collections/{collection_id}/tiles", summary="OGC API - Tiles: tilesets")
def tilesets(request: Request, collection_id: str, catalog: Layers,
             settings: AppSettings) -> Response:
    doc = {"tilesets": [_tileset(request, catalog.get(collection_id))]}
    return cached(request, orjson.dumps(doc), "application/json", settings.cache_max_age)


@router.get("/collections/{collection_id}/tiles/WebMercatorQuad",
            summary="OGC API - Tiles: the layer's tileset (what its tilesets' self link names)")
def tileset(request: Request, collection_id: str, catalog: Layers,
            settings: AppSettings) -> Response:
    doc = _tileset(request, catalog.get(collection_id))
    return cached(request, orjson.dumps(doc), "application/json", settings.cache_max_age)


def _tileset(request: Request, layer: Layer) -> dict:
    base = f"/collections/{layer.id}/tiles/WebMercatorQuad"
    return {
        "title": layer.title, "dataType": "vector", "tileMatrixSetURI": TMS,
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "links": [
            {"rel": "self", "href": url(request, base)},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
             "href": url(request, "/tileMatrixSets/WebMercatorQuad")},
            {"rel": "item", "type": MVT, "templated": True,
             "href": url(request, "") + base + "/{tileMatrix}/{tileRow}/{tileCol}"},
        ]}
