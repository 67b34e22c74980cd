"""OGC API Features Part 4: create, replace, update and delete items, with ETag / If-Match.
Deleting a coded entity retires it: codes are permanent."""

from __future__ import annotations

import shapely
from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from sqlalchemy import text

from api.auth import Writer
from api.bodies import Feature, PatchFeature, changes, new_entity
from api.deps import AppSettings, DbEngine, Dict, Layers
from api.negotiate import url
from registry import codes, entities, features
from registry.dictionary import Dictionary
from registry.errors import InvalidInput, PreconditionFailed, VersionConflict
from registry.layers import Layer
from spatial import geometry as geo
from spatial.errors import SpatialError

router = APIRouter(tags=["OGC API - Features (writes)"])
GEOJSON = "application/geo+json"


def etag(code: str, version: int) -> str:
    return f'"{code}-{version}"'


def expected_version(code: str, if_match: str | None) -> frozenset[int] | None:
    """The versions an If-Match header allows (our ETags are "CODE-VERSION", "@SRID" after
    it in another CRS; a list of ETags allows any of them, RFC 9110)."""
    if not if_match or if_match.strip() == "*":
        return None
    versions = set()
    for part in if_match.split(","):
        tag = part.strip().removeprefix("W/").strip('"').partition("@")[0]
        prefix, _, version = tag.rpartition("-")
        if prefix == code and version.isdigit():
            versions.add(int(version))
    if not versions:
        raise PreconditionFailed(f"If-Match {if_match} is not an ETag of {code}; "
                                 "read the item again for its current ETag")
    return frozenset(versions)


def _check_layer(layer: Layer, category: str) -> None:
    if layer.kind != "entities":
        raise InvalidInput(f"collection {layer.id} holds admin areas, not entities")
    if layer.categories and category not in layer.categories \
            and category[:2] not in layer.categories:
        raise InvalidInput(f"category {category} does not belong in collection {layer.id} "
                           f"({', '.join(layer.categories)})")


def _feature_response(request: Request, layer: Layer, conn, code: str,  # noqa: ANN001
                      status: int) -> Response:
    feature = features.entity_feature(conn, code)
    headers = {"ETag": etag(code, feature.version),
               "Location": url(request, f"/collections/{layer.id}/items/{code}")}
    return Response(feature.json, status_code=status, media_type=GEOJSON, headers=headers)


# A geometry this far (in degrees, ~10 km) from every street of the district is a mistake:
# latitude first, metres, another city. Checked only when the registry has its areas.
_NEAR = 0.1
_FAR = text("""
    SELECT EXISTS (SELECT 1 FROM admin_area WHERE level IN ('district', 'street'))
       AND NOT EXISTS (SELECT 1 FROM admin_area WHERE level IN ('district', 'street')
                       AND ST_DWithin(geom, ST_GeomFromWKB(:wkb, 4490), :near))
""")


def in_district(conn, geometry: dict) -> None:  # noqa: ANN001
    try:
        geom = geo.parse(geometry)
    except SpatialError:
        return  # the registry's own checks say what is wrong with it (so for these:)
    minx, miny, maxx, maxy = geom.bounds
    if geom.is_empty or not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        return
    wkb = shapely.to_wkb(geom)
    if conn.execute(_FAR, {"wkb": wkb, "near": _NEAR}).scalar():
        raise InvalidInput("the geometry lies outside the district (more than ~10 km from "
                           "it): coordinates are lon, lat in that order, in degrees "
                           "(CRS84 / EPSG:4490)")


@router.post("/collections/{collection_id}/items", status_code=201,
             summary="Register a new entity (mints its code)")
def create(request: Request, collection_id: str, body: Feature, engine: DbEngine,
           catalog: Layers, settings: AppSettings, writer: Writer) -> Response:
    layer = catalog.get(collection_id)
    item = new_entity(body)
    _check_layer(layer, item.category)
    with engine.begin() as conn:
        in_district(conn, body.geometry)
        code = entities.register(conn, item, county=settings.county, actor=writer,
                                 reason="created through the API")
        response = _feature_response(request, layer, conn, code, 201)
    request.app.state.tiles.changed()
    return response


def _edit(request: Request, collection_id: str, feature_id: str, body: Feature | PatchFeature,
          engine: DbEngine, catalog: Layers, dictionary: Dictionary, writer: str,
          if_match: str | None, partial: bool) -> Response:
    layer = catalog.get(collection_id)
    category = codes.validate(feature_id, dictionary).category
    _check_layer(layer, category)
    expected = expected_version(feature_id, if_match)
    with engine.begin() as conn:
        if body.geometry is not None:
            in_district(conn, body.geometry)
        try:
            entities.update(conn, feature_id, changes(body, partial=partial), actor=writer,
                            expected_version=expected, reason="edited through the API")
        except VersionConflict as e:
            raise PreconditionFailed(e.message, **e.detail) from None
        response = _feature_response(request, layer, conn, feature_id, 200)
    request.app.state.tiles.changed()
    return response


@router.put("/collections/{collection_id}/items/{feature_id}", summary="Replace an entity")
def replace(request: Request, collection_id: str, feature_id: str, body: Feature,
            engine: DbEngine, catalog: Layers, dictionary: Dict, writer: Writer,
            if_match: str | None = Header(None)) -> Response:
    return _edit(request, collection_id, feature_id, body, engine, catalog, dictionary, writer,
                 if_match, partial=False)


@router.patch("/collections/{collection_id}/items/{feature_id}", summary="Update an entity")
def patch(request: Request, collection_id: str, feature_id: str, body: PatchFeature,
          engine: DbEngine, catalog: Layers, dictionary: Dict, writer: Writer,
          if_match: str | None = Header(None)) -> Response:
    return _edit(request, collection_id, feature_id, body, engine, catalog, dictionary, writer,
                 if_match, partial=True)


@router.delete("/collections/{collection_id}/items/{feature_id}", status_code=204,
               summary="Retire an entity (its code stays taken)")
def delete(request: Request, collection_id: str, feature_id: str, engine: DbEngine,
           catalog: Layers,
           dictionary: Dict, writer: Writer, if_match: str | None = Header(None)) -> Response:
    layer = catalog.get(collection_id)
    _check_layer(layer, codes.validate(feature_id, dictionary).category)
    expected = expected_version(feature_id, if_match)
    with engine.begin() as conn:
        try:
            entities.transition(conn, feature_id, "retired", actor=writer,
                                expected_version=expected, reason="deleted through the API")
        except VersionConflict as e:
            raise PreconditionFailed(e.message, **e.detail) from None
    request.app.state.tiles.changed()
    return Response(status_code=204)

