"""The app factory: `create_app(settings)`; the lifespan opens and closes the pool."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError

from api.errors import register_error_handlers
from api.middleware import add_middleware
from api.routes import (
    collections,
    entities,
    health,
    items,
    landing,
    lifecycle,
    lookup,
    pages,
    spatial,
    tiles,
    writes,
)
from registry import dictionary, layers
from registry.db import async_pool, make_engine
from registry.settings import Settings
from tiles.service import TileService

log = logging.getLogger("citytwin.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        app.state.engine = engine
        app.state.apool = async_pool(settings)
        await app.state.apool.open(wait=False)
        try:
            with engine.connect() as conn:
                app.state.dictionary = dictionary.load(conn)
        except OperationalError as e:
            # Serve anyway (health says 503) and validate codes against the shipped seed.
            log.warning("database unreachable at start-up (%s); using the seed dictionary", e)
            app.state.dictionary = dictionary.load_seed()
        app.state.catalog = layers.load(app.state.dictionary)
        app.state.tiles = TileService(app.state.catalog, budget=settings.tile_budget,
                                      cache_tiles=settings.tile_cache_size,
                                      check_every=settings.tile_check_every)
        try:
            yield
        finally:
            await app.state.apool.close()
            engine.dispose()

    app = FastAPI(
        title="citytwin",
        description="City digital-twin entity registry: unified codes, PostGIS, H3.",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url="/api",
    )
    app.state.settings = settings
    register_error_handlers(app)
    add_middleware(app, settings)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for module in (landing, collections, items, writes, health, lifecycle, lookup, spatial,
                   entities, tiles, pages):
        app.include_router(module.router)
    return app
