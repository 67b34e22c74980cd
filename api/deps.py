"""Dependencies as Annotated aliases, so routes stay short and tests can override them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine

from registry.dictionary import Dictionary
from registry.layers import Catalog
from registry.settings import Settings


def get_conn(request: Request) -> Iterator[Connection]:
    """A read connection in autocommit: no BEGIN/ROLLBACK per request, and psycopg keeps its
    prepared statements (a rollback clears them), so hot lookups are planned once."""
    engine = request.app.state.engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn


def get_tx_conn(request: Request) -> Iterator[Connection]:
    """A connection inside a transaction, for searches: several statements see one snapshot,
    and `registry.search` can pin custom plans with SET LOCAL."""
    with request.app.state.engine.begin() as conn:
        yield conn


# The dependencies that only read app state are async: a sync dependency costs a hop through
# the thread pool on every request, a third of a hot route's time (bench/api.py).
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_dictionary(request: Request) -> Dictionary:
    return request.app.state.dictionary


Db = Annotated[Connection, Depends(get_conn)]
DbTx = Annotated[Connection, Depends(get_tx_conn)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Dict = Annotated[Dictionary, Depends(get_dictionary)]


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


Layers = Annotated[Catalog, Depends(get_catalog)]


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


#: For writes: the route opens its own transaction (`with engine.begin() as conn`), so the
#: commit happens before the response is sent.
DbEngine = Annotated[Engine, Depends(get_engine)]
