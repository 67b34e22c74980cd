"""Middleware: gzip, CORS (when configured), and a request id on every response and log line.
The request-id layer is plain ASGI (no BaseHTTPMiddleware): it adds no task or copy per request."""

from __future__ import annotations

import logging
import time
import uuid

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem
from registry.settings import Settings

log = logging.getLogger("citytwin.access")


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"  # every GET route answers HEAD: its headers only
        if head:
            scope = {**scope, "method": "GET"}
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex[:16]
        start = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", rid.encode("latin-1"))]
            elif head and message["type"] == "http.response.body":
                if message.get("more_body"):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
            response = problem(400, "invalid_parameter",
                               "the URL contains a NUL character; remove it")
            await response(scope, receive, send_with_id)
        else:
            await self.app(scope, receive, send_with_id)
        if log.isEnabledFor(logging.INFO):
            log.info("%s %s %s %d %.1fms", rid, scope["method"], scope["path"], status,
                     (time.perf_counter() - start) * 1000)


def add_middleware(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "If-Match"],
                           expose_headers=["ETag", "Content-Crs", "X-Request-ID"])
    app.add_middleware(RequestId)
