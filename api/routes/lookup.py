"""The registry's own read endpoints: history, crosswalk, code check, dictionary, change feed,
import batches."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import text

from api.deps import AppSettings, Db, Dict
from api.negotiate import BIGINT_MAX, cached, url
from registry import codes, crosswalk, reads
from registry.errors import InvalidCode, NotFound

router = APIRouter(tags=["registry"])
JSON = "application/json"


def _json(doc: object, status: int = 200) -> Response:
    return Response(orjson.dumps(doc, default=str), status_code=status, media_type=JSON)


@router.get("/entities/{code}/history", summary="Versions of an entity, or its state as of")
def history(code: str, conn: Db, dictionary: Dict,
            as_of: datetime | None = Query(None, description="RFC 3339 instant")) -> Response:
    code = str(codes.validate(code, dictionary))
    if as_of is not None:
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=UTC)
        return _json({"as_of": as_of, "entity": vars(reads.as_of(conn, code, as_of))})
    return _json({"code": code, "versions": [vars(v) for v in reads.history(conn, code)]})


@router.get("/resolve", summary="The code of a department's source id (crosswalk)")
def resolve(request: Request, conn: Db, dataset: str = Query(min_length=1),
            source_id: str = Query(min_length=1)) -> Response:
    code = crosswalk.resolve(conn, dataset, source_id)
    return _json({"dataset": dataset, "source_id": source_id, "code": code,
                  "links": [{"rel": "item", "href": url(request, f"/entities/{code}")}]})


@router.get("/codes/{code}/check", summary="Validate and explain a code (no database)")
async def check(code: str, dictionary: Dict) -> Response:  # async: no thread, no database
    try:
        return _json(codes.explain(code, dictionary))
    except InvalidCode as e:
        return _json({"code": code, "valid": False, "reason": e.detail.get("reason"),
                      "message": e.message}, status=422)


@router.get("/categories", summary="The category dictionary")
def categories(request: Request, dictionary: Dict, settings: AppSettings) -> Response:
    doc = {
        "majors": [vars(m) for m in sorted(dictionary.majors.values(), key=lambda m: m.code)],
        "categories": [{**vars(c), "major": c.major} for c in
                       sorted(dictionary.categories.values(), key=lambda c: c.code)],
        "counties": [vars(c) for c in sorted(dictionary.counties.values(),
                                             key=lambda c: c.code)],
    }
    return cached(request, orjson.dumps(doc), JSON, settings.cache_max_age)


@router.get("/changes", summary="Change feed: versions written after a sequence number")
def changes(request: Request, conn: Db, since: int = Query(0, ge=0, le=BIGINT_MAX),
            limit: int = Query(1000, ge=1, le=10_000)) -> Response:
    rows = conn.execute(text(
        """SELECT seq, code, version, change, changed, status, valid_from, recorded_at, actor,
                  batch_id
           FROM entity_version WHERE seq > :since ORDER BY seq LIMIT :limit"""),
        {"since": since, "limit": limit}).all()
    items = [dict(r._mapping) for r in rows]
    last = items[-1]["seq"] if items else since
    links = [{"rel": "next", "href": url(request, "/changes", since=last, limit=limit)}]
    return _json({"since": since, "next_since": last, "changes": items, "links": links})


# The file's name, not the server's folders it was read from (the batch keeps the path).
_FILE = r"substring(file_name from '[^/\\]*$') AS file_name"


@router.get("/imports", summary="Import batches")
def imports(conn: Db, limit: int = Query(100, ge=1, le=1000)) -> Response:
    rows = conn.execute(text(
        f"""SELECT id, dataset, actor, started_at, finished_at, {_FILE}, file_hash, counts
            FROM import_batch ORDER BY id DESC LIMIT :limit"""), {"limit": limit}).all()
    return _json({"imports": [dict(r._mapping) for r in rows]})


@router.get("/imports/{batch_id}", summary="One import batch and its changelog")
def import_batch(conn: Db, batch_id: int = Path(ge=1, le=BIGINT_MAX)) -> Response:
    row = conn.execute(text(f"SELECT id, dataset, actor, started_at, finished_at, {_FILE}, "
                            "file_hash, counts, report FROM import_batch WHERE id = :id"),
                       {"id": batch_id}).first()
    if row is None:
        raise NotFound(f"no import batch {batch_id}")
    return _json(dict(row._mapping))
