"""Area look-ups of the registry: admin areas and their entities, entities in an H3 cell,
nearest entities, and density aggregates per collection."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import text

from api.deps import AppSettings, DbTx, Dict, Layers
from api.negotiate import MAX_OFFSET, cached, same_query, url
from registry import aggregate, areas, codes, features, search
from registry.errors import InvalidParameter, NotFound
from registry.search import Query as Search
from spatial import area

router = APIRouter(tags=["areas and H3"])
GEOJSON = "application/geo+json"


def _collection(request: Request, conn: DbTx, q: Search, settings: AppSettings,
                extra: dict | None = None) -> Response:
    c, order, params = search.page_sql(conn, q)
    returned, body = features.collection_items(conn, c.source, c.where, order, params,
                                               properties=None, srid=4490, lat_first=False)
    matched, exact = search.count(conn, q, exact_up_to=settings.exact_count_up_to)
    head: dict = {"type": "FeatureCollection", "numberReturned": returned, **(extra or {})}
    if exact:
        head["numberMatched"] = matched
    if returned == q.limit:
        head["links"] = [{"rel": "next", "type": GEOJSON, "href": url(
            request, request.url.path, same_query(request, "offset"),
            offset=q.offset + q.limit)}]
    doc = orjson.dumps(head)[:-1] + b',"features":' + body.encode() + b"}"
    return cached(request, doc, GEOJSON, settings.cache_max_age)


def _categories(category: str | None) -> list[str]:
    return [c.strip() for c in category.split(",") if c.strip()] if category else []


@router.get("/areas", summary="Districts, streets, communities and grids")
def list_areas(request: Request, conn: DbTx, settings: AppSettings,
               level: str | None = Query(None, pattern="^(district|street|community|grid)$"),
               parent: str | None = Query(None)) -> Response:
    rows = conn.execute(text(
        """SELECT code, level, name, parent_code FROM admin_area
           WHERE (CAST(:level AS text) IS NULL OR level = :level)
             AND (CAST(:parent AS text) IS NULL OR parent_code = :parent)
           ORDER BY code"""), {"level": level, "parent": parent}).all()
    doc = {"areas": [dict(r._mapping) | {"href": url(request, f"/areas/{r.code}")}
                     for r in rows]}
    return cached(request, orjson.dumps(doc), "application/json", settings.cache_max_age)


@router.get("/areas/{code}", summary="One admin area (GeoJSON Feature)")
def one_area(request: Request, code: str, conn: DbTx, settings: AppSettings) -> Response:
    a = areas.get(conn, area.admin(code).code)
    feature = {"type": "Feature", "id": a["code"], "geometry": a["geometry"],
               "properties": {k: a[k] for k in ("code", "level", "name", "parent_code")},
               "links": [{"rel": "items", "href": url(request, f"/areas/{code}/entities")}]}
    return cached(request, orjson.dumps(feature), GEOJSON, settings.cache_max_age)


@router.get("/areas/{code}/entities", summary="Entities placed in an admin area")
def area_entities(request: Request, code: str, conn: DbTx, settings: AppSettings,
                  category: str | None = None, limit: int = Query(100, ge=1, le=10_000),
                  offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Response:
    q = Search(area=area.admin(code), categories=_categories(category), limit=limit,
               offset=offset)
    return _collection(request, conn, q, settings)


@router.get("/h3/{cell}/entities", summary="Entities in an H3 cell (or its k-ring)")
def cell_entities(request: Request, cell: str, conn: DbTx, settings: AppSettings,
                  k: int = Query(0, ge=0, le=50), category: str | None = None,
                  limit: int = Query(100, ge=1, le=10_000),
                  offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Response:
    cells = area.cells([cell], k, max_cells=settings.max_cells)
    q = Search(area=cells, categories=_categories(category), limit=limit, offset=offset)
    return _collection(request, conn, q, settings)


@router.get("/entities/{code}/ring", summary="Entities in the k-ring of cells around one")
def ring(request: Request, code: str, conn: DbTx, dictionary: Dict, settings: AppSettings,
         k: int = Query(1, ge=0, le=20), res: int = Query(9, ge=0, le=12),
         category: str | None = None, limit: int = Query(100, ge=1, le=10_000),
         offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Response:
    code = str(codes.validate(code, dictionary))
    q = Search(area=search.ring(conn, code, k, res), categories=_categories(category),
               limit=limit, offset=offset)
    return _collection(request, conn, q, settings)


@router.get("/entities/{code}/nearby", summary="The k entities nearest to an entity")
def nearby(request: Request, code: str, conn: DbTx, dictionary: Dict, settings: AppSettings,
           k: int = Query(5, ge=1, le=100), category: str | None = None) -> Response:
    code = str(codes.validate(code, dictionary))
    row = conn.execute(text("SELECT ST_X(p) x, ST_Y(p) y FROM (SELECT ST_PointOnSurface(geom) "
                            "p FROM entity WHERE code = :c) s"), {"c": code}).first()
    if row is None:
        raise NotFound(f"no entity has the code {code}")
    hits = [h for h in search.nearest(conn, row.x, row.y, k + 1,
                                      Search(categories=_categories(category)))
            if h[0] != code][:k]
    doc = {"code": code, "nearest": [{"code": c, "distance_m": round(d, 2),
                                      "href": url(request, f"/entities/{c}")} for c, d in hits]}
    return cached(request, orjson.dumps(doc), "application/json", settings.cache_max_age)


@router.get("/collections/{collection_id}/aggregate", summary="Density: counts per H3 cell "
            "(by=h3:6..10) or per street / community / grid")
def aggregate_counts(request: Request, collection_id: str, conn: DbTx, catalog: Layers,
                     settings: AppSettings, by: str = Query("h3:8"),
                     bbox: str | None = None) -> Response:
    layer = catalog.get(collection_id)
    if layer.kind != "entities":
        raise InvalidParameter(f"collection {layer.id} holds areas; aggregate entity layers")
    q = Search(categories=list(layer.categories), area=area.bbox(bbox) if bbox else None)
    if by.startswith("h3:"):
        res = by[3:]
        if not res.isdigit():
            raise InvalidParameter("by=h3:<resolution>, e.g. h3:8")
        bins = aggregate.hexbins(conn, int(res), q)
        doc = {"collection": layer.id, "by": by,
               "cells": [{"cell": c, "count": n} for c, n in bins]}
    else:
        rows = aggregate.by_area(conn, by, q)
        doc = {"collection": layer.id, "by": by,
               "areas": [{"code": c, "name": name, "count": n} for c, name, n in rows]}
    doc["total"] = sum(x["count"] for x in doc.get("cells", doc.get("areas", [])))
    return cached(request, orjson.dumps(doc), "application/json", settings.cache_max_age)
