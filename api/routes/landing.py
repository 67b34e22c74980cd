"""OGC API landing page and conformance."""

from __future__ import annotations

from pathlib import Path

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api import html
from api.deps import AppSettings
from api.negotiate import cached, url, wants_html

router = APIRouter(tags=["OGC API - Features"])
MAP_PAGE = Path(__file__).parent.parent / "static" / "map.html"

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/sorting",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
]


@router.get("/", summary="Landing page")
def landing(request: Request, settings: AppSettings,
            f: str | None = Query(None, description="json or html")) -> Response:
    links = [
        {"rel": "self", "type": "application/json", "title": "this document",
         "href": url(request, "/", f="json")},
        {"rel": "alternate", "type": "text/html", "title": "this document as HTML",
         "href": url(request, "/", f="html")},
        {"rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0",
         "title": "the API definition", "href": url(request, "/api")},
        {"rel": "service-doc", "type": "text/html", "title": "the API documentation",
         "href": url(request, "/docs")},
        {"rel": "conformance", "type": "application/json", "title": "conformance classes",
         "href": url(request, "/conformance")},
        {"rel": "data", "type": "application/json", "title": "the map's layers",
         "href": url(request, "/collections")},
    ]
    doc = {"title": "citytwin", "description": "City digital-twin entity registry: unified "
           "codes, the layers of one map (一张图), H3.", "links": links}
    if f is None and wants_html(request, None):  # a browser: the map
        return cached(request, MAP_PAGE.read_bytes(), "text/html; charset=utf-8",
                      settings.cache_max_age)
    if wants_html(request, f):
        body = html.table([{"title": link["title"], "href": link["href"]} for link in links],
                          links={"href": "{value}"})
        return cached(request, html.page("citytwin", body, json_link=url(request, "/", f="json")),
                      "text/html; charset=utf-8", settings.cache_max_age)
    return cached(request, orjson.dumps(doc), "application/json", settings.cache_max_age)


@router.get("/conformance", summary="Conformance classes")
def conformance(request: Request, settings: AppSettings,
                f: str | None = Query(None, description="json or html")) -> Response:
    if wants_html(request, f):
        body = "<ul>" + "".join(f"<li><code>{c}</code></li>" for c in CONFORMANCE) + "</ul>"
        return cached(request, html.page("Conformance", body), "text/html; charset=utf-8",
                      settings.cache_max_age)
    return cached(request, orjson.dumps({"conformsTo": CONFORMANCE}), "application/json",
                  settings.cache_max_age)
