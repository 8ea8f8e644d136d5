"""Sessions and access changes in SQLite.

`sessions`: `n` is insertion order (breaks created_at ties). Access changes (schema
version 4): `access_log` holds one row per change, its `epoch` (the rowid, so max + 1,
never reused while the newest row is kept) and the registrant it concerns; rows older
than the last ACCESS_LOG_SIZE are deleted in the same transaction. The epoch is the
greatest row's (0 when there is none).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from typing import Any

from gateway.core.records import Session
from gateway.store import ACCESS_LOG_SIZE, AccessChanges
from gateway.store.codec import decode_time, encode_time
from gateway.store.sqlite.connection import SqliteBase

_INSERT_SESSION = (
    "INSERT INTO sessions (id, registrant_id, link_version, created_at, expires_at)"
    " VALUES (?, ?, ?, ?, ?)"
)
_SESSION_BY_ID = (
    "SELECT id, registrant_id, link_version, created_at, expires_at FROM sessions WHERE id = ?"
)
# The changes after `since` and the newest one (which carries the epoch), in one snapshot.
_ACCESS_CHANGES = (
    "SELECT epoch, registrant_id FROM access_log"
    " WHERE epoch > ? OR epoch = (SELECT MAX(epoch) FROM access_log) ORDER BY epoch"
)


def note_change(conn: sqlite3.Connection, registrant_id: str) -> None:
    """Log an access change in the caller's transaction (the epoch moves with the change)."""
    epoch = conn.execute(
        "INSERT INTO access_log (registrant_id) VALUES (?)", (registrant_id,)
    ).lastrowid
    assert epoch is not None
    conn.execute("DELETE FROM access_log WHERE epoch <= ?", (epoch - ACCESS_LOG_SIZE,))


def _session(row: Sequence[Any]) -> Session:
    sid, registrant_id, link_version, created_at, expires_at = row
    return Session(
        sid, registrant_id, link_version, decode_time(created_at), decode_time(expires_at)
    )


class SessionsMixin(SqliteBase):
    async def create_session(
        self, session: Session, *, max_devices: int, now: dt.datetime
    ) -> list[str]:
        values = (session.id, session.registrant_id, session.link_version,
                  encode_time(session.created_at), encode_time(session.expires_at))  # fmt: skip
        at = encode_time(now)

        def work(conn: sqlite3.Connection) -> list[str]:
            conn.execute(
                "DELETE FROM sessions WHERE registrant_id = ? AND expires_at <= ?",
                (session.registrant_id, at),
            )
            conn.execute("DELETE FROM sessions WHERE id = ?", (session.id,))
            conn.execute(_INSERT_SESSION, values)
            rows = conn.execute(
                "SELECT id FROM sessions WHERE registrant_id = ? ORDER BY created_at, n",
                (session.registrant_id,),
            ).fetchall()
            ended = [row[0] for row in rows[: max(0, len(rows) - max_devices)]]
            conn.executemany("DELETE FROM sessions WHERE id = ?", [(sid,) for sid in ended])
            if ended:
                note_change(conn, session.registrant_id)
            return ended

        ended = await self._transaction(work)
        self._access_changes += bool(ended)
        return ended

    async def session(self, session_id: str) -> Session | None:
        row = await self._one(_SESSION_BY_ID, session_id)
        return None if row is None else _session(row)

    async def end_sessions(self, registrant_id: str) -> list[str]:
        def work(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "DELETE FROM sessions WHERE registrant_id = ? RETURNING id, created_at, n",
                (registrant_id,),
            ).fetchall()
            if rows:
                note_change(conn, registrant_id)
            return [row[0] for row in sorted(rows, key=lambda row: (row[1], row[2]))]

        ended = await self._transaction(work)
        self._access_changes += bool(ended)
        return ended

    async def count_sessions(self, now: dt.datetime, *, registrant_id: str | None = None) -> int:
        if registrant_id is None:
            query, args = "SELECT COUNT(*) FROM sessions WHERE expires_at > ?", [encode_time(now)]
        else:
            query = "SELECT COUNT(*) FROM sessions WHERE registrant_id = ? AND expires_at > ?"
            args = [registrant_id, encode_time(now)]
        rows = await self._all(query, *args)
        return int(rows[0][0])

    # Access changes

    async def access_epoch(self) -> int:
        row = await self._one("SELECT COALESCE(MAX(epoch), 0) FROM access_log")
        assert row is not None
        return int(row[0])

    async def access_changes(self, since: int) -> AccessChanges:
        if since < 0:
            return AccessChanges(await self.access_epoch(), None)
        rows = await self._all(_ACCESS_CHANGES, since)
        epoch = int(rows[-1][0]) if rows else 0
        if since == epoch:
            return AccessChanges(epoch, frozenset())
        if since > epoch or [int(row[0]) for row in rows] != list(range(since + 1, epoch + 1)):
            return AccessChanges(epoch, None)  # ahead of the store, or older than the log
        return AccessChanges(epoch, frozenset(str(row[1]) for row in rows))

    def local_access_changes(self) -> int:
        return self._access_changes
