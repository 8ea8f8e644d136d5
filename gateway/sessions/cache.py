"""Session state in process: authorising a stream request without a store round trip.

Each replica keeps the (session, registrant) pairs it has read, by session id,
and asks the store which registrants' access changed since it last asked
(`Store.access_changes`): twice per `POLL` from a background task
(`keep_fresh`), one small round trip per replica, not per request; a request
asks itself only if no poll started within `POLL` (the task fell behind, or
does not run). Every change that can end a running session's access
(revoke, reissue, eviction beyond max_devices, ending sessions) bumps the store's
access epoch and logs the registrant atomically with the change itself, so:

- a change made anywhere reaches this replica's decisions within `POLL` (1 s,
  by this replica's clock) plus one round trip; a change made in this process
  (`Store.local_access_changes`) is seen by the next request, at once;
- only the changed registrants' sessions are forgotten; when the store cannot
  name them (this replica was too far behind), everything is;
- every entry is read again after `MAX_AGE` anyway, a safety net for changes
  made behind the store's back (by hand);
- an entry read while a change was being noticed is never kept (generations).

Outages: when the store does not answer, a session this replica verified (read,
or confirmed by a successful poll) within `STALE_GRACE` may go on playing and
is marked `stale`; anything else raises StoreUnavailable (503). After a failed
poll the store is asked again at most once per `POLL` on the hit path, so an
outage costs a replica one timeout per second, not one per request.

Memory is bounded: entries sit in read order, the ones older than `MAX_AGE` are
pruned on each poll, and beyond `max_entries` the oldest read goes first.
Negative answers (no such session) are cached too: session ids are random, so
an id the store does not know never becomes one it does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from gateway.core.clock import Clock
from gateway.core.errors import StoreUnavailable
from gateway.core.records import Registrant, Session
from gateway.store import Store

log = logging.getLogger(__name__)
POLL = dt.timedelta(seconds=1)
MAX_AGE = dt.timedelta(seconds=30)
STALE_GRACE = dt.timedelta(seconds=5)
MAX_ENTRIES = 100_000
_ZERO = dt.timedelta(0)


class Lookup(NamedTuple):  # a tuple: made on every stream request, 2x cheaper than a dataclass
    session: Session | None
    registrant: Registrant | None
    verified_at: dt.datetime  # when the store last vouched for this state
    stale: bool = False  # granted from memory while the store does not answer


@dataclass(frozen=True)
class _Entry:
    session: Session | None
    registrant: Registrant | None
    read_at: dt.datetime  # when the read that produced it started

    @property
    def complete(self) -> bool:
        return self.session is not None and self.registrant is not None


@dataclass
class CacheStats:
    hits: int = 0
    reads: int = 0  # lookups that went to the store
    stale: int = 0  # answered from memory during an outage
    polls: int = 0
    poll_failures: int = 0
    forgotten: int = 0  # entries dropped because their registrant's access changed


class SessionCache:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        poll: dt.timedelta = POLL,
        max_age: dt.timedelta = MAX_AGE,
        grace: dt.timedelta = STALE_GRACE,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.store = store
        self.clock = clock
        self.poll = poll
        self.max_age = max_age
        self.grace = grace
        self.max_entries = max_entries
        self.stats = CacheStats()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # in read order
        self._by_registrant: dict[str, set[str]] = {}
        self._generation = 0  # bumped whenever entries are forgotten
        self._epoch: int | None = None  # the store's access epoch at the last poll
        self._local_seen: int | None = None  # store.local_access_changes() at the last poll
        self._polled_at: dt.datetime | None = None  # start of the last poll
        self._confirmed_at: dt.datetime | None = None  # start of the last successful poll
        self._up = False  # whether the last poll succeeded
        self._polls = 0
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, session_id: str) -> Registrant | None:
        """The registrant of a cached session, if any (no store call; for audit details)."""
        entry = self._entries.get(session_id)
        return entry.registrant if entry else None

    async def get(self, session_id: str, now: dt.datetime | None = None) -> Lookup:
        """The session and its registrant, from memory when that is known to be current
        at `now` (the clock's reading if not given).

        Raises StoreUnavailable when the store does not answer and this replica has
        not verified the session within the grace period.
        """
        now = now or self.clock()
        found = self.hit(session_id, now)
        if found is not None:
            return found
        fresh = await self._refresh(now)
        entry = self._entries.get(session_id)
        if entry is not None:
            if fresh and _within(now - entry.read_at, self.max_age):
                self.stats.hits += 1
                return Lookup(entry.session, entry.registrant, self._verified(entry))
            if not self._up and self._within_grace(entry, now):
                return self._stale(entry)
        return await self._read(session_id, now, entry)

    def hit(self, session_id: str, now: dt.datetime) -> Lookup | None:
        """What `get` answers from memory with no poll due, if it can; else None.

        The hot path: a plain call, no coroutine. Same conditions as `get`'s hit.
        """
        polled_at = self._polled_at
        if (
            polled_at is None
            or not self._up
            or self.store.local_access_changes() != self._local_seen
            or not _within(now - polled_at, self.poll)
        ):
            return None
        entry = self._entries.get(session_id)
        if entry is None or not _within(now - entry.read_at, self.max_age):
            return None
        self.stats.hits += 1
        return Lookup(entry.session, entry.registrant, self._verified(entry))

    @property
    def generation(self) -> int:
        """Bumped whenever entries are forgotten (a change of access noticed): what was
        decided under an older one may no longer hold."""
        return self._generation

    def forget(self, session_ids: Iterable[str]) -> None:
        """Drop these sessions now (this process ended them)."""
        for session_id in session_ids:
            self._remove(session_id)
        self._generation += 1

    # Reading through

    async def _read(self, session_id: str, now: dt.datetime, entry: _Entry | None) -> Lookup:
        generation = self._generation
        self.stats.reads += 1
        try:
            session = await self.store.session(session_id)
            registrant = await self.store.registrant(session.registrant_id) if session else None
        except StoreUnavailable:
            if entry is not None and self._within_grace(entry, now):
                return self._stale(entry)
            raise
        if generation == self._generation:  # else a change was noticed meanwhile: don't keep it
            self._put(session_id, _Entry(session, registrant, now))
        return Lookup(session, registrant, now)

    def _verified(self, entry: _Entry) -> dt.datetime:
        """When the store last vouched for an entry: its read, or a later successful poll
        (every entry in the cache belongs to the current generation)."""
        if self._confirmed_at is not None and self._confirmed_at > entry.read_at:
            return self._confirmed_at
        return entry.read_at

    def _within_grace(self, entry: _Entry, now: dt.datetime) -> bool:
        return entry.complete and _within(now - self._verified(entry), self.grace, inclusive=True)

    def _stale(self, entry: _Entry) -> Lookup:
        self.stats.stale += 1
        return Lookup(entry.session, entry.registrant, self._verified(entry), stale=True)

    # Polling the store's access changes

    async def keep_fresh(self, interval: float | None = None) -> None:
        """Poll every `interval` s (a quarter of `poll` by default) until cancelled.

        With this running, requests find the cache current and never wait for a
        poll (under load a store call can take tens of milliseconds, every request
        queued behind it); should it fall behind, requests poll as before.
        """
        # A quarter second: nginx keeps a grant only for a request repeated within its
        # wall-clock second, so a revocation made anywhere bites at the edge within a
        # quarter second and a round trip, or at the end of that second (deploy/nginx).
        pause = self.poll.total_seconds() / 4 if interval is None else interval
        while True:
            try:
                async with self._lock:
                    await self._poll(self.clock(), self.store.local_access_changes())
            except Exception:  # a bug, not an outage (`_poll` takes those): log, go on
                log.exception("session cache poll failed")
            await asyncio.sleep(pause)

    async def _refresh(self, now: dt.datetime) -> bool:
        """Poll when due; whether the cache is known current (a poll succeeded < POLL ago
        and nothing changed in this process since)."""
        local = self.store.local_access_changes()
        if local == self._local_seen and self._polled_at is not None:
            if _within(now - self._polled_at, self.poll):
                return self._up
        if not self._up and self._lock.locked():
            return False  # the store is being retried after a failure: don't queue behind it
        seen = self._polls
        async with self._lock:
            if self._polls == seen:  # nobody polled while this request waited
                await self._poll(now, local)
        return self._up and local == self._local_seen

    async def _poll(self, now: dt.datetime, local: int) -> None:
        self._polls += 1
        self.stats.polls += 1
        self._polled_at = now
        changed_here = local != self._local_seen
        try:
            changes = await self.store.access_changes(-1 if self._epoch is None else self._epoch)
        except StoreUnavailable:
            self.stats.poll_failures += 1
            self._up = False
            if changed_here and self._local_seen is not None:
                self._forget_all()  # something changed here, and the store cannot say what
            self._local_seen = local
            return
        if changes.registrants is None:
            self._forget_all()
        elif changes.registrants:
            self._forget_registrants(changes.registrants)
        self._epoch = changes.epoch
        self._local_seen = local
        self._confirmed_at = now
        self._up = True
        self._prune(now)

    # Bookkeeping

    def _put(self, session_id: str, entry: _Entry) -> None:
        self._remove(session_id)
        while len(self._entries) >= self.max_entries:
            self._remove(next(iter(self._entries)))
        self._entries[session_id] = entry
        if entry.session is not None:
            self._by_registrant.setdefault(entry.session.registrant_id, set()).add(session_id)

    def _remove(self, session_id: str) -> None:
        entry = self._entries.pop(session_id, None)
        if entry is None or entry.session is None:
            return
        ids = self._by_registrant.get(entry.session.registrant_id)
        if ids is not None:
            ids.discard(session_id)
            if not ids:
                del self._by_registrant[entry.session.registrant_id]

    def _forget_registrants(self, registrants: Iterable[str]) -> None:
        for registrant_id in registrants:
            for session_id in list(self._by_registrant.get(registrant_id, ())):
                self._remove(session_id)
                self.stats.forgotten += 1
        self._generation += 1

    def _forget_all(self) -> None:
        self.stats.forgotten += len(self._entries)
        self._entries.clear()
        self._by_registrant.clear()
        self._generation += 1

    def _prune(self, now: dt.datetime) -> None:
        """Drop entries read MAX_AGE ago or more: they sit in read order, so from the front."""
        while self._entries:
            session_id, entry = next(iter(self._entries.items()))
            if now - entry.read_at < self.max_age:  # (a clock set back keeps them: size bounds)
                break
            self._remove(session_id)


def _within(elapsed: dt.timedelta, limit: dt.timedelta, *, inclusive: bool = False) -> bool:
    """Whether `elapsed` is less than `limit` (or equal, if inclusive), and not negative: a
    clock set back must not make old state look new (nor stop the polls until it catches up)."""
    return _ZERO <= elapsed and (elapsed <= limit if inclusive else elapsed < limit)
