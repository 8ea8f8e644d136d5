"""The audit log in Redis: `audit` (event JSON, index = seq - 1) and `audit:head`
("seq hash"). An append watches the head and retries on conflict (WATCH/MULTI/EXEC),
because the hash is computed in Python. `once:<key>` marks refusals seen once.
"""

from __future__ import annotations

from typing import cast

import redis.exceptions as rex

from gateway.core import chain
from gateway.core.chain import Draft, Event
from gateway.core.errors import StoreUnavailable
from gateway.store.redis.connection import RedisBase

MAX_APPEND_ATTEMPTS = 1000


class AuditMixin(RedisBase):
    async def append_audit(self, draft: Draft) -> Event:
        head_key, log_key = self._key("audit", "head"), self._key("audit")
        for _ in range(MAX_APPEND_ATTEMPTS):
            # A deadline per attempt: losing races to other replicas is not an outage.
            async with self._reachable(), self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(head_key)
                    head = cast(str | None, await pipe.get(head_key))
                    seq, prev = (0, chain.GENESIS) if head is None else head.split(" ")
                    event = chain.seal(draft, int(seq) + 1, prev)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.rpush(log_key, event.to_json())
                    pipe.set(head_key, f"{event.seq} {event.hash}")
                    await pipe.execute()
                    return event
                except rex.WatchError:
                    pass
        raise StoreUnavailable(f"redis: audit append lost {MAX_APPEND_ATTEMPTS} races in a row")

    async def audit_events(self, *, after_seq: int = 0, limit: int | None = None) -> list[Event]:
        start = max(0, after_seq)
        if limit is not None and limit <= 0:
            return []
        stop = -1 if limit is None else start + limit - 1
        async with self._reachable():
            rows = cast(list[str], await self._redis.lrange(self._key("audit"), start, stop))
        return [Event.from_json(row) for row in rows]

    async def mark_once(self, key: str) -> bool:
        async with self._reachable():
            return bool(await self._redis.set(self._key("once", key), "1", nx=True))
