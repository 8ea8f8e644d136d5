"""Sessions and access changes in Redis.

`session:<id>` (hash, TTL = its lifetime), `reg-sessions:<registrant>` (zset by
created_at), `session-expiry` (zset by expires_at, for counting), `session-seq`
(insertion order, breaks created_at ties). `access-epoch` is a counter of access
changes, started at the server's clock in microseconds when missing, so that a Redis
that lost its data is told apart; `access-log` is a list of the last ACCESS_LOG_SIZE
changes, each "<epoch> <registrant id>", both written by the same script as the change.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from gateway.core.records import Session
from gateway.store import AccessChanges
from gateway.store.codec import decode_time, encode_time
from gateway.store.redis.connection import RedisBase, micros


class SessionsMixin(RedisBase):
    async def create_session(
        self, session: Session, *, max_devices: int, now: dt.datetime
    ) -> list[str]:
        created, expires = micros(session.created_at), micros(session.expires_at)
        keys = [
            self._key("reg-sessions", session.registrant_id),
            self._key("session", session.id),
            self._key("session-expiry"),
            self._key("session-seq"),
            *self._access_keys(),
        ]
        args: list[str | int] = [
            self._key("session", ""), session.id, micros(now), created, expires,
            max(1, -(-(expires - created) // 1000)), max_devices,
            "registrant_id", session.registrant_id, "link_version", session.link_version,
            "created_at", encode_time(session.created_at),
            "expires_at", encode_time(session.expires_at),
            "expires_us", expires,
        ]  # fmt: skip
        async with self._reachable():
            ended = list(await self._scripts["create_session"](keys=keys, args=args))
        self._access_changes += bool(ended)
        return ended

    async def session(self, session_id: str) -> Session | None:
        async with self._reachable():
            key = self._key("session", session_id)
            fields = cast(dict[str, str], await self._redis.hgetall(key))
        if not fields:
            return None
        return Session(
            id=session_id,
            registrant_id=fields["registrant_id"],
            link_version=int(fields["link_version"]),
            created_at=decode_time(fields["created_at"]),
            expires_at=decode_time(fields["expires_at"]),
        )

    async def end_sessions(self, registrant_id: str) -> list[str]:
        keys = [
            self._key("reg-sessions", registrant_id),
            self._key("session-expiry"),
            *self._access_keys(),
        ]
        args = [self._key("session", ""), registrant_id]
        async with self._reachable():
            ended = list(await self._scripts["end_sessions"](keys=keys, args=args))
        self._access_changes += bool(ended)
        return ended

    async def count_sessions(self, now: dt.datetime, *, registrant_id: str | None = None) -> int:
        if registrant_id is None:
            keys, mine = [self._key("session-expiry")], "0"
        else:
            keys, mine = [self._key("reg-sessions", registrant_id)], "1"
        async with self._reachable():
            count = await self._scripts["count_sessions"](
                keys=keys, args=[self._key("session", ""), micros(now), mine]
            )
        return int(count)

    # Access changes

    async def access_epoch(self) -> int:
        async with self._reachable():
            return int(cast(str | None, await self._redis.get(self._key("access-epoch"))) or 0)

    async def access_changes(self, since: int) -> AccessChanges:
        async with self._reachable():
            reply = await self._scripts["access_changes"](keys=self._access_keys(), args=[since])
        epoch = int(reply[0])
        if since == epoch:
            return AccessChanges(epoch, frozenset())
        if len(reply) < 2:
            return AccessChanges(epoch, None)
        entries = [str(entry).split(" ", 1) for entry in reply[1]]
        if [int(n) for n, _ in entries] != list(range(since + 1, epoch + 1)):
            return AccessChanges(epoch, None)  # the log lost entries (a restore, a flush)
        return AccessChanges(epoch, frozenset(rid for _, rid in entries))

    def local_access_changes(self) -> int:
        return self._access_changes
