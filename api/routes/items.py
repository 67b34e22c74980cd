"""OGC API Features items: paged, filtered (bbox, datetime, CQL2), sorted, in the CRS asked for;
GeoJSON assembled in PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from api import html
from api.deps import AppSettings, DbTx, Layers
from api.negotiate import MAX_OFFSET, cached, same_query, url, wants_html
from registry import cql, features, search
from registry.errors import InvalidParameter, NotFound
from registry.layers import Layer
from registry.search import Query as Search
from spatial import area
from spatial import crs as crslib
from spatial.errors import SpatialError

router = APIRouter(tags=["OGC API - Features"])
GEOJSON = "application/geo+json"
SORT_KEYS = {"code", "name", "category"}


def _bbox(values: str, bbox_crs: str | None, settings: AppSettings) -> area.Envelope:
    numbers = [v for v in values.split(",") if v.strip()]
    if len(numbers) == 6:
        raise InvalidParameter("3D bboxes are not supported: give minx,miny,maxx,maxy")
    srid, lat_first, _ = crslib.output(bbox_crs, settings.crs, "bbox-crs")
    if lat_first and len(numbers) == 4:  # EPSG:4326 / 4490 / 4547 list northing first
        numbers = [numbers[1], numbers[0], numbers[3], numbers[2]]
    try:
        return area.bbox(numbers, None if srid == crslib.STORAGE else srid)
    except SpatialError as e:
        if not lat_first:
            raise
        raise SpatialError(f"{e}; in bbox-crs EPSG:{srid} a bbox lists northing (latitude) "
                           "first: minlat,minlon,maxlat,maxlon — or leave out bbox-crs for "
                           "lon/lat") from None


def _datetime(value: str) -> cql.Filter:
    """Entities whose current version was valid at an instant or during an interval."""
    parts = value.split("/")
    if len(parts) > 2:
        raise InvalidParameter("datetime is an instant or start/end (.. for open)")
    times = [_instant(p) for p in parts]  # each checked, the start too
    if len(times) == 2 and None not in times and times[0] > times[1]:
        raise InvalidParameter(f"datetime {value!r}: the start is after the end")
    end = times[-1]
    if end is None:
        return cql.Filter("true")
    return cql.Filter("e.valid_from <= :dt_end", {"dt_end": end})


def _instant(text: str) -> datetime | None:
    """An RFC 3339 time (UTC when it names no zone); None for an open end ('..' or '')."""
    if text in ("..", ""):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameter(
            f"datetime {text!r} is not RFC 3339, e.g. 2026-01-31T00:00:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _sort(sortby: str | None) -> str:
    if not sortby:
        return "code"
    keys = [k.strip() for k in sortby.split(",") if k.strip()]
    if len(keys) != 1:
        raise InvalidParameter(f"sortby takes one key (got {len(keys)}): one of "
                               f"{', '.join(sorted(SORT_KEYS))}, prefix - for descending")
    first = keys[0]
    desc = first.startswith("-")
    key = first.lstrip("+-")
    if key not in SORT_KEYS:
        raise InvalidParameter(f"sortby takes one of {', '.join(sorted(SORT_KEYS))} "
                           "(prefix - for descending)")
    return ("-" if desc else "") + key


def _and(*filters: cql.Filter | None) -> cql.Filter | None:
    present = [f for f in filters if f is not None and f.sql != "true"]
    if not present:
        return None
    params: dict = {}
    for f in present:
        params.update(f.params)
    return cql.Filter(" AND ".join(f"({f.sql})" for f in present), params)


@router.get("/collections/{collection_id}/items", summary="Features of a layer")
def items(
    request: Request, collection_id: str, conn: DbTx, catalog: Layers, settings: AppSettings,
    bbox: str | None = Query(None, description="minx,miny,maxx,maxy in bbox-crs"),
    bbox_crs: str | None = Query(None, alias="bbox-crs"),
    datetime_: str | None = Query(None, alias="datetime"),
    limit: int | None = Query(None, ge=1, description="page size"),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    filter_: str | None = Query(None, alias="filter", description="CQL2 text or JSON"),
    filter_lang: str | None = Query(None, alias="filter-lang"),
    filter_crs: str | None = Query(None, alias="filter-crs"),
    sortby: str | None = Query(None, description="code, name or category; - for descending"),
    properties: str | None = Query(None, description="comma-separated property names"),
    crs: str | None = Query(None, description="output CRS URI"),
    f: str | None = Query(None, description="json or html"),
) -> Response:
    layer = catalog.get(collection_id)
    limit = settings.default_limit if limit is None else limit
    if limit > settings.max_limit:
        raise InvalidParameter(f"limit is at most {settings.max_limit} (got {limit}); "
                               "page with offset or the next link")
    srid, lat_first, crs_uri = crslib.output(crs, settings.crs)
    envelope = _bbox(bbox, bbox_crs, settings) if bbox else None
    if layer.kind == "areas":
        if unused := [n for n, v in (("filter", filter_), ("sortby", sortby), ("properties",
                      properties), ("datetime", datetime_)) if v]:
            raise InvalidParameter(
                f"collection {layer.id} holds admin areas: it takes bbox, limit and offset, "
                f"not {', '.join(unused)} (those are for the entity collections)")
        matched, returned, body = features.area_items(
            conn, layer.level or "", (envelope.minx, envelope.miny, envelope.maxx,
                                      envelope.maxy) if envelope else None,
            limit, offset, srid=srid, lat_first=lat_first)
        exact = True
    else:
        q = Search(area=envelope, categories=list(layer.categories), limit=limit,
                   offset=offset, sort=_sort(sortby),
                   filter=_and(cql.parse(filter_, filter_lang, filter_crs) if filter_ else None,
                               _datetime(datetime_) if datetime_ else None))
        matched, exact = search.count(conn, q, exact_up_to=settings.exact_count_up_to)
        c, order, params = search.page_sql(conn, q, matched=matched)
        props = [p.strip() for p in properties.split(",")] if properties else None
        returned, body = features.collection_items(
            conn, c.source, c.where, order, params, properties=props, srid=srid,
            lat_first=lat_first)
    return _page(request, settings, layer, body, returned, matched, exact, limit, offset,
                 crs_uri, wants_html(request, f))


def _page(request: Request, settings: AppSettings, layer: Layer, body: str, returned: int,
          matched: int, exact: bool, limit: int, offset: int, crs_uri: str,
          as_html: bool) -> Response:
    path = f"/collections/{layer.id}/items"
    keep = same_query(request, "offset", "f")
    pages: dict[str, int] = {}  # next / prev: their offsets
    if returned == limit and (not exact or offset + returned < matched):
        pages["next"] = offset + limit
    if offset > 0:
        pages["prev"] = max(offset - limit, 0)
    links = [{"rel": "self", "type": GEOJSON,
              "href": url(request, path, keep, offset=offset or None)},
             {"rel": "alternate", "type": "text/html",
              "href": url(request, path, keep, offset=offset or None, f="html")},
             {"rel": "collection", "type": "application/json",
              "href": url(request, f"/collections/{layer.id}")}]
    links += [{"rel": rel, "type": GEOJSON, "href": url(request, path, keep, offset=at)}
              for rel, at in pages.items()]
    headers = {"Content-Crs": f"<{crs_uri}>"}
    if as_html:
        feats = orjson.loads(body)
        rows = [{"id": x["id"], **{k: v for k, v in x["properties"].items()
                                   if k not in ("attributes",)}} for x in feats]
        # The page's own next / prev: the HTML of the same query.
        nav = " ".join(html.link(url(request, path, keep, offset=at or None, f="html"), rel)
                       for rel, at in pages.items())
        page = html.page(f"{layer.title}: {offset + 1}–{offset + returned}"
                         + (f" of {matched}" if exact else ""),
                         html.table(rows, links={"id": f"/collections/{layer.id}/items/"
                                                       "{value}?f=html"}) + f"<p>{nav}</p>",
                         json_link=url(request, path, keep, offset=offset or None, f="json"))
        return cached(request, page, "text/html; charset=utf-8", settings.cache_max_age,
                      headers)
    head = {"type": "FeatureCollection", "numberReturned": returned,
            "timeStamp": datetime.now().astimezone().isoformat(timespec="seconds"),
            "links": links}
    if exact:
        head["numberMatched"] = matched
    doc = orjson.dumps(head)[:-1] + b',"features":' + body.encode() + b"}"
    return cached(request, doc, GEOJSON, settings.cache_max_age, headers)


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature")
async def item(request: Request, collection_id: str, feature_id: str, catalog: Layers,
               settings: AppSettings, crs: str | None = Query(None),
               f: str | None = Query(None, description="json or html")) -> Response:
    layer = catalog.get(collection_id)
    srid, lat_first, crs_uri = crslib.output(crs, settings.crs)
    if layer.kind == "areas":  # an item id the collection lists resolves (OGC API)
        return RedirectResponse(url(request, f"/areas/{feature_id}"), status_code=307)
    # an outage or every connection busy: 503 by api.errors' handlers
    async with request.app.state.apool.connection(timeout=5) as aconn:
        found = await features.collection_item_async(aconn, feature_id, srid=srid,
                                                     lat_first=lat_first)
    category = feature_id[6:10] if found else ""
    if found is None or (layer.categories and category not in layer.categories
                        and category[:2] not in layer.categories):
        raise NotFound(f"collection {layer.id} has no feature {feature_id}")
    version, body = found
    path = f"/collections/{layer.id}/items/{feature_id}"
    if wants_html(request, f):
        feature = orjson.loads(body)
        props = {k: v for k, v in feature["properties"].items() if k != "attributes"}
        props.update(feature["properties"].get("attributes") or {})
        page = html.page(f"{feature_id}", html.dl(props),
                         json_link=url(request, path, crs=crs, f="json"))
        return cached(request, page, "text/html; charset=utf-8", settings.cache_max_age,
                      {"Content-Crs": f"<{crs_uri}>"})
    # Links are spliced into the JSON PostgreSQL made: no parse and re-dump per request.
    links = orjson.dumps([
        {"rel": "self", "type": GEOJSON, "href": url(request, path)},
        {"rel": "collection", "type": "application/json",
         "href": url(request, f"/collections/{layer.id}")},
        {"rel": "describedby", "type": GEOJSON, "href": url(request, f"/entities/{feature_id}")},
    ])
    # One ETag a representation: the same version in another CRS is other bytes (If-Match
    # reads the code and version before the @)
    tag = f"{feature_id}-{version}" + ("" if crs_uri == crslib.CRS84_URI else f"@{srid}")
    headers = {"Content-Crs": f"<{crs_uri}>", "ETag": f'"{tag}"'}
    doc = body[:-1].encode() + b', "links" : ' + links + b"}"
    return cached(request, doc, GEOJSON, settings.cache_max_age, headers)
