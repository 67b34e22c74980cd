"""An import's COPY streams, written by a worker thread.

`send` queues a block for a statement and returns; the worker opens, switches and ends the
streams (a connection has one COPY at a time, and ending one waits for the server to store
it). So the loop reads and checks the next chunk while the server stores the last — the two
cores at work at once, neither waiting for the other (a COPY per chunk from the loop waited for
the server three times a chunk: 2.2 s of a million-point import). `pause` waits for everything
sent and ends the open stream, to run SQL between streams. An error of the worker's is raised
at the next `send`, `send_rows`, `pause` or the end; an error of the import's stops the worker
at once (what is still queued is dropped, the open stream ends with the error, the transaction
is rolled back by the caller) and is the one raised.
"""

from __future__ import annotations

import queue
import sys
import threading
from dataclasses import dataclass
from typing import Any

from psycopg.copy import Copy, Writer
from psycopg.types.string import BytesBinaryDumper
from sqlalchemy import Connection

#: Bytes sent and not yet written before `send` waits (about two chunks of a direct load).
QUEUED_BYTES = 64 * 2**20
#: Python's thread switch interval while streams run — for the whole process, restored when
#: the last Streams ends. The worker needs the GIL after each wait on the socket; at the
#: default 5 ms the loop's list comprehensions kept it waiting while the server had nothing
#: to store: a million-point import's loop took 8.6-9.3 s at 5 ms, 7.9-8.1 s at 0.2 ms.
SWITCH_INTERVAL = 0.0002
_switches = {"users": 0, "before": 0.0}
_switches_lock = threading.Lock()


def _quick_switches(step: int) -> None:
    with _switches_lock:
        if step > 0 and _switches["users"] == 0:
            _switches["before"] = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL)
        _switches["users"] += step
        if step < 0 and _switches["users"] == 0:
            sys.setswitchinterval(_switches["before"])


class _Blocks(Writer):
    """What a Copy formats, kept as bytes (no I/O)."""

    def __init__(self) -> None:
        self._parts: list[Any] = []

    def write(self, data: Any) -> None:
        self._parts.append(data)

    def take(self) -> bytes:
        block, self._parts = b"".join(self._parts), []
        return block


@dataclass
class _Stop:
    exc: BaseException | None


class Streams:
    """COPY streams of one connection, written by a worker thread (module docstring).
    `row_types`: the type lists `send_rows` will be given (their dumpers are made before the
    worker starts: making one reads the connection's settings)."""

    def __init__(self, conn: Connection, row_types: tuple[list[str], ...] = ()) -> None:
        self._conn = conn
        self._row_types = row_types
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._room = threading.Condition()
        self._pending = 0  # bytes queued, not yet written
        self._error: BaseException | None = None
        self._abort = False  # the import failed: write nothing more
        self._open: tuple[str, Any, Any] | None = None  # (statement, context, Copy): the worker's
        self._rows: tuple[str, Copy, _Blocks] | None = None  # binary rows being formatted

    def __enter__(self) -> Streams:
        raw = self._conn.connection.driver_connection
        self._cur = raw.cursor()
        self._fmt = raw.cursor()  # its adapters format binary rows
        # bytea's default binary dumper is psycopg's DB-API `Binary` one, in Python; the plain
        # bytes dumper (in C) writes the same bytes at twice the speed.
        self._fmt.adapters.register_dumper(bytes, BytesBinaryDumper)
        for types in self._row_types:
            Copy(self._fmt, binary=True, writer=_Blocks()).set_types(types)
        self._worker = threading.Thread(target=self._work, name="citytwin-copy", daemon=True)
        try:
            self._worker.start()
        except BaseException:
            self._close()
            raise
        _quick_switches(+1)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            if exc is None:
                self._end_rows()  # may raise the worker's error
        except BaseException as e:
            exc = e
            raise
        finally:
            self._stop(exc)
            _quick_switches(-1)
            self._close()
        if self._error is not None:
            if exc is None:
                raise self._error
            exc.add_note(f"(writing the import's rows had failed too: {self._error})")

    def _close(self) -> None:
        self._cur.close()
        self._fmt.close()

    def send(self, statement: str, block: Any) -> None:
        """Queue `block` (bytes in the statement's format) for the COPY of `statement`.
        Returns at once, unless QUEUED_BYTES wait already."""
        self._raise()
        if self._rows is not None:
            if self._rows[0] == statement:
                raise ValueError("send_rows is making that statement's stream: send rows")
            self._end_rows()
        self._put((statement, block), len(block))

    def send_rows(self, statement: str, types: list[str], rows: Any) -> None:
        """Send `rows` (tuples of `types`) for the binary COPY of `statement`, formatted
        here by psycopg's Copy into bytes: its signature opens the stream, its trailer is sent
        when the stream ends (another statement sent, `pause`, the end)."""
        self._raise()
        if self._rows is not None and self._rows[0] != statement:
            self._end_rows()
        if self._rows is None:
            blocks = _Blocks()
            cp = Copy(self._fmt, binary=True, writer=blocks)
            cp.set_types(types)
            self._rows = (statement, cp, blocks)
        write = self._rows[1].write_row
        for row in rows:
            write(row)
        if block := self._rows[2].take():
            self._put((statement, block), len(block))

    def _end_rows(self) -> None:
        if self._rows is not None:
            (statement, cp, blocks), self._rows = self._rows, None
            cp.finish(None)  # what is left, and the trailer
            self._raise()
            self._put((statement, blocks.take()), 0)

    def pause(self) -> None:
        """Wait for everything sent to be stored; the connection may run SQL again."""
        self._end_rows()
        done = threading.Event()
        self._put(done, 0)
        while not done.wait(0.5) and self._worker.is_alive():
            pass
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _put(self, item: Any, size: int) -> None:
        with self._room:
            while (size and self._pending and self._pending + size > QUEUED_BYTES
                   and self._error is None and self._worker.is_alive()):
                self._room.wait(0.5)
            self._pending += size
        self._queue.put((item, size))

    def _stop(self, exc: BaseException | None) -> None:
        """End the worker: after what was sent, or (the import failed) at once."""
        if exc is not None:
            self._abort = True
        self._queue.put((_Stop(exc), 0))
        self._worker.join()

    def _work(self) -> None:
        while True:
            item, size = self._queue.get()
            if isinstance(item, _Stop):  # the open stream ends (failed, if the import did)
                self._guarded(self._end, item.exc, aborted_too=True)
                return
            if isinstance(item, threading.Event):
                self._guarded(self._end, None)
                item.set()
                continue
            self._guarded(self._write, *item)
            with self._room:
                self._pending -= size
                self._room.notify_all()

    def _guarded(self, action: Any, *args: Any, aborted_too: bool = False) -> None:
        """Run `action` unless an earlier one failed (or the import did); a failure ends the
        open stream with it and is kept for the import's thread."""
        if self._error is not None or (self._abort and not aborted_too):
            return
        try:
            action(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the import's thread
            try:
                self._end(e)
            except BaseException:  # noqa: BLE001, S110 - the first error is the one told
                pass
            self._error = e

    def _write(self, statement: str, block: Any) -> None:
        self._stream(statement).write(block)

    def _stream(self, statement: str) -> Any:
        if self._open is None or self._open[0] != statement:
            self._end(None)
            ctx = self._cur.copy(statement)
            self._open = (statement, ctx, ctx.__enter__())
        return self._open[2]

    def _end(self, exc: BaseException | None) -> None:
        if self._open is not None:
            ctx, self._open = self._open[1], None
            ctx.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)
