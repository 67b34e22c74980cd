"""Bulk loading: an import that at least doubles the registry writes its rows without index
maintenance and builds the indexes again afterwards, in the same transaction — what
PostgreSQL's "Populating a Database" advises and osm2pgsql's create mode does.

Measured on a million imported points (bench/import.py): inserting into `entity` with its
seven indexes kept up row by row took 15.8 s; the bare insert 2.6 s and building the seven
indexes afterwards 3.8 s. The price is an exclusive lock on the tables filled, from the start
of the merge to its commit — or, for a direct load (`loaders.direct`), from the start of the
file's read: readers wait for the load (seconds; about 17 s for a million points), which is
what an initial load of a department's layer may ask of them; any smaller import keeps the
indexes and the lock-free path. A failed or killed load rolls the dropped indexes back with
everything else."""

from __future__ import annotations

import time
from dataclasses import dataclass

from psycopg.errors import LockNotAvailable
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from registry.db import quote_ident
from registry.models import SCHEMA

#: The tables an import fills, in lock order (everyone who locks several takes them so).
TABLES = ("entity", "entity_version", "crosswalk")
_NAMES = [f"{SCHEMA}.{quote_ident(t)}" for t in TABLES]
#: Fewer rows than this are always written with the indexes kept.
MIN_ROWS = 100_000
#: Memory for each sort and hash of a bulk load (and of its index builds): a million staged
#: rows joined with their codes and sorted by H3 spilled 209 MB to disk at 32 MB (5.6 s; 4.5 s
#: in memory).
WORK_MEM = "512MB"


def roomy(conn: Connection) -> None:
    """WORK_MEM for the rest of the transaction: a big load's sorts and hashes in memory."""
    conn.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))


def worth_it(conn: Connection, rows: int) -> bool:
    """Whether `rows` new entities are a bulk load: at least MIN_ROWS and at least as many as
    the registry holds."""
    return rows >= MIN_ROWS and is_bulk(rows, _held(conn, rows))


def is_bulk(rows: int, held: int | None) -> bool:
    """`rows` new entities into a registry of `held` (None: not taken by `claim`)."""
    return held is not None and rows >= MIN_ROWS and held <= rows


def _held(conn: Connection, rows: int) -> int:
    """The entities the registry holds, counted up to rows + 1 (no full count of a big one)."""
    return conn.execute(text("SELECT count(*) FROM (SELECT 1 FROM entity LIMIT :n) s"),
                        {"n": rows + 1}).scalar()


_QUEUE = "hashtext('citytwin.bulk')"
# The catalog's estimate of the registry's size: no lock on the table (regclass resolves the
# name without one), -1 until the table was first analysed.
_ESTIMATE = text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)")


def may_be_bulk(conn: Connection, rows: int) -> bool:
    """Whether an import of `rows` features (-1: not known) may become a bulk load, judged
    without reading TABLES: big enough, and the registry not estimated at more than twice as
    many entities (an estimate is stale at times; a load `claim`s only what it counts)."""
    if 0 <= rows < MIN_ROWS:
        return False
    estimate = conn.execute(_ESTIMATE, {"t": f"{SCHEMA}.entity"}).scalar()
    return rows < 0 or estimate is None or estimate < 0 or estimate <= 2 * rows


def queue(conn: Connection) -> None:
    """Wait for the bulk loads before this one (a transaction-level advisory lock): an import
    that `may_be_bulk` takes it before it reads any of TABLES, because holding a share of one
    while waiting for a load that waits for all of them would deadlock. Other imports do not
    wait for bulk loads to start (only for the tables they hold)."""
    conn.execute(text(f"SELECT pg_advisory_xact_lock({_QUEUE})"))


def claim(conn: Connection, rows: int) -> int | None:
    """Take the tables for a bulk load of up to `rows` new entities, if it is one, before the
    merge reads them further; returns the entities they held then (None: not taken). Bulk
    loads pass one at a time: an import that `queue`d at its start holds the turn already;
    one that did not (its estimate said no) takes the turn only if it is free — it has read
    the tables, so it never waits for a load that may wait for them."""
    if rows < MIN_ROWS:
        return None
    if not conn.execute(text(f"SELECT pg_try_advisory_xact_lock({_QUEUE})")).scalar():
        return None
    held = _held(conn, rows)
    if not is_bulk(rows, held):
        return None
    _lock_tables(conn)
    return held


#: How long a bulk load waits for its tables at a time before it lets go of those it got and
#: tries again: less than PostgreSQL's deadlock_timeout (1 s). An import that read one of the
#: tables the load has not got yet, and then waits for one it has, goes on instead of one of
#: the two being aborted as a deadlock.
LOCK_WAIT = "400ms"


def _lock_tables(conn: Connection) -> None:
    names = ", ".join(_NAMES)
    before = conn.execute(text("SELECT current_setting('lock_timeout')")).scalar()
    conn.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": LOCK_WAIT})
    while True:
        attempt = conn.begin_nested()
        try:
            conn.execute(text(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE"))
        except OperationalError as e:
            attempt.rollback()  # lets go of the tables got so far
            if not isinstance(e.orig, LockNotAvailable):
                raise
            time.sleep(0.05)
            continue
        attempt.commit()
        conn.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": before})
        return


@dataclass
class Dropped:
    """The indexes, key constraints and checks taken off, and the DDL that puts them back."""

    restore: list[tuple[str, str]]  # (index, constraint or trigger name; its DDL)

    def rebuild(self, conn: Connection, only: str | None = None) -> None:
        """Put back everything (or only the index or constraint named `only`, now)."""
        conn.execute(text(f"SET LOCAL maintenance_work_mem = '{WORK_MEM}'"))
        for name, ddl in [r for r in self.restore if only in (None, r[0])]:
            conn.exec_driver_sql(ddl)  # from the catalog, not from input
            self.restore.remove((name, ddl))


_INDEXES = text("""
    SELECT t.relname AS tbl, x.relname AS idx, pg_get_indexdef(i.indexrelid) AS idxdef,
           c.conname, pg_get_constraintdef(c.oid) AS condef
    FROM pg_index i
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_class x ON x.oid = i.indexrelid
    LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                             AND c.contype IN ('p', 'u')
    WHERE t.relnamespace = CAST(:schema AS regnamespace) AND t.relname = ANY(:tables)
    ORDER BY t.relname, c.conname NULLS LAST, x.relname
""")


#: Reference checks (migration 0004) a bulk load may leave off while it holds the tables: the
#: versions and crosswalk rows it writes name the entities it has just inserted (or linked,
#: under the same lock), so each statement's anti-join over a million codes (0.7 s each,
#: without the entity key to probe) could find nothing. Checks of what comes from the file
#: (a class in the dictionary) stay on.
TRUSTED = (("entity_version", "entity_version_code_exists_insert"),
           ("crosswalk", "crosswalk_code_exists_insert"))


_EMPTY = text("SELECT " + " AND ".join(f"NOT EXISTS (SELECT 1 FROM {name}) AND "
                           f"has_table_privilege(:t{i}, 'TRUNCATE')"
                           for i, name in enumerate(_NAMES)))


def fresh_files(conn: Connection) -> bool:
    """Truncate TABLES if they are all empty (and the role may): each gets new files in this
    transaction, which PostgreSQL with `wal_level = minimal` fills without writing WAL and
    syncs at commit — the fast path of COPY in "Populating a Database" (a million points:
    661 MB of WAL → 3 MB, the load's server time 1 s less). Nothing is lost (they are empty)
    and a rollback puts the old files back; the caller holds `claim`'s lock."""
    if not conn.execute(_EMPTY, {f"t{i}": name for i, name in enumerate(_NAMES)}).scalar():
        return False
    conn.execute(text(f"TRUNCATE {', '.join(_NAMES)}"))
    return True


def drop_indexes(conn: Connection) -> Dropped:
    """Take every index (keys included) off the bulk tables and the TRUSTED checks off; the
    caller holds `claim`'s lock, and the rollback of a failed load puts all of it back."""
    fresh_files(conn)
    restore = []
    for tbl, trigger in TRUSTED:
        table = f"{SCHEMA}.{quote_ident(tbl)}"
        conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER {quote_ident(trigger)}")
        restore.append((trigger, f"ALTER TABLE {table} ENABLE TRIGGER {quote_ident(trigger)}"))
    for r in conn.execute(_INDEXES, {"schema": SCHEMA, "tables": list(TABLES)}):
        table = f"{SCHEMA}.{quote_ident(r.tbl)}"
        if r.conname:
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {quote_ident(r.conname)}")
            restore.append((r.conname, f"ALTER TABLE {table} ADD CONSTRAINT "
                                       f"{quote_ident(r.conname)} {r.condef}"))
        else:
            conn.exec_driver_sql(f"DROP INDEX {SCHEMA}.{quote_ident(r.idx)}")
            restore.append((r.idx, r.idxdef))
    return Dropped(restore)
