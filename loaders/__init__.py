"""Department layer import and export (pyogrio / GDAL, binary COPY, set-based merge in one
transaction): `pipeline.run` imports a file, `export.export` writes one. See docs/loaders.md.
"""
