"""Live segment dates (table `segments`) and small named values (table `kv`) in SQLite."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Mapping, Sequence

from gateway.store.codec import decode_time, encode_time
from gateway.store.sqlite.connection import SqliteBase


def _select_dates(conn: sqlite3.Connection, names: list[str]) -> dict[str, dt.datetime]:
    rows = conn.execute(
        "SELECT name, date FROM segments WHERE name IN (SELECT value FROM json_each(?))",
        (json.dumps(names),),
    )
    return {name: decode_time(date) for name, date in rows}


class ValuesMixin(SqliteBase):
    async def date_segments(
        self, dates: Mapping[str, dt.datetime], *, overwrite: bool
    ) -> dict[str, dt.datetime]:
        rows = [(name, encode_time(date)) for name, date in dates.items()]
        verb = "INSERT OR REPLACE" if overwrite else "INSERT OR IGNORE"

        def work(conn: sqlite3.Connection) -> dict[str, dt.datetime]:
            conn.executemany(f"{verb} INTO segments (name, date) VALUES (?, ?)", rows)
            return _select_dates(conn, list(dates))

        return await self._transaction(work) if rows else {}

    async def segment_dates(self, names: Sequence[str]) -> dict[str, dt.datetime]:
        wanted = list(names)
        return await self._run(lambda conn: _select_dates(conn, wanted)) if wanted else {}

    # Small named values

    async def delete_value(self, key: str) -> None:
        await self._all("DELETE FROM kv WHERE key = ?", key)

    async def get_value(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM kv WHERE key = ?", key)
        return None if row is None else str(row[0])

    async def set_value(self, key: str, value: str) -> None:
        await self._all("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", key, value)

    async def setdefault_value(self, key: str, value: str) -> str:
        def work(conn: sqlite3.Connection) -> str:
            conn.execute("INSERT OR IGNORE INTO kv (key, value) VALUES (?, ?)", (key, value))
            return str(conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()[0])

        return await self._transaction(work)

    async def replace_value(self, key: str, expected: str | None, value: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
            if (None if row is None else str(row[0])) != expected:
                return False
            conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, value))
            return True

        return await self._transaction(work)
