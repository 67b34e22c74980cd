"""Content negotiation and the small HTTP helpers every read route shares: the output format
(`f` or Accept), ETag / If-None-Match, Cache-Control, links."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import Response

from registry.errors import InvalidParameter

FORMATS = ("json", "html")
BIGINT_MAX = 2**63 - 1
#: Offset paging past this is what keyset paging (or the change feed) is for.
MAX_OFFSET = 10_000_000


def wants_html(request: Request, f: str | None) -> bool:
    """HTML when `f=html`, or with no `f` when the Accept header prefers HTML to JSON (by q;
    at equal q, JSON). The answer then depends on Accept: `cached` says so in Vary."""
    if f is not None:
        if f not in FORMATS:
            raise InvalidParameter(f"f must be one of {', '.join(FORMATS)}")
        return f == "html"
    request.state.vary_accept = True
    ranges = _accept(request.headers.get("accept", ""))
    html = _quality(ranges, "text", "html")
    json = max(_quality(ranges, "application", "json"),
               _quality(ranges, "application", "geo+json"),
               max((q for t, s, q in ranges if t == "application" and s.endswith("+json")),
                   default=0.0))
    return html > json


def _accept(header: str) -> list[tuple[str, str, float]]:
    """The media ranges of an Accept header as (type, subtype, q); malformed ones left out."""
    ranges = []
    for part in header.split(",")[:64]:
        media, *params = part.split(";")
        kind, slash, sub = media.strip().lower().partition("/")
        if not slash or not kind or not sub or (kind == "*" and sub != "*"):
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = math.nan
        if 0.0 <= q <= 1.0:
            ranges.append((kind, sub, q))
    return ranges


def _quality(ranges: list[tuple[str, str, float]], kind: str, sub: str) -> float:
    """The q the most specific range matching kind/sub gives it (RFC 9110, 12.5.1); 0 if none."""
    best, quality = -1, 0.0
    for k, s, q in ranges:
        specific = 2 if (k, s) == (kind, sub) else 1 if (k, s) == (kind, "*") else \
            0 if (k, s) == ("*", "*") else -1
        if specific > best or (specific == best >= 0 and q > quality):
            best, quality = specific, q
    return quality if best >= 0 else 0.0


def cached(request: Request, body: bytes | str, media_type: str, max_age: int,
           headers: dict[str, str] | None = None) -> Response:
    """A read response with a strong ETag of its bytes; 304 when the client has them."""
    data = body.encode() if isinstance(body, str) else body
    extra = {"Cache-Control": f"public, max-age={max_age}", **(headers or {})}
    if getattr(request.state, "vary_accept", False):  # HTML or JSON by Accept: caches must know
        extra["Vary"] = ", ".join(v for v in (extra.get("Vary"), "Accept") if v)
    etag = extra.setdefault("ETag",
                            '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"')
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=extra)
    return Response(data, media_type=media_type, headers=extra)


#: Left as they are in a link's path and query: readable, and not special there.
PATH_SAFE = "/:@!$'()*+,;=~"
QUERY_SAFE = ":/,"


def url(request: Request, path: str, query: Iterable[tuple[str, object]] = (), /,
        **params: object) -> str:
    """An absolute link to `path` on this server, with the query parameters `query` (pairs, in
    order, repeats kept) then `params`; None dropped; everything percent-encoded."""
    base = str(request.base_url).rstrip("/")
    pairs = [(k, v) for k, v in (*query, *params.items()) if v is not None]
    qs = urlencode(pairs, safe=QUERY_SAFE, quote_via=quote)
    return f"{base}{quote(path, safe=PATH_SAFE)}" + (f"?{qs}" if qs else "")


def same_query(request: Request, *drop: str) -> list[tuple[str, str]]:
    """The request's query parameters that its route takes (in order, repeats kept), less
    `drop`: what a link to another page of the same query carries. Names the route does not
    take (misspelt, or markup) are not echoed back."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    taken = _query_names(dependant) if dependant is not None else None
    return [(k, v) for k, v in request.query_params.multi_items()
            if k not in drop and (taken is None or k in taken)]


def _query_names(dependant: object) -> frozenset[str]:
    names = {p.alias for p in getattr(dependant, "query_params", [])}
    for sub in getattr(dependant, "dependencies", []):
        names |= _query_names(sub)
    return frozenset(names)
