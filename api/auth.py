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
    return request.headers.get("x-citytwin-actor", "api")[:100] or "api"


Writer = Annotated[str, Depends(require_writer)]
