"""The loaders' error: an import refused as a whole, with what to fix."""

from __future__ import annotations

from registry.errors import CitytwinError


class ImportRefused(CitytwinError):
    status, code = 422, "import_refused"
