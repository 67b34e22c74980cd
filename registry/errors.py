"""One domain error hierarchy: each error knows its HTTP status, a stable machine code and a
message that is safe to show and says what to fix. Handlers live in `api/errors.py`."""

from __future__ import annotations

from typing import Any


class CitytwinError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidCode(CitytwinError):
    status, code = 422, "invalid_code"


class InvalidInput(CitytwinError):
    status, code = 422, "invalid_input"


class InvalidParameter(InvalidInput):
    """A query parameter that cannot be served (OGC API answers these with 400)."""

    status, code = 400, "invalid_parameter"


class UnknownCategory(CitytwinError):
    status, code = 422, "unknown_category"


class UnknownCounty(CitytwinError):
    status, code = 422, "unknown_county"


class GeometryError(CitytwinError):
    status, code = 422, "invalid_geometry"


class GeometryTypeNotAllowed(CitytwinError):
    status, code = 422, "geometry_type_not_allowed"


class NotFound(CitytwinError):
    status, code = 404, "not_found"


class Gone(CitytwinError):
    """A retired or void code: it existed, it is no longer in service."""

    status, code = 410, "gone"


class IllegalTransition(CitytwinError):
    status, code = 409, "illegal_transition"


class VersionConflict(CitytwinError):
    status, code = 409, "version_conflict"


class PreconditionFailed(CitytwinError):
    """If-Match named a version that is no longer the current one."""

    status, code = 412, "precondition_failed"


class DuplicateSourceId(CitytwinError):
    status, code = 409, "duplicate_source_id"


class CodeSpaceExhausted(CitytwinError):
    status, code = 409, "code_space_exhausted"


class Unauthorized(CitytwinError):
    status, code = 401, "unauthorized"


class ClusterError(CitytwinError):
    """The local PostGIS cluster could not be set up or started."""

    status, code = 500, "cluster_error"
