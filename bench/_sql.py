"""The SQL the registry sends, captured for EXPLAIN in the benchmarks: statements through
SQLAlchemy (its cursor events) and those `registry.db.fetch_named` sends to psycopg directly
(the searches and aggregates, never prepared), verbatim in psycopg's parameter style."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, event

from registry import aggregate, search
from registry.db import driver_sql

#: The modules whose `fetch_named` runs statements that SQLAlchemy never sees.
_DIRECT = (search, aggregate)


def captured(engine: Engine, fn: Callable[[Connection], Any]) -> list[tuple[str, Any]]:
    """The statements and parameters fn sent in one transaction, in order."""
    seen: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        seen.append((statement, parameters))

    def direct(real: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
        def fetch_named(conn: Connection, sql: str, params: dict[str, Any]) -> list[Any]:
            seen.append(driver_sql(sql, params))
            return real(conn, sql, params)
        return fetch_named

    reals = [m.fetch_named for m in _DIRECT]
    event.listen(engine, "before_cursor_execute", record)
    for m, real in zip(_DIRECT, reals, strict=True):
        m.fetch_named = direct(real)
    try:
        with engine.begin() as conn:
            fn(conn)
    finally:
        event.remove(engine, "before_cursor_execute", record)
        for m, real in zip(_DIRECT, reals, strict=True):
            m.fetch_named = real
    return seen


def plan_node(node: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The first node of type `kind` in an EXPLAIN (FORMAT JSON) plan, depth first."""
    if node.get("Node Type") == kind:
        return node
    for child in node.get("Plans", []):
        if found := plan_node(child, kind):
            return found
    return None
