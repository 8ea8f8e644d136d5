"""The plumbing of `RedisStore`: one `redis.asyncio` client, its scripts, keys, deadlines.

Every key lives under `prefix`: `reg:<id>` (hash), `email:<address.lower()>` (id),
`registrants` (ids in creation order), `session:<id>` (hash, TTL = its lifetime),
`reg-sessions:<registrant>` (zset by created_at), `session-expiry` (zset by
expires_at, for counting), `session-seq` (insertion order, breaks created_at
ties), `audit` (event JSON, index = seq - 1), `audit:head` ("seq hash"),
`once:<key>`, `value:<key>`, `live_segments` (hash), `ping`; the mail queue (`mail.py`);
`access-epoch` and `access-log` (`sessions.py`); attendance and counted sets
(`attendance.py`).
Multi-key changes run as one Lua script (atomic on the server, one round trip);
the audit log appends with WATCH/MULTI/EXEC and retries on conflict because the
hash is computed in Python.
Scripts derive some key names from the prefix, so this needs a standalone Redis
(or Sentinel), not Redis Cluster. Connection failures and timeouts raise
`StoreUnavailable`; a failed connection is retried once, at once, never a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio
import redis.exceptions as rex
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from gateway.core.errors import StoreUnavailable
from gateway.core.sentinel import sentinel_url
from gateway.store.codec import stored_time
from gateway.store.redis.scripts import SCRIPTS

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_UNREACHABLE = (
    rex.ConnectionError,  # refused, reset, auth, loading, pool exhausted
    rex.TimeoutError,
    rex.ReadOnlyError,  # a replica after failover
    rex.ClusterDownError,  # MASTERDOWN
    rex.OutOfMemoryError,
    OSError,
)


def micros(moment: dt.datetime) -> int:
    """Microseconds since the epoch: exact as a Lua number and a zset score (< 2**53)."""
    return (stored_time(moment) - EPOCH) // dt.timedelta(microseconds=1)


def pairs(flat: Sequence[str]) -> dict[str, str]:
    """A flat HGETALL reply as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisBase:
    """The client, the registered scripts, key names, and each call's deadline."""

    def __init__(self, url: str, *, prefix: str = "gw:", timeout: float = 1.0) -> None:
        self.prefix = prefix
        self._timeout = timeout
        options: dict[str, Any] = {
            "decode_responses": True,
            # No socket_timeout (redis-py 8 defaults to 5 s): with one, redis-py writes
            # under asyncio.wait_for, which on Python 3.11 drops a cancellation that lands
            # as the write completes (a cancelled poll loop polled on forever: issue 13).
            # `_reachable` puts one deadline on each whole call instead; a call cut short
            # closes its connection.
            "socket_timeout": None,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 1, supported_errors=(rex.ConnectionError,)),
        }
        found = sentinel_url(url)
        if found is None:
            self._redis = redis.asyncio.Redis.from_url(url, **options)
        else:  # the primary the sentinels name now, asked again after a failover
            hosts, service, db, password = found
            sentinel = Sentinel(  # type: ignore[no-untyped-call, unused-ignore]  # typed from redis 8.2
                hosts,
                sentinel_kwargs={"socket_connect_timeout": timeout, "socket_timeout": timeout},
            )
            self._redis = sentinel.master_for(service, db=db, password=password, **options)
        self._scripts = {name: self._redis.register_script(lua) for name, lua in SCRIPTS.items()}
        self._access_changes = 0  # made through this object (local_access_changes)

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @contextlib.asynccontextmanager
    async def _reachable(self) -> AsyncIterator[None]:
        """Every store call's deadline (`timeout` s for the whole call), failures mapped."""
        try:
            async with asyncio.timeout(self._timeout):
                yield
        except TimeoutError as exc:  # (first: an OSError, which _UNREACHABLE names too)
            raise StoreUnavailable(f"redis: no answer within {self._timeout:g} s") from exc
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc

    async def close(self) -> None:
        await self._redis.aclose(close_connection_pool=True)

    async def ping(self) -> None:
        async with self._reachable():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(self._key("ping"), "pong")
                pipe.get(self._key("ping"))
                await pipe.execute()

    async def server_time(self) -> dt.datetime | None:
        async with self._reachable():
            seconds, fraction = await self._redis.time()
        return EPOCH + dt.timedelta(seconds=int(seconds), microseconds=int(fraction))

    def _access_keys(self) -> list[str]:
        """The keys of the access epoch and log, which every access change writes."""
        return [self._key("access-epoch"), self._key("access-log")]
