"""One error model for every response: application/problem+json with a status, a stable
machine code and a message that says what to fix. Never a stack trace or SQL."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from psycopg_pool import PoolTimeout
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException

from registry.errors import CitytwinError
from spatial.errors import SpatialError

log = logging.getLogger("citytwin.api")
PROBLEM = "application/problem+json"


def problem(status: int, code: str, detail: str, headers: dict[str, str] | None = None, /,
            **extra: Any) -> Response:
    body = {"type": f"urn:citytwin:problem:{code}", "title": code.replace("_", " "),
            "status": status, "code": code, "detail": detail}
    for key, value in extra.items():  # an error's own `status` or `code` (the entity's)
        body[f"entity_{key}" if key in body else key] = value
    return Response(orjson.dumps(body, default=str), status_code=status, media_type=PROBLEM,
                    headers=headers)


async def _domain(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CitytwinError)
    if exc.status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc.message)
    return problem(exc.status, exc.code, exc.message, **exc.detail)


async def _spatial(request: Request, exc: Exception) -> Response:
    return problem(400, "invalid_parameter", str(exc))


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    parts, in_body = [], False
    for e in exc.errors():
        loc = e.get("loc", ())
        in_body = in_body or (bool(loc) and loc[0] == "body")
        if loc and loc[0] == "body" and (whole := _whole_body(e, loc)):
            parts.append(whole)
            continue
        where = ".".join(str(x) for x in loc if x not in ("body", "query", "path"))
        parts.append(f"{where}: {e.get('msg')}")
    detail = "; ".join(parts) or "the request is not valid"
    # A bad query parameter is a 400 (OGC API); a body that does not validate, a 422.
    if in_body:
        return problem(422, "invalid_request", detail)
    return problem(400, "invalid_parameter", detail)


def _whole_body(e: dict[str, Any], loc: tuple) -> str | None:
    """What is wrong with a body as a whole, said plainly (pydantic's words name no field)."""
    if e.get("type") == "json_invalid":
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        return f"the body is not valid JSON{where}"
    if len(loc) == 1 and e.get("type") == "missing":
        return "the request needs a JSON body"
    if len(loc) == 1 and e.get("type") in ("model_attributes_type", "dict_type"):
        return ("the body must be a JSON object, sent with Content-Type: application/json")
    return None


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"there is no resource at {request.url.path}"
    if exc.status_code == 405 and exc.headers and "Allow" in exc.headers:
        detail = f"{request.method} is not allowed here; allowed: {exc.headers['Allow']}"
    return problem(exc.status_code, code, detail, exc.headers)


async def _database(request: Request, exc: Exception) -> Response:
    """SQLAlchemy's errors and psycopg's own (a route on a raw psycopg cursor)."""
    log.error("database error on %s %s: %s", request.method, request.url.path, exc)
    if isinstance(exc, DataError | psycopg.DataError):  # a value the database cannot hold
        return problem(400, "invalid_value", "a value in the request cannot be stored or "
                       "compared (a NUL character, or a number or date out of range)")
    if isinstance(exc, OperationalError | psycopg.OperationalError):
        return _busy("database_unavailable", "the database is not reachable; retry later")
    return problem(500, "internal_error", "the request failed inside the server; it was logged")


async def _pool(request: Request, exc: Exception) -> Response:
    """No connection free for the pool's whole timeout: the server is overloaded, not broken
    — unless the database takes no connection at all."""
    if isinstance(exc, PoolTimeout) and not await reachable(request):
        return _busy("database_unavailable", "the database is not reachable; retry later")
    log.warning("no free database connection for %s %s", request.method, request.url.path)
    return _busy("busy", "the server is busy (every database connection is in use); retry "
                 "shortly")


async def reachable(request: Request) -> bool:
    """Whether the database takes a new connection (asked only when the async pool timed out:
    overloaded or down look the same to it)."""
    pool = getattr(request.app.state, "apool", None)
    if pool is None:
        return True
    try:
        conn = await psycopg.AsyncConnection.connect(pool.conninfo, connect_timeout=2,
                                                     **pool.kwargs)
    except psycopg.Error:
        return False
    await conn.close()
    return True


def _busy(code: str, detail: str) -> Response:
    return problem(503, code, detail, {"Retry-After": "5"})


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal_error", "the request failed inside the server; it was logged")


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CitytwinError, _domain)
    app.add_exception_handler(SpatialError, _spatial)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(psycopg.Error, _database)
    app.add_exception_handler(PoolTimeoutError, _pool)
    app.add_exception_handler(PoolTimeout, _pool)
    app.add_exception_handler(Exception, _unexpected)
