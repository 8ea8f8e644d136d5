"""`SqliteStore`: the embedded single-node store on one SQLite file (stdlib `sqlite3`).

Owns the SQLite backend of `gateway.store.Store`: one module per concern (registrants,
sessions and access changes, mail queue, audit log, attendance and retention, segment
dates and values), composed here over `connection.SqliteBase`; the schema and its
migrations are in `schema`. Like all of gateway.store, it may import only gateway.core
of the gateway.
"""

from __future__ import annotations

from gateway.store import MAIL_STATES
from gateway.store.sqlite.attendance import AttendanceMixin
from gateway.store.sqlite.audit import AuditMixin
from gateway.store.sqlite.connection import BUSY_TIMEOUT_MS
from gateway.store.sqlite.mail import MailMixin
from gateway.store.sqlite.registrants import RegistrantsMixin
from gateway.store.sqlite.schema import SCHEMA_VERSION
from gateway.store.sqlite.sessions import SessionsMixin
from gateway.store.sqlite.values import ValuesMixin

__all__ = ["BUSY_TIMEOUT_MS", "MAIL_STATES", "SCHEMA_VERSION", "SqliteStore"]


class SqliteStore(
    RegistrantsMixin, SessionsMixin, MailMixin, AuditMixin, AttendanceMixin, ValuesMixin
):
    """`Store` on one SQLite file: `SqliteStore(path)`; see `connection` and `schema`."""
