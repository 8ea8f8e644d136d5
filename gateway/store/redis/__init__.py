"""`RedisStore`: the store shared by replicas, on one Redis (`redis.asyncio`).

Owns the Redis backend of `gateway.store.Store`: one module per concern (registrants,
sessions and access changes, mail queue, audit log, attendance and retention, segment
dates and values), composed here over `connection.RedisBase`; the Lua scripts are in
`lua/`. Like all of gateway.store, it may import only gateway.core of the gateway.
"""

from __future__ import annotations

from gateway.store import MAIL_STATES
from gateway.store.redis.attendance import AttendanceMixin
from gateway.store.redis.audit import MAX_APPEND_ATTEMPTS, AuditMixin
from gateway.store.redis.connection import EPOCH
from gateway.store.redis.mail import ORDER_PREFIX_LEN, YEAR_ONE, MailMixin
from gateway.store.redis.registrants import RegistrantsMixin
from gateway.store.redis.sessions import SessionsMixin
from gateway.store.redis.values import ValuesMixin

__all__ = [
    "EPOCH",
    "MAIL_STATES",
    "MAX_APPEND_ATTEMPTS",
    "ORDER_PREFIX_LEN",
    "YEAR_ONE",
    "RedisStore",
]


class RedisStore(
    RegistrantsMixin, SessionsMixin, MailMixin, AuditMixin, AttendanceMixin, ValuesMixin
):
    """`Store` on Redis: `RedisStore(url, prefix="gw:", timeout=1.0)`; see `connection`."""
