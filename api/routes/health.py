"""GET /health: is the database reachable, which PostGIS, which schema revision. Async on the
API's async pool: it answers while the sync routes' connections and threads are all busy (a
probe under load waited 34 s for a thread before). An outage or an overload is the 503 of
api.errors' handlers, as on every route."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from registry.models import SCHEMA

router = APIRouter(tags=["health"])
_VERSIONS = f"SELECT postgis_lib_version(), to_regclass('{SCHEMA}.alembic_version') IS NOT NULL"
_REVISION = f"SELECT version_num FROM {SCHEMA}.alembic_version"


@router.get("/health", summary="Service and database health")
async def health(request: Request) -> JSONResponse:
    async with request.app.state.apool.connection(timeout=5) as aconn:
        postgis, migrated = await (await aconn.execute(_VERSIONS)).fetchone()
        revision = (await (await aconn.execute(_REVISION)).fetchone())[0] if migrated else None
    return JSONResponse({"status": "ok", "database": "reachable", "postgis": postgis,
                         "schema_revision": revision})
