"""GET /entities/{code}: one entity as a GeoJSON Feature (410 with successors when retired)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.deps import Dict
from api.errors import problem
from registry import codes, features

router = APIRouter(tags=["entities"])
GEOJSON = "application/geo+json"


@router.get(
    "/entities/{code}",
    summary="An entity by its unified code",
    responses={200: {"content": {GEOJSON: {}}}, 404: {}, 410: {}, 422: {}},
)
async def get_entity(request: Request, dictionary: Dict,
                     code: str = Path(description="17-digit unified code")) -> Response:
    code = str(codes.validate(code, dictionary))
    # an outage or every connection busy: 503 by api.errors' handlers
    async with request.app.state.apool.connection(timeout=5) as aconn:
        feature = await features.entity_feature_async(aconn, code)
    if feature.status in ("retired", "void"):
        body = orjson.loads(feature.json)
        successors = body["properties"]["successors"] or []
        then = ", succeeded by " + ", ".join(s["code"] for s in successors) if successors else ""
        return problem(410, "gone", f"{code} is {feature.status}{then}",
                       successors=successors, entity=body)
    return Response(feature.json, media_type=GEOJSON)
