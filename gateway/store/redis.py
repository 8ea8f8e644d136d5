"""`RedisStore`: the store shared by replicas, on one Redis (`redis.asyncio`).

Every key lives under `prefix`: `reg:<id>` (hash), `email:<address.lower()>` (id),
`registrants` (ids in creation order), `session:<id>` (hash, TTL = its lifetime),
`reg-sessions:<registrant>` (zset by created_at), `session-expiry` (zset by
expires_at, for counting), `session-seq` (insertion order, breaks created_at
ties), `audit` (event JSON, index = seq - 1), `audit:head` ("seq hash"),
`once:<key>`, `value:<key>`, `segments` (hash), `ping`. Multi-key changes run as
one Lua script (atomic on the server, one round trip); the audit log appends with
WATCH/MULTI/EXEC and retries on conflict because the hash is computed in Python.
Scripts derive some key names from the prefix, so this needs a standalone Redis
(or Sentinel), not Redis Cluster. Connection failures and timeouts raise
`StoreUnavailable`; a failed connection is retried once, at once, never a timeout.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import cast

import redis.asyncio
import redis.exceptions as rex
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway import chain
from gateway.chain import Draft, Event
from gateway.errors import StoreUnavailable
from gateway.store import Registrant, Session

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_APPEND_ATTEMPTS = 1000
_UNREACHABLE = (
    rex.ConnectionError,  # refused, reset, auth, loading, pool exhausted
    rex.TimeoutError,
    rex.ReadOnlyError,  # a replica after failover
    rex.ClusterDownError,  # MASTERDOWN
    rex.OutOfMemoryError,
    OSError,
)

_ADD_REGISTRANT = """
local existing = redis.call('GET', KEYS[1])
if existing then return {0, redis.call('HGETALL', ARGV[1] .. existing)} end
if redis.call('EXISTS', KEYS[2]) == 1 then return redis.error_reply('registrant id in use') end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('RPUSH', KEYS[3], ARGV[2])
return {1, {}}
"""
_BY_EMAIL = """
local id = redis.call('GET', KEYS[1])
if not id then return {} end
return redis.call('HGETALL', ARGV[1] .. id)
"""
_ALL_REGISTRANTS = """
local out = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. id)
end
return out
"""
_BUMP_LINK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HINCRBY', KEYS[1], 'link_version', 1)
redis.call('HSET', KEYS[1], 'revoked', ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""
# KEYS: registrant's zset, session key, expiry zset, seq counter.
# ARGV: session key prefix, id, now, created, expires (microseconds), ttl ms, max devices,
#       then the session hash's fields and values.
_CREATE_SESSION = """
local now, live = tonumber(ARGV[3]), {}
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  local sid = members[i]
  local key = ARGV[1] .. sid
  local f = redis.call('HMGET', key, 'registrant_id', 'expires_us', 'n')
  if not f[1] then
    redis.call('ZREM', KEYS[1], sid)
    redis.call('ZREM', KEYS[3], sid)
  elseif sid == ARGV[2] or f[1] ~= ARGV[9] then
    redis.call('ZREM', KEYS[1], sid)
  elseif tonumber(f[2]) <= now then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], sid)
    redis.call('ZREM', KEYS[3], sid)
  else
    live[#live + 1] = {sid, tonumber(members[i + 1]), tonumber(f[3])}
  end
end
local n = redis.call('INCR', KEYS[4])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'n', n, unpack(ARGV, 8))
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[2])
live[#live + 1] = {ARGV[2], tonumber(ARGV[4]), n}
table.sort(live, function(a, b)
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[3] < b[3]
end)
local ended = {}
for i = 1, #live - math.max(0, tonumber(ARGV[7])) do
  local sid = live[i][1]
  redis.call('DEL', ARGV[1] .. sid)
  redis.call('ZREM', KEYS[1], sid)
  redis.call('ZREM', KEYS[3], sid)
  ended[#ended + 1] = sid
end
return ended
"""
# KEYS: registrant's zset, expiry zset. ARGV: session key prefix, registrant id.
_END_SESSIONS = """
local ended = {}
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  local sid = members[i]
  local f = redis.call('HMGET', ARGV[1] .. sid, 'registrant_id', 'n')
  if not f[1] then
    redis.call('ZREM', KEYS[2], sid)
  elseif f[1] == ARGV[2] then
    redis.call('DEL', ARGV[1] .. sid)
    redis.call('ZREM', KEYS[2], sid)
    ended[#ended + 1] = {sid, tonumber(members[i + 1]), tonumber(f[2])}
  end
end
redis.call('DEL', KEYS[1])
table.sort(ended, function(a, b)
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[3] < b[3]
end)
local ids = {}
for i, e in ipairs(ended) do ids[i] = e[1] end
return ids
"""
# KEYS: expiry zset. ARGV: session key prefix, now (microseconds).
_COUNT_SESSIONS = """
local now, count = tonumber(ARGV[2]), 0
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  if redis.call('EXISTS', ARGV[1] .. members[i]) == 0 then
    redis.call('ZREM', KEYS[1], members[i])
  elseif tonumber(members[i + 1]) > now then
    count = count + 1
  end
end
return count
"""


def _iso(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the store needs aware datetimes")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def _micros(moment: dt.datetime) -> int:
    """Microseconds since the epoch: exact as a Lua number and a zset score (< 2**53)."""
    return (_utc(_iso(moment)) - EPOCH) // dt.timedelta(microseconds=1)


def _pairs(flat: Sequence[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _registrant(fields: Mapping[str, str]) -> Registrant:
    return Registrant(
        id=fields["id"],
        email=fields["email"],
        name=fields["name"],
        organisation=fields["organisation"],
        created_at=_utc(fields["created_at"]),
        link_version=int(fields["link_version"]),
        revoked=fields["revoked"] == "1",
    )


class RedisStore:
    def __init__(self, url: str, *, prefix: str = "gw:", timeout: float = 1.0) -> None:
        self.prefix = prefix
        self._redis = redis.asyncio.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(rex.ConnectionError,)),
        )
        script = self._redis.register_script
        self._add_registrant = script(_ADD_REGISTRANT)
        self._by_email = script(_BY_EMAIL)
        self._all_registrants = script(_ALL_REGISTRANTS)
        self._bump_link = script(_BUMP_LINK)
        self._create_session = script(_CREATE_SESSION)
        self._end_sessions = script(_END_SESSIONS)
        self._count_sessions = script(_COUNT_SESSIONS)

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @contextlib.contextmanager
    def _reachable(self) -> Iterator[None]:
        try:
            yield
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc

    async def close(self) -> None:
        await self._redis.aclose(close_connection_pool=True)

    async def ping(self) -> None:
        with self._reachable():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(self._key("ping"), "pong")
                pipe.get(self._key("ping"))
                await pipe.execute()

    # Registrants

    async def add_registrant(self, registrant: Registrant) -> tuple[Registrant, bool]:
        stored = replace(registrant, created_at=_utc(_iso(registrant.created_at)))
        fields = {
            "id": stored.id,
            "email": stored.email,
            "name": stored.name,
            "organisation": stored.organisation,
            "created_at": _iso(stored.created_at),
            "link_version": str(stored.link_version),
            "revoked": "1" if stored.revoked else "0",
        }
        keys = [
            self._key("email", stored.email.lower()),
            self._key("reg", stored.id),
            self._key("registrants"),
        ]
        args = [self._key("reg", ""), stored.id, *(x for kv in fields.items() for x in kv)]
        with self._reachable():
            try:
                created, existing = await self._add_registrant(keys=keys, args=args)
            except rex.ResponseError as exc:
                if "registrant id in use" in str(exc):
                    raise ValueError(f"registrant id {stored.id!r} is already in use") from None
                raise
        return (stored, True) if created else (_registrant(_pairs(existing)), False)

    async def registrant(self, registrant_id: str) -> Registrant | None:
        with self._reachable():
            fields = cast(
                dict[str, str], await self._redis.hgetall(self._key("reg", registrant_id))
            )
        return _registrant(fields) if fields else None

    async def registrant_by_email(self, email: str) -> Registrant | None:
        keys = [self._key("email", email.lower())]
        with self._reachable():
            flat = await self._by_email(keys=keys, args=[self._key("reg", "")])
        return _registrant(_pairs(flat)) if flat else None

    async def registrants(self) -> list[Registrant]:
        keys = [self._key("registrants")]
        with self._reachable():
            rows = await self._all_registrants(keys=keys, args=[self._key("reg", "")])
        return [_registrant(_pairs(flat)) for flat in rows if flat]

    async def bump_link(self, registrant_id: str, *, revoked: bool) -> Registrant:
        keys = [self._key("reg", registrant_id)]
        with self._reachable():
            flat = await self._bump_link(keys=keys, args=["1" if revoked else "0"])
        if not flat:
            raise KeyError(registrant_id)
        return _registrant(_pairs(flat))

    # Sessions

    async def create_session(
        self, session: Session, *, max_devices: int, now: dt.datetime
    ) -> list[str]:
        created, expires = _micros(session.created_at), _micros(session.expires_at)
        keys = [
            self._key("reg-sessions", session.registrant_id),
            self._key("session", session.id),
            self._key("session-expiry"),
            self._key("session-seq"),
        ]
        args: list[str | int] = [
            self._key("session", ""), session.id, _micros(now), created, expires,
            max(1, -(-(expires - created) // 1000)), max_devices,
            "registrant_id", session.registrant_id, "link_version", session.link_version,
            "created_at", _iso(session.created_at), "expires_at", _iso(session.expires_at),
            "expires_us", expires,
        ]  # fmt: skip
        with self._reachable():
            return list(await self._create_session(keys=keys, args=args))

    async def session(self, session_id: str) -> Session | None:
        with self._reachable():
            key = self._key("session", session_id)
            fields = cast(dict[str, str], await self._redis.hgetall(key))
        if not fields:
            return None
        return Session(
            id=session_id,
            registrant_id=fields["registrant_id"],
            link_version=int(fields["link_version"]),
            created_at=_utc(fields["created_at"]),
            expires_at=_utc(fields["expires_at"]),
        )

    async def end_sessions(self, registrant_id: str) -> list[str]:
        keys = [self._key("reg-sessions", registrant_id), self._key("session-expiry")]
        with self._reachable():
            ended = await self._end_sessions(
                keys=keys, args=[self._key("session", ""), registrant_id]
            )
        return list(ended)

    async def count_sessions(self, now: dt.datetime) -> int:
        keys = [self._key("session-expiry")]
        with self._reachable():
            count = await self._count_sessions(
                keys=keys, args=[self._key("session", ""), _micros(now)]
            )
        return int(count)

    # Live segment dates

    async def date_segments(
        self, dates: Mapping[str, dt.datetime], *, overwrite: bool
    ) -> dict[str, dt.datetime]:
        if not dates:
            return {}
        key, names = self._key("segments"), list(dates)
        with self._reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                if overwrite:
                    pipe.hset(key, mapping={name: _iso(date) for name, date in dates.items()})
                else:
                    for name, date in dates.items():
                        pipe.hsetnx(key, name, _iso(date))
                pipe.hmget(key, names)
                *_, stored = await pipe.execute()
        return {name: _utc(text) for name, text in zip(names, stored, strict=True) if text}

    async def segment_dates(self, names: Sequence[str]) -> dict[str, dt.datetime]:
        wanted = list(names)
        if not wanted:
            return {}
        with self._reachable():
            stored = cast(list[str | None], await self._redis.hmget(self._key("segments"), wanted))
        return {name: _utc(text) for name, text in zip(wanted, stored, strict=True) if text}

    # Audit log

    async def append_audit(self, draft: Draft) -> Event:
        head_key, log_key = self._key("audit", "head"), self._key("audit")
        with self._reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                for _ in range(MAX_APPEND_ATTEMPTS):
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
                        continue
        raise StoreUnavailable(f"redis: audit append lost {MAX_APPEND_ATTEMPTS} races in a row")

    async def audit_events(self, *, after_seq: int = 0, limit: int | None = None) -> list[Event]:
        start = max(0, after_seq)
        if limit is not None and limit <= 0:
            return []
        stop = -1 if limit is None else start + limit - 1
        with self._reachable():
            rows = cast(list[str], await self._redis.lrange(self._key("audit"), start, stop))
        return [Event.from_json(row) for row in rows]

    async def mark_once(self, key: str) -> bool:
        with self._reachable():
            return bool(await self._redis.set(self._key("once", key), "1", nx=True))

    # Small named values

    async def get_value(self, key: str) -> str | None:
        with self._reachable():
            return cast(str | None, await self._redis.get(self._key("value", key)))

    async def set_value(self, key: str, value: str) -> None:
        with self._reachable():
            await self._redis.set(self._key("value", key), value)

    async def setdefault_value(self, key: str, value: str) -> str:
        with self._reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._key("value", key), value, nx=True)
                pipe.get(self._key("value", key))
                _, stored = await pipe.execute()
        return cast(str, stored)
