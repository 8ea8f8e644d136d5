"""Attendance, counted sets and personal data retention in SQLite.

Attendance: `attendance` (registrant, minute start as ISO text). The counted sets of
`add_member` expire by SQLite's own clock (`julianday('now')`, read once per call inside
its transaction): the database's clock is this store's clock, as the Redis server's is
for a Redis TTL, and being wall-clock time it survives restarts. Expired sets are
deleted lazily, by the next `add_member` call (for any key). A purged registrant keeps
its row; its `email_key` becomes `PURGED:<id>`, which no lookup key (always
`email.lower()`, so never containing an upper-case letter) can equal, and which frees
the address for a new registration.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Collection, Mapping

from gateway.store.codec import decode_time, encode_time, minute_range, minute_start
from gateway.store.sqlite.connection import SqliteBase

# Not yet purged: a purged registrant's email_key is 'PURGED:' || id.
_PURGEABLE = (
    "SELECT n, id FROM registrants WHERE created_at < ? AND email_key <> 'PURGED:' || id ORDER BY n"
)
_PURGE = (
    "UPDATE registrants SET email = '', name = '', organisation = '',"
    " email_key = 'PURGED:' || id WHERE n = ?"
)
# Expired counted sets go first, by the one `now` of the transaction.
_DROP_EXPIRED_MEMBERS = (
    "DELETE FROM members WHERE key IN (SELECT key FROM member_sets WHERE expires_at <= ?)"
)
_DROP_EXPIRED_SETS = "DELETE FROM member_sets WHERE expires_at <= ?"


def _minute(moment: dt.datetime) -> str:
    """A minute start as stored; ValueError if not one."""
    return encode_time(minute_start(moment))


class AttendanceMixin(SqliteBase):
    async def record_attendance(self, minutes: Mapping[str, Collection[dt.datetime]]) -> None:
        rows = [(rid, _minute(minute)) for rid, bucket in minutes.items() for minute in bucket]

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO attendance (registrant_id, minute) VALUES (?, ?)", rows
            )

        if rows:
            await self._transaction(work)

    async def viewers(self, minutes: Collection[dt.datetime]) -> int:
        stamps = [_minute(m) for m in minutes]
        if not stamps:
            return 0
        marks = ",".join("?" * len(stamps))
        sql = f"SELECT COUNT(DISTINCT registrant_id) FROM attendance WHERE minute IN ({marks})"  # noqa: S608 - only placeholders
        rows = await self._run(lambda conn: conn.execute(sql, stamps).fetchall())
        return int(rows[0][0])

    async def viewers_per_minute(
        self, start: dt.datetime, end: dt.datetime
    ) -> dict[dt.datetime, int]:
        minutes = minute_range(start, end)
        if not minutes:
            return {}
        sql = (
            "SELECT minute, COUNT(*) FROM attendance WHERE minute >= ? AND minute < ?"
            " GROUP BY minute"
        )
        rows = await self._all(sql, _minute(minutes[0]), encode_time(end))
        counted = {decode_time(minute): int(count) for minute, count in rows}
        return {m: counted.get(m, 0) for m in minutes}

    async def attendance(self) -> dict[str, list[dt.datetime]]:
        watched: dict[str, list[dt.datetime]] = {}
        sql = "SELECT registrant_id, minute FROM attendance ORDER BY registrant_id, minute"
        for rid, minute in await self._all(sql):
            watched.setdefault(rid, []).append(decode_time(minute))
        return watched

    # Counted sets

    async def add_member(self, key: str, member: str, *, ttl: dt.timedelta) -> int:
        if ttl <= dt.timedelta(0):
            raise ValueError(f"a counted set needs a positive lifetime, not {ttl}")
        days = ttl / dt.timedelta(days=1)

        def work(conn: sqlite3.Connection) -> int:
            now = conn.execute("SELECT julianday('now')").fetchone()[0]  # the store's clock
            conn.execute(_DROP_EXPIRED_MEMBERS, (now,))
            conn.execute(_DROP_EXPIRED_SETS, (now,))
            conn.execute(
                "INSERT OR IGNORE INTO member_sets (key, expires_at) VALUES (?, ?)",
                (key, now + days),
            )
            conn.execute("INSERT OR IGNORE INTO members (key, member) VALUES (?, ?)", (key, member))
            return int(
                conn.execute("SELECT COUNT(*) FROM members WHERE key = ?", (key,)).fetchone()[0]
            )

        return await self._transaction(work)

    # Personal data retention

    async def purge_registrants(self, before: dt.datetime) -> list[str]:
        at = encode_time(before)

        def work(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(_PURGEABLE, (at,)).fetchall()
            conn.executemany(_PURGE, [(n,) for n, _ in rows])
            return [rid for _, rid in rows]

        purged = await self._transaction(work)
        if purged:  # the old rows' copies in the write-ahead log: into the file (which
            # secure_delete overwrote) and the log emptied, unless a reader holds them
            await self._run(lambda conn: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
        return purged
