"""`RedisStore`: the store shared by replicas, on one Redis (`redis.asyncio`).

Every key lives under `prefix`: `reg:<id>` (hash), `email:<address.lower()>` (id),
`registrants` (ids in creation order), `session:<id>` (hash, TTL = its lifetime),
`reg-sessions:<registrant>` (zset by created_at), `session-expiry` (zset by
expires_at, for counting), `session-seq` (insertion order, breaks created_at
ties), `audit` (event JSON, index = seq - 1), `audit:head` ("seq hash"),
`once:<key>`, `value:<key>`, `segments` (hash), `ping`; the mail queue (below);
`access-epoch` (a counter of access changes, started at the server's clock in
microseconds when missing, so that a Redis that lost its data is told apart) and
`access-log` (a list of the last ACCESS_LOG_SIZE changes, each "<epoch> <registrant id>"),
both written by the same script as the change itself.
Multi-key changes run as one Lua script (atomic on the server, one round trip);
the audit log appends with WATCH/MULTI/EXEC and retries on conflict because the
hash is computed in Python.
Scripts derive some key names from the prefix, so this needs a standalone Redis
(or Sentinel), not Redis Cluster. Connection failures and timeouts raise
`StoreUnavailable`; a failed connection is retried once, at once, never a timeout.

The mail queue: `mail:<id>` (hash), `mail-seq` (insertion order), and zsets whose
members are a job's order key (`_order_key`: created_at and insertion order as
fixed-width digits, then the id), so that equal scores sort in creation order and
the least member of any set is its oldest job: `mail-jobs` (all, by created_at),
`reg-mail:<registrant>` (one registrant's, by created_at), `mail-open` (pending or
sending, by created_at), `mail-pending` (by next_attempt_at) and `mail-sending` (by
claimed_until); `mail-dedupe` (hash: [registrant, kind, link_version] as JSON ->
id of the open job). A claim counts the due jobs (two ZCOUNTs), then walks
`mail-open` in creation order for at most that many members; if none of those is
due, the oldest due job is the least member among the due ones. Either way it
reads O(min(due jobs, not-due jobs older than the oldest due one)) members.

Attendance: `attendance:<registrant>` (zset of minute starts, member and score both the
minute in epoch seconds) and `attendance-ids` (set of registrants with attendance).
Counted sets (`add_member`): `members:<key>` (set; its TTL, set only when the set is
created, is its lifetime, by the Redis server's clock). Purging: a purged registrant's
hash keeps its id, dates and link fields, gains `purged` = "1", and its
`email:<address>` key is deleted, so the address may register again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import replace
from typing import cast

import redis.asyncio
import redis.exceptions as rex
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.core import chain
from gateway.core.chain import Draft, Event
from gateway.core.errors import StoreUnavailable
from gateway.core.records import MailJob, Registrant, Session
from gateway.store import ACCESS_LOG_SIZE, AccessChanges, check_finish

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
YEAR_ONE = dt.datetime.min.replace(tzinfo=dt.UTC)
MAIL_STATES = ("pending", "sending", "sent", "failed")
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
# A missing epoch (a new Redis, or one that lost its data) starts at the server's clock in
# microseconds (exact in Lua, < 2^53), so a replica that knew the old one is told apart.
_EPOCH_START = """
local function epoch_start(epoch_key)
  local t = redis.call('TIME')
  local start = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('SET', epoch_key, start)
  return tonumber(start)
end
"""
# An access change, logged by the script that makes it: bump the epoch, log who, trim.
_NOTE_CHANGE = (
    _EPOCH_START
    + f"""
local function note_change(epoch_key, log_key, registrant)
  if redis.call('EXISTS', epoch_key) == 0 then epoch_start(epoch_key) end
  local epoch = redis.call('INCR', epoch_key)
  redis.call('RPUSH', log_key, string.format('%d', epoch) .. ' ' .. registrant)
  redis.call('LTRIM', log_key, -{ACCESS_LOG_SIZE}, -1)
end
"""
)
# KEYS: registrant hash, access-epoch, access-log. ARGV: revoked ("1"/"0"), registrant id.
_BUMP_LINK = (
    _NOTE_CHANGE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HINCRBY', KEYS[1], 'link_version', 1)
redis.call('HSET', KEYS[1], 'revoked', ARGV[1])
note_change(KEYS[2], KEYS[3], ARGV[2])
return redis.call('HGETALL', KEYS[1])
"""
)
# KEYS: registrant hash, access-epoch, access-log. ARGV: version, revoked ("1"/"0"), id.
_RESTORE_LINK = (
    _NOTE_CHANGE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'link_version')) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'link_version', ARGV[1], 'revoked', ARGV[2])
note_change(KEYS[2], KEYS[3], ARGV[3])
return 1
"""
)
# KEYS: registrant's zset, session key, expiry zset, seq counter, access-epoch, access-log.
# ARGV: session key prefix, id, now, created, expires (microseconds), ttl ms, max devices,
#       then the session hash's fields and values (ARGV[9] is the registrant id).
_CREATE_SESSION = (
    _NOTE_CHANGE
    + """
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
if #ended > 0 then note_change(KEYS[5], KEYS[6], ARGV[9]) end
return ended
"""
)
# KEYS: registrant's zset, expiry zset, access-epoch, access-log.
# ARGV: session key prefix, registrant id.
_END_SESSIONS = (
    _NOTE_CHANGE
    + """
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
if #ids > 0 then note_change(KEYS[3], KEYS[4], ARGV[2]) end
return ids
"""
)
# KEYS: access-epoch, access-log. ARGV: since. Returns {epoch} when there is nothing to
# list (no change, or `since` out of the log's reach), else {epoch, {entries after since}}.
_ACCESS_CHANGES = (
    _EPOCH_START
    + f"""
local epoch = tonumber(redis.call('GET', KEYS[1]) or epoch_start(KEYS[1]))
local since = tonumber(ARGV[1])
if since < 0 or since >= epoch or epoch - since > {ACCESS_LOG_SIZE} then return {{epoch}} end
return {{epoch, redis.call('LRANGE', KEYS[2], since - epoch, -1)}}
"""
)
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
# Mail queue. Shared key layout for the scripts below:
# KEYS: mail-dedupe, mail-seq, mail-jobs, mail-open, mail-pending, mail-sending.
_MAIL_KEYS = ("mail-dedupe", "mail-seq", "mail-jobs", "mail-open", "mail-pending", "mail-sending")
# KEYS[7]: the job's hash, KEYS[8]: its registrant's zset.
# ARGV: job hash prefix, dedupe field, id, created_at order prefix, created (us), state,
#       next_attempt_at (us), claimed_until (us), then the hash's fields and values.
_ENQUEUE_MAIL = """
local existing = redis.call('HGET', KEYS[1], ARGV[2])
if existing then
  local state = redis.call('HGET', ARGV[1] .. existing, 'state')
  if state == 'pending' or state == 'sending' then
    return {0, redis.call('HGETALL', ARGV[1] .. existing)}
  end
end
if redis.call('EXISTS', KEYS[7]) == 1 then return redis.error_reply('mail job id in use') end
local member = ARGV[4] .. string.format('%012d', redis.call('INCR', KEYS[2])) .. ARGV[3]
redis.call('HSET', KEYS[7], 'member', member, unpack(ARGV, 9))
redis.call('ZADD', KEYS[3], ARGV[5], member)
redis.call('ZADD', KEYS[8], ARGV[5], member)
if ARGV[6] == 'pending' or ARGV[6] == 'sending' then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('ZADD', KEYS[4], ARGV[5], member)
  if ARGV[6] == 'pending' then
    redis.call('ZADD', KEYS[5], ARGV[7], member)
  else
    redis.call('ZADD', KEYS[6], ARGV[8], member)
  end
end
return {1, {}}
"""
# ARGV: job hash prefix, order prefix length, now (us), worker, claimed_until (iso),
#       claimed_until (us), the job id or ''. (Times go back to Redis as the ARGV strings:
#       Lua would print a number of microseconds in %.14g, losing digits.)
_CLAIM_MAIL = """
local now = tonumber(ARGV[3])
local function due(member)
  local at = redis.call('ZSCORE', KEYS[5], member) or redis.call('ZSCORE', KEYS[6], member)
  return at and tonumber(at) <= now
end
local chosen
if ARGV[7] ~= '' then
  chosen = redis.call('HGET', ARGV[1] .. ARGV[7], 'member')
  if not chosen or not due(chosen) then return false end
else
  local count = redis.call('ZCOUNT', KEYS[5], '-inf', ARGV[3])
    + redis.call('ZCOUNT', KEYS[6], '-inf', ARGV[3])
  if count == 0 then return false end
  local start = 0
  while not chosen and start < count do
    local stop = math.min(count, start + 32) - 1
    for _, member in ipairs(redis.call('ZRANGE', KEYS[4], start, stop)) do
      if due(member) then
        chosen = member
        break
      end
    end
    start = stop + 1
  end
  if not chosen then
    for i = 5, 6 do
      for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', ARGV[3])) do
        if not chosen or member < chosen then chosen = member end
      end
    end
  end
end
local key = ARGV[1] .. string.sub(chosen, tonumber(ARGV[2]) + 1)
redis.call('ZREM', KEYS[5], chosen)
redis.call('ZADD', KEYS[6], ARGV[6], chosen)
redis.call('HSET', key, 'state', 'sending', 'claimed_by', ARGV[4], 'claimed_until', ARGV[5])
redis.call('HINCRBY', key, 'attempts', 1)
return redis.call('HGETALL', key)
"""
# KEYS[7]: the job's hash. ARGV: state, error, sent_at (iso), next_attempt_at (iso, us).
_FINISH_MAIL = """
local f = redis.call('HMGET', KEYS[7], 'member', 'dedupe', 'created_us')
local member = f[1]
if not member then return false end
redis.call('ZREM', KEYS[5], member)
redis.call('ZREM', KEYS[6], member)
redis.call('HSET', KEYS[7], 'state', ARGV[1], 'last_error', ARGV[2], 'claimed_by', '',
  'claimed_until', '')
if ARGV[1] == 'sent' then redis.call('HSET', KEYS[7], 'sent_at', ARGV[3]) end
if ARGV[1] == 'pending' then
  redis.call('HSET', KEYS[7], 'next_attempt_at', ARGV[4])
  redis.call('ZADD', KEYS[5], ARGV[5], member)
  redis.call('ZADD', KEYS[4], f[3], member)
  redis.call('HSETNX', KEYS[1], f[2], redis.call('HGET', KEYS[7], 'id'))
else
  redis.call('ZREM', KEYS[4], member)
  if redis.call('HGET', KEYS[1], f[2]) == redis.call('HGET', KEYS[7], 'id') then
    redis.call('HDEL', KEYS[1], f[2])
  end
end
return redis.call('HGETALL', KEYS[7])
"""
# KEYS: mail-jobs or a registrant's zset. ARGV: job hash prefix, order prefix length, state or ''.
_MAIL_JOBS = """
local out = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[1] .. string.sub(member, tonumber(ARGV[2]) + 1)
  if ARGV[3] == '' or redis.call('HGET', key, 'state') == ARGV[3] then
    out[#out + 1] = redis.call('HGETALL', key)
  end
end
return out
"""
# KEYS: registrants. ARGV: registrant key prefix, then `before` as two
# numbers (YYYYMMDD, HHMMSSffffff: exact in Lua, and compared as numbers rather than
# strings, whose order in Redis's Lua follows the server's locale).
# Returns the registrants created before `before` and not purged: {id, email, ...}.
_PURGE_CANDIDATES = """
local function stamp(iso)
  return tonumber(string.sub(iso, 1, 4) .. string.sub(iso, 6, 7) .. string.sub(iso, 9, 10)),
    tonumber(string.sub(iso, 12, 13) .. string.sub(iso, 15, 16) .. string.sub(iso, 18, 19)
      .. string.sub(iso, 21, 26))
end
local day, time = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', ARGV[1] .. id, 'created_at', 'email', 'purged')
  if f[1] and f[3] ~= '1' then
    local d, t = stamp(f[1])
    if d < day or (d == day and t < time) then
      out[#out + 1] = id
      out[#out + 1] = f[2]
    end
  end
end
return out
"""
# KEYS: per registrant its hash and its email index key. ARGV: the ids.
# Purges each one not purged meanwhile; returns the ids purged.
_PURGE = """
local purged = {}
for i, id in ipairs(ARGV) do
  local reg, email = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('EXISTS', reg) == 1 and redis.call('HGET', reg, 'purged') ~= '1' then
    redis.call('HSET', reg, 'email', '', 'name', '', 'organisation', '', 'purged', '1')
    if redis.call('GET', email) == id then redis.call('DEL', email) end
    purged[#purged + 1] = id
  end
end
return purged
"""
# KEYS: attendance-ids. ARGV: attendance key prefix. Returns {id, {minutes...}, ...}.
_REPLACE_VALUE = """
-- KEYS: value. ARGV: whether a value is expected (1/0), the expected value, the new value.
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
"""

_ATTENDANCE = """
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('ZRANGE', ARGV[1] .. id, 0, -1)
end
return out
"""
ORDER_PREFIX_LEN = 18 + 12  # created_at in microseconds since year 1, then mail-seq


def _iso(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the store needs aware datetimes")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def _micros(moment: dt.datetime) -> int:
    """Microseconds since the epoch: exact as a Lua number and a zset score (< 2**53)."""
    return (_utc(_iso(moment)) - EPOCH) // dt.timedelta(microseconds=1)


def _minute(moment: dt.datetime) -> int:
    """A minute start as epoch seconds (exact as a score); ValueError if not one."""
    at = _utc(_iso(moment))
    if at.second or at.microsecond:
        raise ValueError(f"{moment!r} is not the start of a minute")
    return (at - EPOCH) // dt.timedelta(seconds=1)


def _stamp(moment: dt.datetime) -> tuple[int, int]:
    """`moment` as _PURGE_CANDIDATES compares it: (YYYYMMDD, HHMMSSffffff) in UTC."""
    at = _utc(_iso(moment))
    return (
        at.year * 10000 + at.month * 100 + at.day,
        ((at.hour * 100 + at.minute) * 100 + at.second) * 1_000_000 + at.microsecond,
    )


def _pairs(flat: Sequence[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _order_key(created_at: dt.datetime) -> str:
    """The start of a job's zset member: created_at as fixed-width digits (microseconds
    since year 1, never negative), so text order is time order; mail-seq follows."""
    return f"{(_utc(_iso(created_at)) - YEAR_ONE) // dt.timedelta(microseconds=1):018d}"


def _mail_job(fields: Mapping[str, str]) -> MailJob:
    return MailJob(
        id=fields["id"],
        registrant_id=fields["registrant_id"],
        kind=fields["kind"],
        link_version=int(fields["link_version"]),
        lang=fields["lang"],
        created_at=_utc(fields["created_at"]),
        next_attempt_at=_utc(fields["next_attempt_at"]),
        state=fields["state"],
        attempts=int(fields["attempts"]),
        last_error=fields["last_error"],
        claimed_by=fields["claimed_by"],
        claimed_until=_utc(fields["claimed_until"]) if fields["claimed_until"] else None,
        sent_at=_utc(fields["sent_at"]) if fields["sent_at"] else None,
    )


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
        self._timeout = timeout
        self._redis = redis.asyncio.Redis.from_url(
            url,
            decode_responses=True,
            # No socket_timeout (redis-py 8 defaults to 5 s): with one, redis-py writes
            # under asyncio.wait_for, which on Python 3.11 drops a cancellation that lands
            # as the write completes (a cancelled poll loop polled on forever: issue 13).
            # `_reachable` puts one deadline on each whole call instead; a call cut short
            # closes its connection.
            socket_timeout=None,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(rex.ConnectionError,)),
        )
        script = self._redis.register_script
        self._add_registrant = script(_ADD_REGISTRANT)
        self._by_email = script(_BY_EMAIL)
        self._all_registrants = script(_ALL_REGISTRANTS)
        self._bump_link = script(_BUMP_LINK)
        self._restore_link = script(_RESTORE_LINK)
        self._create_session = script(_CREATE_SESSION)
        self._end_sessions = script(_END_SESSIONS)
        self._count_sessions = script(_COUNT_SESSIONS)
        self._enqueue_mail = script(_ENQUEUE_MAIL)
        self._claim_mail = script(_CLAIM_MAIL)
        self._finish_mail = script(_FINISH_MAIL)
        self._mail_jobs = script(_MAIL_JOBS)
        self._purge_candidates = script(_PURGE_CANDIDATES)
        self._purge = script(_PURGE)
        self._attendance = script(_ATTENDANCE)
        self._replace_value = script(_REPLACE_VALUE)
        self._access_changes_script = script(_ACCESS_CHANGES)
        self._access_changes = 0  # made through this object (local_access_changes)

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @contextlib.asynccontextmanager
    async def _reachable(self) -> AsyncIterator[None]:
        """Every store call's deadline (`timeout` s for the whole call), failures mapped."""
        try:
            async with asyncio.timeout(self._timeout):
                yield
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc
        except TimeoutError as exc:
            raise StoreUnavailable(f"redis: no answer within {self._timeout:g} s") from exc

    async def close(self) -> None:
        await self._redis.aclose(close_connection_pool=True)

    async def ping(self) -> None:
        async with self._reachable():
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
        async with self._reachable():
            try:
                created, existing = await self._add_registrant(keys=keys, args=args)
            except rex.ResponseError as exc:
                if "registrant id in use" in str(exc):
                    raise ValueError(f"registrant id {stored.id!r} is already in use") from None
                raise
        return (stored, True) if created else (_registrant(_pairs(existing)), False)

    async def registrant(self, registrant_id: str) -> Registrant | None:
        async with self._reachable():
            fields = cast(
                dict[str, str], await self._redis.hgetall(self._key("reg", registrant_id))
            )
        return _registrant(fields) if fields else None

    async def registrant_by_email(self, email: str) -> Registrant | None:
        keys = [self._key("email", email.lower())]
        async with self._reachable():
            flat = await self._by_email(keys=keys, args=[self._key("reg", "")])
        return _registrant(_pairs(flat)) if flat else None

    async def registrants(self) -> list[Registrant]:
        keys = [self._key("registrants")]
        async with self._reachable():
            rows = await self._all_registrants(keys=keys, args=[self._key("reg", "")])
        return [_registrant(_pairs(flat)) for flat in rows if flat]

    async def bump_link(self, registrant_id: str, *, revoked: bool) -> Registrant:
        keys = [self._key("reg", registrant_id), *self._access_keys()]
        async with self._reachable():
            flat = await self._bump_link(keys=keys, args=["1" if revoked else "0", registrant_id])
        if not flat:
            raise KeyError(registrant_id)
        self._access_changes += 1
        return _registrant(_pairs(flat))

    async def restore_link(self, registrant_id: str, *, version: int, revoked: bool) -> bool:
        keys = [self._key("reg", registrant_id), *self._access_keys()]
        args = [str(version), "1" if revoked else "0", registrant_id]
        async with self._reachable():
            restored = bool(await self._restore_link(keys=keys, args=args))
        if restored:
            self._access_changes += 1
        return restored

    async def server_time(self) -> dt.datetime | None:
        async with self._reachable():
            seconds, micros = await self._redis.time()
        return EPOCH + dt.timedelta(seconds=int(seconds), microseconds=int(micros))

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
            *self._access_keys(),
        ]
        args: list[str | int] = [
            self._key("session", ""), session.id, _micros(now), created, expires,
            max(1, -(-(expires - created) // 1000)), max_devices,
            "registrant_id", session.registrant_id, "link_version", session.link_version,
            "created_at", _iso(session.created_at), "expires_at", _iso(session.expires_at),
            "expires_us", expires,
        ]  # fmt: skip
        async with self._reachable():
            ended = list(await self._create_session(keys=keys, args=args))
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
            created_at=_utc(fields["created_at"]),
            expires_at=_utc(fields["expires_at"]),
        )

    async def end_sessions(self, registrant_id: str) -> list[str]:
        keys = [
            self._key("reg-sessions", registrant_id),
            self._key("session-expiry"),
            *self._access_keys(),
        ]
        async with self._reachable():
            ended = list(
                await self._end_sessions(keys=keys, args=[self._key("session", ""), registrant_id])
            )
        self._access_changes += bool(ended)
        return ended

    async def count_sessions(self, now: dt.datetime) -> int:
        keys = [self._key("session-expiry")]
        async with self._reachable():
            count = await self._count_sessions(
                keys=keys, args=[self._key("session", ""), _micros(now)]
            )
        return int(count)

    # Access changes

    def _access_keys(self) -> list[str]:
        return [self._key("access-epoch"), self._key("access-log")]

    async def access_epoch(self) -> int:
        async with self._reachable():
            return int(cast(str | None, await self._redis.get(self._key("access-epoch"))) or 0)

    async def access_changes(self, since: int) -> AccessChanges:
        async with self._reachable():
            reply = await self._access_changes_script(keys=self._access_keys(), args=[since])
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

    # Live segment dates

    async def date_segments(
        self, dates: Mapping[str, dt.datetime], *, overwrite: bool
    ) -> dict[str, dt.datetime]:
        if not dates:
            return {}
        key, names = self._key("segments"), list(dates)
        async with self._reachable():
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
        async with self._reachable():
            stored = cast(list[str | None], await self._redis.hmget(self._key("segments"), wanted))
        return {name: _utc(text) for name, text in zip(wanted, stored, strict=True) if text}

    # Audit log

    async def append_audit(self, draft: Draft) -> Event:
        head_key, log_key = self._key("audit", "head"), self._key("audit")
        async with self._reachable():
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
        async with self._reachable():
            rows = cast(list[str], await self._redis.lrange(self._key("audit"), start, stop))
        return [Event.from_json(row) for row in rows]

    async def mark_once(self, key: str) -> bool:
        async with self._reachable():
            return bool(await self._redis.set(self._key("once", key), "1", nx=True))

    # Mail queue

    async def enqueue_mail(self, job: MailJob) -> tuple[MailJob, bool]:
        if job.state not in MAIL_STATES:
            raise ValueError(f"mail job state {job.state!r} is not one of {MAIL_STATES}")
        if job.state == "sending" and job.claimed_until is None:
            raise ValueError("a sending mail job needs claimed_until")
        stored = replace(
            job,
            created_at=_utc(_iso(job.created_at)),
            next_attempt_at=_utc(_iso(job.next_attempt_at)),
            claimed_until=None if job.claimed_until is None else _utc(_iso(job.claimed_until)),
            sent_at=None if job.sent_at is None else _utc(_iso(job.sent_at)),
        )
        dedupe = json.dumps([job.registrant_id, job.kind, job.link_version])
        fields = {
            "id": stored.id,
            "registrant_id": stored.registrant_id,
            "kind": stored.kind,
            "link_version": str(stored.link_version),
            "lang": stored.lang,
            "created_at": _iso(stored.created_at),
            "created_us": str(_micros(stored.created_at)),
            "next_attempt_at": _iso(stored.next_attempt_at),
            "state": stored.state,
            "attempts": str(stored.attempts),
            "last_error": stored.last_error,
            "claimed_by": stored.claimed_by,
            "claimed_until": "" if stored.claimed_until is None else _iso(stored.claimed_until),
            "sent_at": "" if stored.sent_at is None else _iso(stored.sent_at),
            "dedupe": dedupe,
        }
        keys = [
            *(self._key(name) for name in _MAIL_KEYS),
            self._key("mail", stored.id),
            self._key("reg-mail", stored.registrant_id),
        ]
        args: list[str | int] = [
            self._key("mail", ""), dedupe, stored.id, _order_key(stored.created_at),
            _micros(stored.created_at), stored.state, _micros(stored.next_attempt_at),
            0 if stored.claimed_until is None else _micros(stored.claimed_until),
            *(x for kv in fields.items() for x in kv),
        ]  # fmt: skip
        async with self._reachable():
            try:
                added, existing = await self._enqueue_mail(keys=keys, args=args)
            except rex.ResponseError as exc:
                if "mail job id in use" in str(exc):
                    raise ValueError(f"mail job id {stored.id!r} is already in use") from None
                raise
        return (stored, True) if added else (_mail_job(_pairs(existing)), False)

    async def claim_mail(
        self, *, now: dt.datetime, worker: str, lease: dt.timedelta, job_id: str | None = None
    ) -> MailJob | None:
        until = now + lease
        keys = [self._key(name) for name in _MAIL_KEYS]
        args: list[str | int] = [
            self._key("mail", ""), ORDER_PREFIX_LEN, _micros(now), worker, _iso(until),
            _micros(until), job_id or "",
        ]  # fmt: skip
        async with self._reachable():
            flat = await self._claim_mail(keys=keys, args=args)
        return _mail_job(_pairs(flat)) if flat else None

    async def finish_mail(
        self,
        job_id: str,
        *,
        state: str,
        now: dt.datetime,
        error: str = "",
        retry_at: dt.datetime | None = None,
    ) -> MailJob:
        check_finish(state, retry_at)
        sent_at = _iso(now)
        retry_iso, retry_us = ("", 0) if retry_at is None else (_iso(retry_at), _micros(retry_at))
        keys = [*(self._key(name) for name in _MAIL_KEYS), self._key("mail", job_id)]
        async with self._reachable():
            flat = await self._finish_mail(
                keys=keys, args=[state, error, sent_at, retry_iso, retry_us]
            )
        if not flat:
            raise KeyError(job_id)
        return _mail_job(_pairs(flat))

    async def mail_jobs(
        self, *, registrant_id: str | None = None, state: str | None = None
    ) -> list[MailJob]:
        index = (
            self._key("mail-jobs")
            if registrant_id is None
            else self._key("reg-mail", registrant_id)
        )
        args: list[str | int] = [self._key("mail", ""), ORDER_PREFIX_LEN, state or ""]
        async with self._reachable():
            rows = await self._mail_jobs(keys=[index], args=args)
        return [_mail_job(_pairs(flat)) for flat in rows if flat]

    # Attendance

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

    async def attendance(self) -> dict[str, list[dt.datetime]]:
        keys = [self._key("attendance-ids")]
        async with self._reachable():
            flat = await self._attendance(keys=keys, args=[self._key("attendance", "")])
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
            flat = await self._purge_candidates(
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
            return list(await self._purge(keys=keys, args=ids))

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
            return bool(await self._replace_value(keys=[self._key("value", key)], args=args))
