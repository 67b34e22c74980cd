"""GET /health: is the database reachable, which PostGIS, which schema revision."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.deps import Db
from registry import migrate

router = APIRouter(tags=["health"])


@router.get("/health", summary="Service and database health")
def health(conn: Db) -> JSONResponse:
    try:
        postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar()
        revision = migrate.current_revision(conn)
    except DBAPIError:
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable"}, status_code=503
        )
    return JSONResponse({"status": "ok", "database": "reachable", "postgis": postgis,
                         "schema_revision": revision})
