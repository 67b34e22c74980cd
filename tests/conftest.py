"""Tests run against a real PostGIS: a fresh `citytwin_test` database in the project's own
cluster (or on CITYTWIN_DATABASE_URL's server; CITYTWIN_TEST_DATABASE_URL names one directly)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, text

from registry import areas, migrate
from registry.db import database_url, ensure_database, make_engine
from registry.settings import Settings
from sample_gis import builtin

TEST_DB = os.environ.get("CITYTWIN_TEST_DATABASE_NAME", "citytwin_test")  # runs side by side
COUNTY = "440311"


def _test_url() -> str:
    explicit = os.environ.get("CITYTWIN_TEST_DATABASE_URL")
    if explicit:
        return database_url(Settings(database_url=explicit))
    return ensure_database(Settings(), TEST_DB, fresh=True)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(database_url=_test_url(), county=COUNTY)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


def empty(conn) -> None:  # noqa: ANN001 - a SQLAlchemy connection
    """Remove entities, areas, batches and counters (the dictionary stays)."""
    conn.execute(text("TRUNCATE lineage, crosswalk, entity_cover, entity_version, entity, "
                      "serial_counter, admin_area, import_batch RESTART IDENTITY CASCADE"))


def load_builtin_sample(engine: Engine, n: int = 600) -> None:
    with engine.begin() as conn:
        empty(conn)
        builtin.load(conn, n=n)


@pytest.fixture
def db(engine: Engine) -> Engine:
    """The test database with no entities, areas, batches or counters (dictionary kept)."""
    with engine.begin() as conn:
        empty(conn)
    return engine


@pytest.fixture
def reg(db: Engine) -> Engine:
    """The empty registry with the sample district's admin areas (what an import places in)."""
    from sample_gis.areas import admin_areas
    with db.begin() as conn:
        areas.upsert(conn, admin_areas(), place=False)
    return db


def square(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"type": "Polygon",
            "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


@pytest.fixture
def district(db: Engine) -> Engine:
    """Two streets (west / east of 113.90), a community in each, and 4 grids in the west one."""
    west, east = square(113.80, 22.70, 113.90, 22.80), square(113.90, 22.70, 114.00, 22.80)
    items = [
        areas.Area("440311001", "street", "光明街道", west, COUNTY),
        areas.Area("440311002", "street", "公明街道", east, COUNTY),
        areas.Area("440311001001", "community", "光明社区", west, "440311001"),
        areas.Area("440311002001", "community", "公明社区", east, "440311002"),
    ]
    for i, (x, y) in enumerate([(113.80, 22.70), (113.85, 22.70), (113.80, 22.75),
                                (113.85, 22.75)]):
        items.append(areas.Area(f"440311001001{i + 1:03d}", "grid", f"网格{i + 1}",
                                square(x, y, x + 0.05, y + 0.05), "440311001001"))
    with db.begin() as conn:
        areas.upsert(conn, items)
    return db


def point(x: float = 113.85, y: float = 22.75) -> dict:
    return {"type": "Point", "coordinates": [x, y]}


@contextlib.contextmanager
def api_server(settings: Settings) -> Iterator[str]:
    """The API in its own process on a free 127.0.0.1 port, as a user runs it; stopped after."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CITYTWIN_DATABASE_URL": settings.database_url or ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("the API did not start: " + proc.stderr.read().decode()[-2000:])
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
