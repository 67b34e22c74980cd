"""The database engine and the one identifier-quoting helper."""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable
from functools import lru_cache
from itertools import repeat
from typing import Any

from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.dialects.postgresql import psycopg as pg_dialect
from sqlalchemy.engine import make_url

from registry import cluster
from registry.errors import ClusterError
from registry.models import SCHEMA
from registry.settings import Settings

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quote_ident(name: str) -> str:
    """Quote a SQL identifier. The only way an identifier that is not a literal in the source
    reaches SQL; values are always bound parameters."""
    if not _IDENT.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return '"' + name + '"'


_DIALECT = pg_dialect.dialect()


@lru_cache(maxsize=256)
def _compiled(sql: str) -> Any:
    return text(sql).compile(dialect=_DIALECT)


def driver_sql(sql: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """`sql` with SQLAlchemy `:name` parameters as psycopg runs it (`%(name)s`)."""
    compiled = _compiled(sql)
    return str(compiled), compiled.construct_params(params)


def fetch_named(conn: Connection, sql: str, params: dict[str, Any]) -> list[Any]:
    """The rows of `sql` (SQLAlchemy `:name` parameters) as psycopg named tuples, in the
    connection's own transaction: no SQLAlchemy row objects, for results of thousands of rows.
    Never a prepared statement: PostgreSQL plans each run for its values (a generic plan for a
    predicate on a bound geometry was measured 100-500x slower)."""
    with conn.connection.driver_connection.cursor() as cur:
        rows = cur.execute(*driver_sql(sql, params), prepare=False).fetchall()
        names = tuple(d.name for d in cur.description or ())
    # tuple.__new__ mapped over the rows builds the named tuples without a Python call each.
    return list(map(tuple.__new__, repeat(_row_class(names)), rows))


@lru_cache(maxsize=64)
def _row_class(names: tuple[str, ...]) -> type:
    return namedtuple("Row", names, rename=True)  # noqa: PYI024 - from a result's columns


def database_url(settings: Settings, database: str | None = None) -> str:
    """The SQLAlchemy URL: CITYTWIN_DATABASE_URL, else the local cluster's socket URL."""
    if settings.database_url:
        url = make_url(settings.database_url)
        if url.drivername in ("postgresql", "postgres", "postgis"):
            url = url.set(drivername="postgresql+psycopg")
        if database:
            url = url.set(database=database)
        return url.render_as_string(hide_password=False)
    state = cluster.load_state(settings)
    if state is None:
        raise ClusterError(
            "no database: run `citytwin db up` (or `make run`), or set CITYTWIN_DATABASE_URL"
        )
    return state.url(database or settings.database_name)


SESSION_OPTIONS = f"-c search_path={SCHEMA},public -c jit=off -c max_parallel_workers_per_gather=0"


def async_pool(settings: Settings, database: str | None = None) -> AsyncConnectionPool:
    """A psycopg async pool for the few hot read routes that skip SQLAlchemy and the thread
    pool. Autocommit, so psycopg keeps their statements prepared. Open it with `await
    pool.open()`."""
    url = make_url(database_url(settings, database)).set(drivername="postgresql")
    return AsyncConnectionPool(
        url.render_as_string(hide_password=False), min_size=1, max_size=settings.pool_size,
        kwargs={"autocommit": True, "options": SESSION_OPTIONS}, open=False)


def ensure_database(settings: Settings, name: str, *, fresh: bool = False,
                    log: Callable[[str], None] = lambda m: None) -> str:
    """The URL of database `name` on CITYTWIN_DATABASE_URL's server, or in the local cluster
    (started when needed); dropped and made again when `fresh`, made when missing. For the
    test and benchmark databases."""
    if not settings.database_url:
        state = cluster.up(settings, log=log)
        cluster.create_database(state, name, fresh=fresh)
        return state.url(name)
    url = database_url(settings, name)
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if fresh:
                conn.execute(text(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)"))
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                {"n": name}).first():
                conn.execute(text(cluster.CREATE_DATABASE.format(quote_ident(name))))
    finally:
        admin.dispose()
    return url


def make_engine(settings: Settings, database: str | None = None, **kw: object) -> Engine:
    options: dict[str, object] = {
        "pool_size": settings.pool_size,
        "max_overflow": settings.pool_overflow,
        "pool_timeout": settings.pool_timeout,
        # search_path so SQL names tables plainly; jit off and no parallel workers also on an
        # external database: PostGIS costs its predicates high, so a 2 ms bbox query got a
        # parallel plan whose worker start-up alone took 10-20 ms (bench/spatial.py).
        "connect_args": {"options": SESSION_OPTIONS},
        **kw,
    }
    return create_engine(database_url(settings, database), **options)  # type: ignore[arg-type]
