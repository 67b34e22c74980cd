"""GET /entities/{code}: one entity as a GeoJSON Feature (410 with successors when retired)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Path
from fastapi.responses import Response

from api.deps import Db, Dict
from api.errors import problem
from registry import codes, features

router = APIRouter(tags=["entities"])
GEOJSON = "application/geo+json"


@router.get(
    "/entities/{code}",
    summary="An entity by its unified code",
    responses={200: {"content": {GEOJSON: {}}}, 404: {}, 410: {}, 422: {}},
)
def get_entity(conn: Db, dictionary: Dict,
               code: str = Path(description="17-digit unified code")) -> Response:
    code = str(codes.validate(code, dictionary))
    feature = features.entity_feature(conn, code)
    if feature.status in ("retired", "void"):
        body = orjson.loads(feature.json)
        successors = body["properties"]["successors"] or []
        then = ", succeeded by " + ", ".join(s["code"] for s in successors) if successors else ""
        return problem(410, "gone", f"{code} is {feature.status}{then}",
                       successors=successors, entity=body)
    return Response(feature.json, media_type=GEOJSON)
