"""Pure spatial functions, no database: geometry validation, H3 cells, CRS transforms."""
