"""Rate limits for the public forms, shared by replicas, never absent.

Counts live where the store lives: in Redis for replicas (the `limits`
library's moving windows), in process memory for the one-node SQLite setup.
When Redis does not answer, a per-process limit takes over: an outage may
loosen the limit by the number of replicas, but never removes it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisSentinelStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from gateway.core.errors import GatewayError

log = logging.getLogger(__name__)

# Per client address, and per registered address (each repeat re-sends the link).
LIMITS = {
    "register_ip": parse("10/minute"),
    "register_ip_hour": parse("60/hour"),
    "register_email": parse("3/hour"),
    "link_refused_ip": parse("30/minute"),  # refused personal links: then 429 for a minute
    "ingest_refused_ip": parse("30/minute"),  # refused publishes: no key guessing
}


@dataclass
class RateLimited(GatewayError):
    """Too many requests: answered 429 with Retry-After."""

    retry_after: int


class RateLimits:
    def __init__(self, store_url: str) -> None:
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.shared: MovingWindowRateLimiter | None = None
        self._storage: Storage | None = None
        if store_url.startswith(("redis://", "rediss://", "redis+sentinel://")):
            parts = urlsplit(store_url)
            prefix = parse_qs(parts.query).get("prefix", ["gw:"])[0]
            if parts.scheme == "redis+sentinel":  # limits names the service, not the database
                service, *db = [p for p in parts.path.split("/") if p]
                uri = "async+" + urlunsplit(parts._replace(path="/" + service, query=""))
                self._storage = RedisSentinelStorage(
                    uri,
                    implementation="redispy",
                    key_prefix=prefix + "limits",
                    wrap_exceptions=True,
                    use_replicas=False,  # counts are read where they are written
                    sentinel_kwargs={"socket_timeout": 1.0, "socket_connect_timeout": 1.0},
                    socket_timeout=1.0,
                    socket_connect_timeout=1.0,
                    db=int(db[0]) if db else 0,
                )
            else:
                uri = "async+" + urlunsplit(parts._replace(query=""))
                self._storage = RedisStorage(
                    uri,
                    implementation="redispy",
                    key_prefix=prefix + "limits",
                    wrap_exceptions=True,
                    socket_timeout=1.0,
                    socket_connect_timeout=1.0,
                )
            self.shared = MovingWindowRateLimiter(self._storage)

    async def hit(self, *checks: tuple[str, str]) -> None:
        """Count one request against each (limit name, key); RateLimited if any is over."""
        for name, key in checks:
            item = LIMITS[name]
            if not await self._hit(item, name, key):
                raise RateLimited(await self._retry_after(item, name, key))

    async def check(self, name: str, key: str) -> None:
        """RateLimited if `key` is already at the limit `name`; counts nothing."""
        item = LIMITS[name]
        if not await self._test(item, name, key):
            raise RateLimited(await self._retry_after(item, name, key))

    async def count(self, name: str, key: str) -> None:
        """Count one against `key` (what `check` looks at) without refusing anything."""
        await self._hit(LIMITS[name], name, key)

    async def _test(self, item: RateLimitItem, name: str, key: str) -> bool:
        return await self._ask(lambda limiter: limiter.test(item, name, key))

    async def _hit(self, item: RateLimitItem, name: str, key: str) -> bool:
        return await self._ask(lambda limiter: limiter.hit(item, name, key))

    async def _ask(self, question: Callable[[MovingWindowRateLimiter], Awaitable[bool]]) -> bool:
        """The shared limiter's answer, or this process's when the shared one is down."""
        if self.shared is not None:
            try:
                return await question(self.shared)
            except StorageError as exc:
                log.warning("rate limits fall back to this process: %s", exc)
        return await question(self.local)

    async def _retry_after(self, item: RateLimitItem, name: str, key: str) -> int:
        limiter = self.shared or self.local
        try:
            stats = await limiter.get_window_stats(item, name, key)
        except StorageError:
            stats = await self.local.get_window_stats(item, name, key)
        from gateway.core.clock import system_clock  # the edge: window stats are wall-clock based

        return max(1, math.ceil(stats.reset_time - system_clock().timestamp()))

    async def close(self) -> None:
        if self._storage is not None and hasattr(self._storage, "storage"):
            client = self._storage.storage
            if hasattr(client, "aclose"):
                await client.aclose()
