"""Department layer import and export (pyogrio / GDAL, COPY, set-based merge).

The loaders themselves arrive with the loaders issue; the registry's bulk write path
(`registry.entities.register_many`) is what they build on.
"""
