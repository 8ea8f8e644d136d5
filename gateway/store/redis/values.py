"""Live segment dates (`live_segments`, a hash of segment key -> encoded `Dated`) and small
named values (`value:<key>`) in Redis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from gateway.core.dating import Dated
from gateway.store.codec import decode_dated, encode_dated
from gateway.store.redis.connection import RedisBase


class ValuesMixin(RedisBase):
    async def date_segments(self, dates: Mapping[str, Dated]) -> dict[str, Dated]:
        if not dates:
            return {}
        key, names = self._key("live_segments"), list(dates)
        async with self._reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                for name, dated in dates.items():
                    pipe.hsetnx(key, name, encode_dated(dated))
                pipe.hmget(key, names)
                *_, stored = await pipe.execute()
        return {name: decode_dated(text) for name, text in zip(names, stored, strict=True) if text}

    async def segment_dates(self, keys: Sequence[str]) -> dict[str, Dated]:
        wanted = list(keys)
        if not wanted:
            return {}
        async with self._reachable():
            stored = cast(
                list[str | None], await self._redis.hmget(self._key("live_segments"), wanted)
            )
        return {name: decode_dated(text) for name, text in zip(wanted, stored, strict=True) if text}

    # Small named values

    async def delete_value(self, key: str) -> None:
        async with self._reachable():
            await self._redis.delete(self._key("value", key))

    async def get_value(self, key: str) -> str | None:
        async with self._reachable():
            return cast(str | None, await self._redis.get(self._key("value", key)))

    async def set_value(self, key: str, value: str) -> None:
        async with self._reachable():
            await self._redis.set(self._key("value", key), value)

    async def setdefault_value(self, key: str, value: str) -> str:
        async with self._reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._key("value", key), value, nx=True)
                pipe.get(self._key("value", key))
                _, stored = await pipe.execute()
        return cast(str, stored)

    async def replace_value(self, key: str, expected: str | None, value: str) -> bool:
        args = ["0" if expected is None else "1", expected or "", value]
        async with self._reachable():
            return bool(
                await self._scripts["replace_value"](keys=[self._key("value", key)], args=args)
            )
