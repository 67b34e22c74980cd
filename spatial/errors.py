"""Errors of the pure spatial functions; `registry` turns them into domain errors."""


class SpatialError(ValueError):
    """Bad spatial input; the message says what to fix."""


class InvalidGeometry(SpatialError):
    pass


class GeometryTypeError(SpatialError):
    pass
