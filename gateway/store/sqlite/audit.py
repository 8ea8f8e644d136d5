"""The audit log in SQLite (table `audit`, one row per event by seq; an append reads the
head and inserts in one `BEGIN IMMEDIATE` transaction) and the marks of `mark_once`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from gateway.core import chain
from gateway.core.chain import Draft, Event
from gateway.store.sqlite.connection import SqliteBase


class AuditMixin(SqliteBase):
    async def append_audit(self, draft: Draft) -> Event:
        def work(conn: sqlite3.Connection) -> Event:
            head = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (0, chain.GENESIS) if head is None else (head[0], head[1])
            event = chain.seal(draft, seq + 1, prev)
            conn.execute(
                "INSERT INTO audit (seq, ts, type, registrant, hash, event)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (event.seq, event.ts, event.type, event.registrant, event.hash, event.to_json()),
            )
            return event

        return await self._transaction(work)

    async def audit_events(self, *, after_seq: int = 0, limit: int | None = None) -> list[Event]:
        """Events by seq; ValueError for a row whose columns beside the event (seq, ts,
        type, registrant, hash: what filters read) disagree with the hashed event."""
        sql = (
            "SELECT seq, ts, type, registrant, hash, event FROM audit"
            " WHERE seq > ? ORDER BY seq LIMIT ?"
        )
        rows = await self._all(sql, after_seq, -1 if limit is None else max(0, limit))
        return [_checked(row) for row in rows]

    async def mark_once(self, key: str) -> bool:
        sql = "INSERT OR IGNORE INTO marks (key) VALUES (?)"
        return await self._run(lambda conn: conn.execute(sql, (key,)).rowcount == 1)


COLUMNS = ("seq", "ts", "type", "registrant", "hash")


def _checked(row: Any) -> Event:
    event = Event.from_json(row[5])
    for name, column in zip(COLUMNS, row[:5], strict=True):
        if column != getattr(event, name):
            raise ValueError(
                f"audit row {row[0]}: the {name} column says {column!r:.60}"
                f" but the event says {getattr(event, name)!r:.60}"
            )
    return event
