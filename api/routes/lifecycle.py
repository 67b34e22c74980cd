"""Lifecycle actions and lineage: retire / suspend / activate / void, split, merge, replace."""

from __future__ import annotations

from typing import Literal

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from api.auth import Writer
from api.bodies import Action, Merge, Replace, Split, new_entity
from api.deps import AppSettings, DbEngine, Dict
from api.routes.writes import etag, expected_version, in_district
from registry import codes, entities, lineage
from registry.errors import PreconditionFailed, VersionConflict

router = APIRouter(tags=["lifecycle"])
TARGET = {"retire": "retired", "suspend": "suspended", "activate": "active", "void": "void"}


def _created(request: Request, kind: str, inputs: list[str], outputs: list[str]) -> Response:
    request.app.state.tiles.changed()
    return Response(orjson.dumps({"kind": kind, "retired": inputs, "created": outputs,
                                  "links": [{"rel": "item", "href": f"/entities/{c}"}
                                            for c in outputs]}),
                    status_code=201, media_type="application/json")


@router.post("/entities/{code}/split", status_code=201, summary="Split into new entities")
def split(request: Request, code: str, body: Split, engine: DbEngine, dictionary: Dict,
          settings: AppSettings, writer: Writer) -> Response:
    parsed = codes.validate(code, dictionary)
    parts = [new_entity(p, parsed.category) for p in body.parts]
    with engine.begin() as conn:
        for p in body.parts:
            in_district(conn, p.geometry)
        new = lineage.split(conn, str(parsed), parts, actor=writer, reason=body.reason)
    return _created(request, "split", [str(parsed)], new)


@router.post("/entities/{code}/replace", status_code=201, summary="Replace by a new entity")
def replace(request: Request, code: str, body: Replace, engine: DbEngine, dictionary: Dict,
            writer: Writer) -> Response:
    parsed = codes.validate(code, dictionary)
    with engine.begin() as conn:
        in_district(conn, body.by.geometry)
        new = lineage.replace(conn, str(parsed), new_entity(body.by, parsed.category),
                              actor=writer, reason=body.reason)
    return _created(request, "replace", [str(parsed)], [new])


@router.post("/entities/merge", status_code=201, summary="Merge entities into a new one")
def merge(request: Request, body: Merge, engine: DbEngine, dictionary: Dict,
          writer: Writer) -> Response:
    inputs = [str(codes.validate(c, dictionary)) for c in body.codes]
    with engine.begin() as conn:
        in_district(conn, body.into.geometry)
        new = lineage.merge(conn, inputs, new_entity(body.into, inputs[0][6:10]), actor=writer,
                            reason=body.reason)
    return _created(request, "merge", inputs, [new])


# Registered last: its {action} segment would otherwise shadow /split and /replace.
@router.post("/entities/{code}/{action}", summary="Move an entity along its lifecycle")
def act(request: Request, code: str,
        action: Literal["retire", "suspend", "activate", "void"], engine: DbEngine,
        dictionary: Dict, writer: Writer, body: Action | None = None,
        if_match: str | None = Header(None)) -> Response:
    code = str(codes.validate(code, dictionary))
    body = body or Action()
    with engine.begin() as conn:
        try:
            version = entities.transition(
                conn, code, TARGET[action], actor=writer, reason=body.reason,
                valid_from=body.valid_from, expected_version=expected_version(code, if_match))
        except VersionConflict as e:
            raise PreconditionFailed(e.message, **e.detail) from None
    request.app.state.tiles.changed()
    return Response(orjson.dumps({"code": code, "status": TARGET[action], "version": version}),
                    media_type="application/json", headers={"ETag": etag(code, version)})
