"""Content negotiation and the small HTTP helpers every read route shares: the output format
(`f` or Accept), ETag / If-None-Match, Cache-Control, links."""

from __future__ import annotations

import hashlib

from fastapi import Request
from fastapi.responses import Response

from registry.errors import InvalidParameter

FORMATS = ("json", "html")
BIGINT_MAX = 2**63 - 1
#: Offset paging past this is what keyset paging (or the change feed) is for.
MAX_OFFSET = 10_000_000


def wants_html(request: Request, f: str | None) -> bool:
    if f is not None:
        if f not in FORMATS:
            raise InvalidParameter(f"f must be one of {', '.join(FORMATS)}")
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept.split("text/html")[0]


def cached(request: Request, body: bytes | str, media_type: str, max_age: int,
           headers: dict[str, str] | None = None) -> Response:
    """A read response with a strong ETag of its bytes; 304 when the client has them."""
    data = body.encode() if isinstance(body, str) else body
    extra = {"Cache-Control": f"public, max-age={max_age}", **(headers or {})}
    etag = extra.setdefault("ETag",
                            '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"')
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=extra)
    return Response(data, media_type=media_type, headers=extra)


def url(request: Request, path: str, **params: object) -> str:
    """An absolute link to `path` on this server, with query parameters (None dropped)."""
    base = str(request.base_url).rstrip("/")
    query = "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
    return f"{base}{path}" + (f"?{query}" if query else "")
