"""Attendance, counted sets and personal data retention in Redis.

Attendance: `attendance:<registrant>` (zset of minute starts, member and score both the
minute in epoch seconds), `attendance-ids` (set of registrants with attendance) and
`attendance-minute:<second>` (who watched in that minute, kept for a day, for `viewers`).
Counted sets (`add_member`): `members:<key>` (set; its TTL, set only when the set is
created, is its lifetime, by the Redis server's clock). Purging: a purged registrant's
hash keeps its id, dates and link fields, gains `purged` = "1", and its
`email:<address>` key is deleted, so the address may register again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping

from gateway.store.codec import minute_range, minute_start, stored_time
from gateway.store.redis.connection import EPOCH, RedisBase


def _minute(moment: dt.datetime) -> int:
    """A minute start as epoch seconds (exact as a score); ValueError if not one."""
    return (minute_start(moment) - EPOCH) // dt.timedelta(seconds=1)


def _stamp(moment: dt.datetime) -> tuple[int, int]:
    """`moment` as purge_candidates.lua compares it: (YYYYMMDD, HHMMSSffffff) in UTC."""
    at = stored_time(moment)
    return (
        at.year * 10000 + at.month * 100 + at.day,
        ((at.hour * 100 + at.minute) * 100 + at.second) * 1_000_000 + at.microsecond,
    )


class AttendanceMixin(RedisBase):
    async def record_attendance(self, minutes: Mapping[str, Collection[dt.datetime]]) -> None:
        scores = {rid: {str(s): s for s in map(_minute, bucket)} for rid, bucket in minutes.items()}
        scores = {rid: bucket for rid, bucket in scores.items() if bucket}
        if not scores:
            return
        async with self._reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                by_minute: dict[int, list[str]] = {}
                for rid, bucket in scores.items():
                    pipe.zadd(self._key("attendance", rid), bucket)
                    for second in bucket.values():
                        by_minute.setdefault(second, []).append(rid)
                pipe.sadd(self._key("attendance-ids"), *scores)
                for second, rids in by_minute.items():  # who watched in each minute, for a day
                    pipe.sadd(self._key("attendance-minute", str(second)), *rids)
                    pipe.expire(self._key("attendance-minute", str(second)), 86400)
                await pipe.execute()

    async def viewers(self, minutes: Collection[dt.datetime]) -> int:
        keys = [self._key("attendance-minute", str(_minute(m))) for m in minutes]
        if not keys:
            return 0
        async with self._reachable():
            return len(await self._redis.sunion(keys))

    async def viewers_per_minute(
        self, start: dt.datetime, end: dt.datetime
    ) -> dict[dt.datetime, int]:
        minutes = minute_range(start, end)
        if not minutes:
            return {}
        async with self._reachable():
            async with self._redis.pipeline(transaction=False) as pipe:
                for minute in minutes:
                    pipe.scard(self._key("attendance-minute", str(_minute(minute))))
                counts = await pipe.execute()
        return {m: int(c) for m, c in zip(minutes, counts, strict=True)}

    async def attendance(self) -> dict[str, list[dt.datetime]]:
        keys = [self._key("attendance-ids")]
        async with self._reachable():
            flat = await self._scripts["attendance"](keys=keys, args=[self._key("attendance", "")])
        return {
            rid: [EPOCH + dt.timedelta(seconds=int(s)) for s in seconds]
            for rid, seconds in zip(flat[::2], flat[1::2], strict=True)
            if seconds
        }

    # Counted sets

    async def add_member(self, key: str, member: str, *, ttl: dt.timedelta) -> int:
        if ttl <= dt.timedelta(0):
            raise ValueError(f"a counted set needs a positive lifetime, not {ttl}")
        name = self._key("members", key)
        async with self._reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.sadd(name, member)
                # NX: only a set without a TTL (just created) gets one; later adds keep it.
                pipe.pexpire(name, max(1, -(-ttl // dt.timedelta(milliseconds=1))), nx=True)
                pipe.scard(name)
                *_, size = await pipe.execute()
        return int(size)

    # Personal data retention

    async def purge_registrants(self, before: dt.datetime) -> list[str]:
        # Two round trips: the email index key is the address lower-cased by Python (Lua's
        # string.lower is not str.lower), and the second script skips anyone purged meanwhile.
        day, time = _stamp(before)
        prefix = self._key("reg", "")
        async with self._reachable():
            flat = await self._scripts["purge_candidates"](
                keys=[self._key("registrants")], args=[prefix, day, time]
            )
            if not flat:
                return []
            ids = list(flat[::2])
            keys = [
                k
                for rid, email in zip(flat[::2], flat[1::2], strict=True)
                for k in (self._key("reg", rid), self._key("email", email.lower()))
            ]
            return list(await self._scripts["purge"](keys=keys, args=ids))
