"""GET /health: is the database reachable, which PostGIS, which schema revision. Async on the
API's async pool: it answers while the sync routes' connections and threads are all busy (a
probe under load waited 34 s for a thread before)."""

from __future__ import annotations

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from psycopg_pool import PoolTimeout

from api.errors import problem, reachable
from registry.models import SCHEMA

router = APIRouter(tags=["health"])
_SQL = f"SELECT postgis_lib_version(), (SELECT version_num FROM {SCHEMA}.alembic_version)"


@router.get("/health", summary="Service and database health")
async def health(request: Request) -> Response:
    try:
        async with request.app.state.apool.connection(timeout=5) as aconn:
            postgis, revision = await (await aconn.execute(_SQL)).fetchone()
    except PoolTimeout:  # every connection of the pool in use for 5 s: up, but overloaded
        if not await reachable(request):
            return problem(503, "database_unavailable", "the database is not reachable; "
                           "retry later", {"Retry-After": "5"}, database="unreachable")
        return problem(503, "busy", "the server is busy (every database connection is in "
                       "use); retry shortly", {"Retry-After": "5"}, database="reachable")
    except psycopg.Error:
        return problem(503, "database_unavailable", "the database is not reachable; retry "
                       "later", {"Retry-After": "5"}, database="unreachable")
    return JSONResponse({"status": "ok", "database": "reachable", "postgis": postgis,
                         "schema_revision": revision})
