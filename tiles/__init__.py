"""Vector tiles made in PostGIS, TileJSON and styles (arrives with the tiles issue)."""
