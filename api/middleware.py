"""Middleware: gzip, CORS (when configured), and a request id on every response and log line."""

from __future__ import annotations

import logging
import time
import uuid

from fastapi import FastAPI, Request
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware

from api.errors import problem
from registry.settings import Settings

log = logging.getLogger("citytwin.access")


def add_middleware(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "If-Match"],
                           expose_headers=["ETag", "Content-Crs", "X-Request-ID"])

    @app.middleware("http")
    async def request_id(request: Request, call_next):  # noqa: ANN001, ANN202
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        start = time.perf_counter()
        if "\x00" in request.url.path or "%00" in request.url.query:
            response = problem(400, "invalid_parameter",
                               "the URL contains a NUL character; remove it")
        else:
            response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        log.info("%s %s %s %d %.1fms", rid, request.method, request.url.path,
                 response.status_code, (time.perf_counter() - start) * 1000)
        return response
