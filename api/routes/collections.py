"""OGC collections: the map's layers from the layer catalog, and their queryables."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api import html
from api.deps import AppSettings, Db, Layers
from api.negotiate import cached, url, wants_html
from registry import areas, cql
from registry.layers import Layer
from spatial import crs as crslib

router = APIRouter(tags=["OGC API - Features"])


def collection_doc(request: Request, layer: Layer, bbox: list[float],
                   crs: list[str]) -> dict[str, Any]:
    base = f"/collections/{layer.id}"
    return {
        "id": layer.id, "title": layer.title, "description": layer.description,
        "itemType": "feature",
        "extent": {"spatial": {"bbox": [bbox], "crs": crslib.CRS84_URI}},
        "crs": [crslib.uri(None if c == "CRS84" else crslib.epsg(c)) for c in crs],
        "storageCrs": crslib.uri(crslib.STORAGE),
        "links": [
            {"rel": "self", "type": "application/json", "href": url(request, base)},
            {"rel": "alternate", "type": "text/html", "href": url(request, base, f="html")},
            {"rel": "items", "type": "application/geo+json", "title": "features",
             "href": url(request, f"{base}/items")},
            {"rel": "items", "type": "text/html", "href": url(request, f"{base}/items",
                                                              f="html")},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
             "type": "application/schema+json", "href": url(request, f"{base}/queryables")},
        ],
        "citytwin:kind": layer.kind,
        "citytwin:categories": list(layer.categories),
        "citytwin:title_en": layer.title_en,
        "citytwin:style": layer.style,
        "citytwin:department": layer.department,
    }


@router.get("/collections", summary="The layers of the map")
def collections(request: Request, conn: Db, catalog: Layers, settings: AppSettings,
                f: str | None = Query(None, description="json or html")) -> Response:
    bbox = areas.extent(conn)
    docs = [collection_doc(request, layer, bbox, settings.crs)
            for layer in catalog.layers.values()]
    if wants_html(request, f):
        rows = [{"id": d["id"], "title": d["title"], "description": d["description"]}
                for d in docs]
        body = html.table(rows, links={"id": "/collections/{value}?f=html"})
        return cached(request, html.page("Collections", body,
                                         json_link=url(request, "/collections")),
                      "text/html; charset=utf-8", settings.cache_max_age)
    doc = {"collections": docs, "crs": docs[0]["crs"] if docs else [],
           "links": [{"rel": "self", "type": "application/json",
                      "href": url(request, "/collections")}]}
    return cached(request, orjson.dumps(doc), "application/json", settings.cache_max_age)


@router.get("/collections/{collection_id}", summary="One layer")
def collection(request: Request, collection_id: str, conn: Db, catalog: Layers,
               settings: AppSettings,
               f: str | None = Query(None, description="json or html")) -> Response:
    layer = catalog.get(collection_id)
    doc = collection_doc(request, layer, areas.extent(conn), settings.crs)
    if wants_html(request, f):
        body = html.dl({"id": layer.id, "title": f"{layer.title} ({layer.title_en})",
                        "description": layer.description,
                        "categories": ", ".join(layer.categories) or "all"})
        body += f'<p><a href="/collections/{layer.id}/items?f=html">Browse the items</a></p>'
        return cached(request, html.page(layer.title, body,
                                         json_link=url(request, f"/collections/{layer.id}")),
                      "text/html; charset=utf-8", settings.cache_max_age)
    return cached(request, orjson.dumps(doc), "application/json", settings.cache_max_age)


@router.get("/collections/{collection_id}/queryables", summary="What a filter can use")
def queryables(request: Request, collection_id: str, catalog: Layers,
               settings: AppSettings) -> Response:
    layer = catalog.get(collection_id)
    doc = cql.queryables_schema(url(request, f"/collections/{layer.id}"))
    return cached(request, orjson.dumps(doc), "application/schema+json",
                  settings.cache_max_age)
