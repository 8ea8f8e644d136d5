"""The SQLite schema, versioned in `PRAGMA user_version`.

Each version's migration (`MIGRATIONS`) is idempotent, and a file of an older version is
upgraded in place when it is opened (`migrate`, inside the opening transaction).
Datetimes are stored as fixed-width UTC ISO strings (`gateway.store.codec`), so text
order is time order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from gateway.core.errors import StoreUnavailable

SCHEMA_VERSION = 6

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
# julianday() of SQLite's clock). Purging needs no schema change (see `attendance`).
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
# Version 4: the access log (see `sessions`).
_ACCESS_LOG_SCHEMA = """
CREATE TABLE IF NOT EXISTS access_log (
    epoch INTEGER PRIMARY KEY,
    registrant_id TEXT NOT NULL
);
"""
# Version 5: live segment dates by content (`dating.segment_key`), each with its duration
# and uncertainty; the dates by name alone (`segments`) could not tell a reused name.
_LIVE_SEGMENTS_SCHEMA = """
DROP TABLE IF EXISTS segments;
CREATE TABLE IF NOT EXISTS live_segments (key TEXT PRIMARY KEY, dated TEXT NOT NULL);
"""


def _revision_schema(conn: sqlite3.Connection) -> None:
    """Version 6: a registrant's revision, counting every link change
    (`Registrant.revision`); a row stored before counts its link_version (each of its
    changes bumped it). Added only where missing, so it stays idempotent."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(registrants)")}
    if "revision" not in columns:
        conn.execute("ALTER TABLE registrants ADD COLUMN revision INTEGER NOT NULL DEFAULT 0")
        conn.execute("UPDATE registrants SET revision = link_version")


# The migration to version i + 1 is MIGRATIONS[i]: SQL statements, or a function.
MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], None], ...] = (
    _SCHEMA,
    _MAIL_SCHEMA,
    _ATTENDANCE_SCHEMA,
    _ACCESS_LOG_SCHEMA,
    _LIVE_SEGMENTS_SCHEMA,
    _revision_schema,
)


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the file to SCHEMA_VERSION, in the caller's transaction; StoreUnavailable if
    the file is of a newer version than this gateway's."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreUnavailable(
            f"{path}: schema version {version} is newer than this gateway's ({SCHEMA_VERSION})"
        )
    if version < SCHEMA_VERSION:
        for migration in MIGRATIONS[version:SCHEMA_VERSION]:
            if callable(migration):
                migration(conn)
                continue
            for statement in migration.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
