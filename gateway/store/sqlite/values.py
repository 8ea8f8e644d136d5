"""Live segment dates (table `live_segments`) and small named values (table `kv`) in SQLite."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence

from gateway.core.dating import Dated
from gateway.store.codec import decode_dated, encode_dated
from gateway.store.sqlite.connection import SqliteBase


def _select_dates(conn: sqlite3.Connection, keys: list[str]) -> dict[str, Dated]:
    rows = conn.execute(
        "SELECT key, dated FROM live_segments WHERE key IN (SELECT value FROM json_each(?))",
        (json.dumps(keys),),
    )
    return {key: decode_dated(dated) for key, dated in rows}


class ValuesMixin(SqliteBase):
    async def date_segments(self, dates: Mapping[str, Dated]) -> dict[str, Dated]:
        rows = [(key, encode_dated(dated)) for key, dated in dates.items()]

        def work(conn: sqlite3.Connection) -> dict[str, Dated]:
            conn.executemany("INSERT OR IGNORE INTO live_segments (key, dated) VALUES (?, ?)", rows)
            return _select_dates(conn, list(dates))

        return await self._transaction(work) if rows else {}

    async def segment_dates(self, keys: Sequence[str]) -> dict[str, Dated]:
        wanted = list(keys)
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
