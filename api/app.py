"""The app factory: `create_app(settings)`; the lifespan opens and closes the pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import register_error_handlers
from api.routes import entities, health
from registry import dictionary
from registry.db import make_engine
from registry.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        app.state.engine = engine
        with engine.connect() as conn:
            app.state.dictionary = dictionary.load(conn)
        try:
            yield
        finally:
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
    app.include_router(health.router)
    app.include_router(entities.router)
    return app
