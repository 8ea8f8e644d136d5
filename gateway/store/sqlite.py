"""`SqliteStore`: the embedded single-node store on one SQLite file (stdlib `sqlite3`).

One connection per store, guarded by a lock and used from worker threads
(`asyncio.to_thread`) so the event loop never waits on the disk. The file is
shared with other processes (a CLI command while the server runs): WAL mode, a
5 s busy timeout, and every multi-step write in one `BEGIN IMMEDIATE`
transaction so two writers never interleave. Datetimes are stored as fixed-width
UTC ISO strings (so text order is time order) and read back as aware UTC
datetimes. Failing to reach the file (cannot open, locked, disk I/O) raises
`StoreUnavailable`; the schema is created on first use and versioned in
`PRAGMA user_version`: each version's migration (`_MIGRATIONS`) is idempotent, and
a file of an older version is upgraded in place when it is opened.

The counted sets of `add_member` expire by SQLite's own clock (`julianday('now')`, read
once per call inside its transaction): the database's clock is this store's clock, as
the Redis server's is for a Redis TTL, and being wall-clock time it survives restarts.
Expired sets are deleted lazily, by the next `add_member` call (for any key). A purged
registrant keeps its row; its `email_key` becomes `PURGED:<id>`, which no lookup key
(always `email.lower()`, so never containing an upper-case letter) can equal, and which
frees the address for a new registration.

Access changes (version 4): `access_log` holds one row per change, its `epoch` (the
rowid, so max + 1, never reused while the newest row is kept) and the registrant it
concerns; rows older than the last ACCESS_LOG_SIZE are deleted in the same transaction.
The epoch is the greatest row's (0 when there is none).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from gateway.core import chain
from gateway.core.chain import Draft, Event
from gateway.core.errors import StoreUnavailable
from gateway.core.records import MailJob, Registrant, Session
from gateway.store import ACCESS_LOG_SIZE, AccessChanges, check_finish

T = TypeVar("T")

SCHEMA_VERSION = 4
BUSY_TIMEOUT_MS = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS registrants (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    organisation TEXT NOT NULL,
    created_at TEXT NOT NULL,
    link_version INTEGER NOT NULL,
    revoked INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    registrant_id TEXT NOT NULL,
    link_version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_registrant ON sessions (registrant_id, created_at);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    type TEXT NOT NULL,
    registrant TEXT,
    hash TEXT NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_type ON audit (type, seq);
CREATE INDEX IF NOT EXISTS audit_registrant ON audit (registrant, seq);
CREATE TABLE IF NOT EXISTS marks (key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ping (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS segments (name TEXT PRIMARY KEY, date TEXT NOT NULL);
"""
# Version 2: the mail queue. `n` is insertion order (breaks created_at ties).
_MAIL_SCHEMA = """
CREATE TABLE IF NOT EXISTS mail (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    registrant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    link_version INTEGER NOT NULL,
    lang TEXT NOT NULL,
    created_at TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    claimed_by TEXT NOT NULL,
    claimed_until TEXT,
    sent_at TEXT
);
CREATE INDEX IF NOT EXISTS mail_order ON mail (created_at, n);
CREATE INDEX IF NOT EXISTS mail_registrant ON mail (registrant_id, kind, link_version);
CREATE INDEX IF NOT EXISTS mail_pending ON mail (next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS mail_sending ON mail (claimed_until) WHERE state = 'sending';
"""
# Version 3: attendance minutes and the counted sets of `add_member` (expires_at: a
# julianday() of SQLite's clock). Purging needs no schema change (see the module doc).
_ATTENDANCE_SCHEMA = """
CREATE TABLE IF NOT EXISTS attendance (
    registrant_id TEXT NOT NULL,
    minute TEXT NOT NULL,
    PRIMARY KEY (registrant_id, minute)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS member_sets (key TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS member_sets_expiry ON member_sets (expires_at);
CREATE TABLE IF NOT EXISTS members (
    key TEXT NOT NULL,
    member TEXT NOT NULL,
    PRIMARY KEY (key, member)
) WITHOUT ROWID;
"""
# Version 4: the access log (see the module doc).
_ACCESS_LOG_SCHEMA = """
CREATE TABLE IF NOT EXISTS access_log (
    epoch INTEGER PRIMARY KEY,
    registrant_id TEXT NOT NULL
);
"""
# The migration to version i + 1 is _MIGRATIONS[i].
_MIGRATIONS = (_SCHEMA, _MAIL_SCHEMA, _ATTENDANCE_SCHEMA, _ACCESS_LOG_SCHEMA)

_REGISTRANT_BY_ID = (
    "SELECT id, email, name, organisation, created_at, link_version, revoked"
    " FROM registrants WHERE id = ?"
)
_REGISTRANT_BY_EMAIL = (
    "SELECT id, email, name, organisation, created_at, link_version, revoked"
    " FROM registrants WHERE email_key = ?"
)
_ALL_REGISTRANTS = (
    "SELECT id, email, name, organisation, created_at, link_version, revoked"
    " FROM registrants ORDER BY n"
)
_BUMP_LINK = (
    "UPDATE registrants SET link_version = link_version + 1, revoked = ? WHERE id = ?"
    " RETURNING id, email, name, organisation, created_at, link_version, revoked"
)
_INSERT_SESSION = (
    "INSERT INTO sessions (id, registrant_id, link_version, created_at, expires_at)"
    " VALUES (?, ?, ?, ?, ?)"
)
_SESSION_BY_ID = (
    "SELECT id, registrant_id, link_version, created_at, expires_at FROM sessions WHERE id = ?"
)
_OPEN_MAIL = (
    "SELECT id, registrant_id, kind, link_version, lang, created_at, next_attempt_at, state,"
    " attempts, last_error, claimed_by, claimed_until, sent_at FROM mail"
    " WHERE registrant_id = ? AND kind = ? AND link_version = ?"
    " AND state IN ('pending', 'sending') ORDER BY created_at, n LIMIT 1"
)
_INSERT_MAIL = (
    "INSERT INTO mail (id, registrant_id, kind, link_version, lang, created_at, next_attempt_at,"
    " state, attempts, last_error, claimed_by, claimed_until, sent_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# Due: pending and next_attempt_at <= now, or sending with a lapsed claim. Oldest first.
_DUE_MAIL = (
    "SELECT n FROM mail WHERE ((state = 'pending' AND next_attempt_at <= :now)"
    " OR (state = 'sending' AND claimed_until <= :now)) ORDER BY created_at, n LIMIT 1"
)
_DUE_MAIL_BY_ID = (
    "SELECT n FROM mail WHERE id = :id AND ((state = 'pending' AND next_attempt_at <= :now)"
    " OR (state = 'sending' AND claimed_until <= :now))"
)
_CLAIM_MAIL = (
    "UPDATE mail SET state = 'sending', claimed_by = ?, claimed_until = ?,"
    " attempts = attempts + 1 WHERE n = ?"
    " RETURNING id, registrant_id, kind, link_version, lang, created_at, next_attempt_at, state,"
    " attempts, last_error, claimed_by, claimed_until, sent_at"
)
_FINISH_MAIL = (
    "UPDATE mail SET state = :state, last_error = :error, claimed_by = '', claimed_until = NULL,"
    " sent_at = CASE WHEN :state = 'sent' THEN :now ELSE sent_at END,"
    " next_attempt_at = CASE WHEN :state = 'pending' THEN :retry ELSE next_attempt_at END"
    " WHERE id = :id"
    " RETURNING id, registrant_id, kind, link_version, lang, created_at, next_attempt_at, state,"
    " attempts, last_error, claimed_by, claimed_until, sent_at"
)
_MAIL_JOBS = (
    "SELECT id, registrant_id, kind, link_version, lang, created_at, next_attempt_at, state,"
    " attempts, last_error, claimed_by, claimed_until, sent_at FROM mail"
    " WHERE (:registrant IS NULL OR registrant_id = :registrant)"
    " AND (:state IS NULL OR state = :state) ORDER BY created_at, n"
)
MAIL_STATES = ("pending", "sending", "sent", "failed")
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
# The changes after `since` and the newest one (which carries the epoch), in one snapshot.
_ACCESS_CHANGES = (
    "SELECT epoch, registrant_id FROM access_log"
    " WHERE epoch > ? OR epoch = (SELECT MAX(epoch) FROM access_log) ORDER BY epoch"
)


def _iso(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the store needs aware datetimes")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def _minute(moment: dt.datetime) -> str:
    text = _iso(moment)
    if not text.endswith(":00.000000+00:00"):
        raise ValueError(f"{moment!r} is not the start of a minute")
    return text


def _registrant(row: Sequence[Any]) -> Registrant:
    rid, email, name, organisation, created_at, link_version, revoked = row
    return Registrant(rid, email, name, organisation, _utc(created_at), link_version, bool(revoked))


def _session(row: Sequence[Any]) -> Session:
    sid, registrant_id, link_version, created_at, expires_at = row
    return Session(sid, registrant_id, link_version, _utc(created_at), _utc(expires_at))


def _mail_job(row: Sequence[Any]) -> MailJob:
    (jid, registrant_id, kind, link_version, lang, created_at, next_attempt_at, state,
     attempts, last_error, claimed_by, claimed_until, sent_at) = row  # fmt: skip
    return MailJob(
        id=jid,
        registrant_id=registrant_id,
        kind=kind,
        link_version=link_version,
        lang=lang,
        created_at=_utc(created_at),
        next_attempt_at=_utc(next_attempt_at),
        state=state,
        attempts=attempts,
        last_error=last_error,
        claimed_by=claimed_by,
        claimed_until=None if claimed_until is None else _utc(claimed_until),
        sent_at=None if sent_at is None else _utc(sent_at),
    )


def _note_change(conn: sqlite3.Connection, registrant_id: str) -> None:
    """Log an access change in the caller's transaction (the epoch moves with the change)."""
    epoch = conn.execute(
        "INSERT INTO access_log (registrant_id) VALUES (?)", (registrant_id,)
    ).lastrowid
    assert epoch is not None
    conn.execute("DELETE FROM access_log WHERE epoch <= ?", (epoch - ACCESS_LOG_SIZE,))


def _unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the file cannot be reached (rather than a bug or a bad argument)."""
    return isinstance(exc, sqlite3.OperationalError | OSError) or (
        type(exc) is sqlite3.DatabaseError  # not a database, corrupt image
    )


class SqliteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._access_changes = 0  # made through this object (local_access_changes)

    # Plumbing: one connection, a lock, worker threads, errors mapped

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
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
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise StoreUnavailable(
                        f"{self.path}: schema version {version} is newer than this gateway's "
                        f"({SCHEMA_VERSION})"
                    )
                if version < SCHEMA_VERSION:
                    for migration in _MIGRATIONS[version:SCHEMA_VERSION]:
                        for statement in migration.split(";"):
                            if statement.strip():
                                conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
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
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        await asyncio.to_thread(work)

    async def ping(self) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO ping (id, n) VALUES (1, 1)")
            conn.execute("SELECT n FROM ping WHERE id = 1").fetchone()

        await self._transaction(work)

    # Registrants

    async def add_registrant(self, registrant: Registrant) -> tuple[Registrant, bool]:
        stored = replace(registrant, created_at=_utc(_iso(registrant.created_at)))

        def work(conn: sqlite3.Connection) -> tuple[Registrant, bool]:
            row = conn.execute(_REGISTRANT_BY_EMAIL, (registrant.email.lower(),)).fetchone()
            if row is not None:
                return _registrant(row), False
            if conn.execute("SELECT 1 FROM registrants WHERE id = ?", (registrant.id,)).fetchone():
                raise ValueError(f"registrant id {registrant.id!r} is already in use")
            conn.execute(
                "INSERT INTO registrants (id, email, email_key, name, organisation, created_at,"
                " link_version, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (stored.id, stored.email, stored.email.lower(), stored.name, stored.organisation,
                 _iso(stored.created_at), stored.link_version, int(stored.revoked)),
            )  # fmt: skip
            return stored, True

        return await self._transaction(work)

    async def registrant(self, registrant_id: str) -> Registrant | None:
        row = await self._one(_REGISTRANT_BY_ID, registrant_id)
        return None if row is None else _registrant(row)

    async def registrant_by_email(self, email: str) -> Registrant | None:
        row = await self._one(_REGISTRANT_BY_EMAIL, email.lower())
        return None if row is None else _registrant(row)

    async def registrants(self) -> list[Registrant]:
        return [_registrant(row) for row in await self._all(_ALL_REGISTRANTS)]

    async def bump_link(self, registrant_id: str, *, revoked: bool) -> Registrant:
        def work(conn: sqlite3.Connection) -> Registrant:
            row = conn.execute(_BUMP_LINK, (int(revoked), registrant_id)).fetchone()
            if row is None:
                raise KeyError(registrant_id)
            _note_change(conn, registrant_id)
            return _registrant(row)

        registrant = await self._transaction(work)
        self._access_changes += 1
        return registrant

    async def restore_link(self, registrant_id: str, *, version: int, revoked: bool) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            changed = conn.execute(
                "UPDATE registrants SET link_version = ?, revoked = ? "
                "WHERE id = ? AND link_version < ?",
                (version, int(revoked), registrant_id, version),
            ).rowcount
            if changed:
                _note_change(conn, registrant_id)
            return bool(changed)

        restored = await self._transaction(work)
        if restored:
            self._access_changes += 1
        return restored

    async def server_time(self) -> dt.datetime | None:
        return None  # the same machine's clock

    # Sessions

    async def create_session(
        self, session: Session, *, max_devices: int, now: dt.datetime
    ) -> list[str]:
        values = (session.id, session.registrant_id, session.link_version,
                  _iso(session.created_at), _iso(session.expires_at))  # fmt: skip
        at = _iso(now)

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
                _note_change(conn, session.registrant_id)
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
                _note_change(conn, registrant_id)
            return [row[0] for row in sorted(rows, key=lambda row: (row[1], row[2]))]

        ended = await self._transaction(work)
        self._access_changes += bool(ended)
        return ended

    async def count_sessions(self, now: dt.datetime) -> int:
        rows = await self._all("SELECT COUNT(*) FROM sessions WHERE expires_at > ?", _iso(now))
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

    # Live segment dates

    async def date_segments(
        self, dates: Mapping[str, dt.datetime], *, overwrite: bool
    ) -> dict[str, dt.datetime]:
        rows = [(name, _iso(date)) for name, date in dates.items()]
        verb = "INSERT OR REPLACE" if overwrite else "INSERT OR IGNORE"

        def work(conn: sqlite3.Connection) -> dict[str, dt.datetime]:
            conn.executemany(f"{verb} INTO segments (name, date) VALUES (?, ?)", rows)
            return _select_dates(conn, list(dates))

        return await self._transaction(work) if rows else {}

    async def segment_dates(self, names: Sequence[str]) -> dict[str, dt.datetime]:
        wanted = list(names)
        return await self._run(lambda conn: _select_dates(conn, wanted)) if wanted else {}

    # Audit log

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
        sql = "SELECT event FROM audit WHERE seq > ? ORDER BY seq LIMIT ?"
        rows = await self._all(sql, after_seq, -1 if limit is None else max(0, limit))
        return [Event.from_json(row[0]) for row in rows]

    async def mark_once(self, key: str) -> bool:
        sql = "INSERT OR IGNORE INTO marks (key) VALUES (?)"
        return await self._run(lambda conn: conn.execute(sql, (key,)).rowcount == 1)

    # Mail queue

    async def enqueue_mail(self, job: MailJob) -> tuple[MailJob, bool]:
        if job.state not in MAIL_STATES:
            raise ValueError(f"mail job state {job.state!r} is not one of {MAIL_STATES}")
        if job.state == "sending" and job.claimed_until is None:
            raise ValueError("a sending mail job needs claimed_until")
        times = (job.created_at, job.next_attempt_at, job.claimed_until, job.sent_at)
        created, next_attempt, until, sent = (None if t is None else _iso(t) for t in times)
        stored = replace(
            job,
            created_at=_utc(_iso(job.created_at)),
            next_attempt_at=_utc(_iso(job.next_attempt_at)),
            claimed_until=None if until is None else _utc(until),
            sent_at=None if sent is None else _utc(sent),
        )
        values = (job.id, job.registrant_id, job.kind, job.link_version, job.lang, created,
                  next_attempt, job.state, job.attempts, job.last_error, job.claimed_by, until,
                  sent)  # fmt: skip

        def work(conn: sqlite3.Connection) -> tuple[MailJob, bool]:
            key = (job.registrant_id, job.kind, job.link_version)
            row = conn.execute(_OPEN_MAIL, key).fetchone()
            if row is not None:
                return _mail_job(row), False
            if conn.execute("SELECT 1 FROM mail WHERE id = ?", (job.id,)).fetchone():
                raise ValueError(f"mail job id {job.id!r} is already in use")
            conn.execute(_INSERT_MAIL, values)
            return stored, True

        return await self._transaction(work)

    async def claim_mail(
        self, *, now: dt.datetime, worker: str, lease: dt.timedelta, job_id: str | None = None
    ) -> MailJob | None:
        at, until = _iso(now), _iso(now + lease)
        sql = _DUE_MAIL if job_id is None else _DUE_MAIL_BY_ID
        params = {"now": at, "id": job_id}

        def work(conn: sqlite3.Connection) -> MailJob | None:
            due = conn.execute(sql, params).fetchone()
            if due is None:
                return None
            return _mail_job(conn.execute(_CLAIM_MAIL, (worker, until, due[0])).fetchone())

        return await self._transaction(work)

    async def finish_mail(
        self,
        job_id: str,
        *,
        state: str,
        now: dt.datetime,
        error: str = "",
        retry_at: dt.datetime | None = None,
    ) -> MailJob:
        check_finish(state, retry_at)
        params = {
            "id": job_id,
            "state": state,
            "error": error,
            "now": _iso(now),
            "retry": None if retry_at is None else _iso(retry_at),
        }

        def work(conn: sqlite3.Connection) -> MailJob:
            row = conn.execute(_FINISH_MAIL, params).fetchone()
            if row is None:
                raise KeyError(job_id)
            return _mail_job(row)

        return await self._transaction(work)

    async def mail_jobs(
        self, *, registrant_id: str | None = None, state: str | None = None
    ) -> list[MailJob]:
        params = {"registrant": registrant_id, "state": state}
        rows = await self._run(lambda conn: conn.execute(_MAIL_JOBS, params).fetchall())
        return [_mail_job(row) for row in rows]

    # Attendance

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

    async def attendance(self) -> dict[str, list[dt.datetime]]:
        watched: dict[str, list[dt.datetime]] = {}
        sql = "SELECT registrant_id, minute FROM attendance ORDER BY registrant_id, minute"
        for rid, minute in await self._all(sql):
            watched.setdefault(rid, []).append(_utc(minute))
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
        at = _iso(before)

        def work(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(_PURGEABLE, (at,)).fetchall()
            conn.executemany(_PURGE, [(n,) for n, _ in rows])
            return [rid for _, rid in rows]

        return await self._transaction(work)

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


def _select_dates(conn: sqlite3.Connection, names: list[str]) -> dict[str, dt.datetime]:
    rows = conn.execute(
        "SELECT name, date FROM segments WHERE name IN (SELECT value FROM json_each(?))",
        (json.dumps(names),),
    )
    return {name: _utc(date) for name, date in rows}
