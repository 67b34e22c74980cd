"""Who may write: a bearer token from settings (keys, roles and departments come later)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request

from registry.errors import Unauthorized


def require_writer(request: Request) -> str:
    """The actor name for the version history; refuses anyone without the write token."""
    token = request.app.state.settings.write_token
    if not token:
        raise Unauthorized("writes are disabled: the server has no CITYTWIN_WRITE_TOKEN")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(), token.encode()):
        raise Unauthorized("writes need the header Authorization: Bearer <write token>")
    return _utf8(request.headers.get("x-citytwin-actor", "")).strip()[:100] or "api"


def _utf8(header: str) -> str:
    """A header's text: HTTP carries bytes, which Starlette decodes as Latin-1; a name such
    as 张三 comes as UTF-8 bytes."""
    try:
        return header.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return header


Writer = Annotated[str, Depends(require_writer)]
