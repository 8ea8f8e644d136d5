"""The plumbing of `SqliteStore`: one connection, a lock, worker threads, errors mapped.

One connection per store, guarded by a lock and used from worker threads
(`asyncio.to_thread`) so the event loop never waits on the disk. The file is
shared with other processes (a CLI command while the server runs): WAL mode, a
5 s busy timeout, and every multi-step write in one `BEGIN IMMEDIATE`
transaction so two writers never interleave. Failing to reach the file (cannot
open, locked, disk I/O) raises `StoreUnavailable`; the schema is created or
upgraded on first use (`schema.migrate`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from gateway.core.errors import StoreUnavailable
from gateway.store.sqlite.schema import migrate

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000


def _unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the file cannot be reached (rather than a bug or a bad argument)."""
    return isinstance(exc, sqlite3.OperationalError | OSError) or (
        type(exc) is sqlite3.DatabaseError  # not a database, corrupt image
    )


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (it stays so). The switch needs the file to itself and does not
    wait on the busy timeout, so a process opening a new file beside another one retries."""
    for _ in range(BUSY_TIMEOUT_MS // 50):
        try:
            if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() in ("wal", "memory"):
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        time.sleep(0.05)
    raise sqlite3.OperationalError("database is locked: could not switch to WAL")


class SqliteBase:
    """The connection (opened and migrated on first use) and how work runs on it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._access_changes = 0  # made through this object (local_access_changes)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        if self._closed:  # never a connection nobody will close
            raise StoreUnavailable(f"sqlite {self.path}: the store was closed")
        if self.path != ":memory:" and not self.path.startswith("file:"):
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _use_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA secure_delete = ON")  # what is erased (a purge) is overwritten
            conn.execute("BEGIN IMMEDIATE")
            try:
                migrate(conn, self.path)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _call(self, work: Callable[[sqlite3.Connection], T], write: bool) -> T:
        with self._lock:
            try:
                conn = self._connect()
                if not write:
                    return work(conn)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                return result
            except Exception as exc:
                if _unavailable(exc):
                    raise StoreUnavailable(f"sqlite {self.path}: {exc}") from exc
                raise

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in autocommit mode: for reads and single-statement writes."""
        return await asyncio.to_thread(self._call, work, False)

    async def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one `BEGIN IMMEDIATE` transaction (the write lock taken up front)."""
        return await asyncio.to_thread(self._call, work, True)

    async def _one(self, sql: str, *params: object) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = await self._run(lambda c: c.execute(sql, params).fetchone())
        return row

    async def _all(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        return await self._run(lambda conn: conn.execute(sql, params).fetchall())

    async def close(self) -> None:
        def work() -> None:
            with self._lock:
                self._closed = True
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        await asyncio.to_thread(work)

    async def ping(self) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO ping (id, n) VALUES (1, 1)")
            conn.execute("SELECT n FROM ping WHERE id = 1").fetchone()

        await self._transaction(work)

    async def server_time(self) -> dt.datetime | None:
        return None  # the same machine's clock
