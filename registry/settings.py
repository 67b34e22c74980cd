"""Settings, read from the environment (prefix CITYTWIN_) only when asked for, never at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYTWIN_", extra="ignore")

    #: An existing PostGIS (SQLAlchemy URL, `postgresql://...`). When unset, the project's own
    #: local cluster in `home` is used (see `registry.cluster`).
    database_url: str | None = None
    #: Where the local cluster and its state live.
    home: Path = PROJECT_ROOT / ".citytwin"
    #: Name of the database the app uses inside the local cluster.
    database_name: str = "citytwin"
    #: First port tried for the local cluster (a system PostgreSQL keeps 5432).
    port: int = Field(55432, ge=1024, le=65535)
    #: GB/T 2260 county code that new entities are minted under unless told otherwise.
    county: str = Field("440311", pattern=r"^\d{6}$")
    pool_size: int = Field(8, ge=1, le=200)
    pool_overflow: int = Field(8, ge=0, le=200)
    #: Seconds a request waits for a free connection before the API answers 503 busy.
    pool_timeout: float = Field(30, gt=0, le=600)
    #: Bearer token that write endpoints require. Never committed: set it in the environment.
    write_token: str | None = None
    #: The address people reach the API at (printed in QR tags and links that leave the
    #: server, e.g. https://citytwin.gm.sz.gov.cn).
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=1, le=65535)
    #: Paging of OGC items: the default and the largest `limit` (a larger one is a 400).
    default_limit: int = Field(100, ge=1, le=100_000)
    max_limit: int = Field(10_000, ge=1, le=100_000)
    #: numberMatched is counted exactly up to this many, estimated beyond.
    exact_count_up_to: int = Field(100_000, ge=0)
    max_vertices: int = Field(10_000, ge=4)
    max_cells: int = Field(10_000, ge=1)
    #: CRSs offered for output and bbox-crs (OGC API Features Part 2).
    crs: list[str] = ["CRS84", "EPSG:4490", "EPSG:4326", "EPSG:4547", "EPSG:3857"]
    #: Origins allowed by CORS (e.g. ["https://cim.example.gov.cn"]); empty: no CORS headers.
    cors_origins: list[str] = []
    #: Seconds clients and proxies may cache read responses.
    cache_max_age: int = Field(60, ge=0)
    #: Features a raw tile may hold before it degrades to H3 hexagon counts (never truncated).
    tile_budget: int = Field(25_000, ge=100)
    #: Tiles kept in the in-process cache.
    tile_cache_size: int = Field(20_000, ge=0)
    #: Seconds between looks at the change feed for tiles to invalidate (writes through this
    #: process look at once).
    tile_check_every: float = Field(0.5, ge=0)


def get_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
