"""A cache in front of an origin: one fetch per path however many viewers ask at once.

A live event draws thousands of viewers who all ask for the same playlist
every few seconds and the same new segment at the same moment. `CachingOrigin`
answers them from memory:

- single flight: concurrent fetches of one path share one origin fetch, run
  in a task of its own so a viewer hanging up does not cancel it for the rest;
- a bounded cache: bodies kept while younger than their max age (media
  segments `segment_ttl`, 60 s by default: their names never change meaning;
  playlists and every other file `playlist_ttl`, 1 s: a replica asks the
  origin for each at most once a second), the least recently used dropped
  first once the total size passes `max_bytes`, expired ones swept out at
  least once a second so memory follows the stream instead of filling up to
  the cap;
- failures shared: the error of a flight is every waiter's error, and is
  remembered for `error_ttl` so a storm of viewers does not hammer a failing
  origin (each waiter raises a copy of its own; one shared instance would grow
  a traceback with every raise).

Ages come from `time.monotonic` (injectable), never the wall clock. Retries
belong to the origin itself (`HttpOrigin`), inside the flight. Bodies are
always whole: a live segment is served only once its content is known to be
the one that was dated (`identify`), and the watcher reads each new segment
before any viewer asks for it, so viewers are answered from memory.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.core import dating
from gateway.core.errors import GatewayError, NotFound, OriginTimeout, OriginUnavailable
from gateway.core.playlists import Range
from gateway.metrics import Metrics

if TYPE_CHECKING:  # origins.make_origin builds caches: no import cycle at run time
    from gateway.stream.origins import Origin

log = logging.getLogger(__name__)
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
PLAYLIST_TTL = 1.0
SEGMENT_TTL = 60.0
ERROR_TTL = 1.0
_MAX_ERRORS = 10_000  # remembered failing paths; the oldest forgotten first
_SWEEP_EVERY = 1.0
_SEGMENT_SUFFIXES = (".ts", ".m4s", ".aac", ".m4a")


@dataclass(frozen=True)
class _Entry:
    body: bytes
    expires: float
    tag: object  # the version it was read at (see `validate`)


@dataclass(frozen=True)
class _Failure:
    error: GatewayError


class CachingOrigin:
    """An `Origin` answering from memory what `inner` answered recently; see the module doc.

    `validate`, if given, names the version of a path cheaply (a local file's
    inode, size and times; None when unsure): a kept body is answered only
    while the version it was read at is still the current one, so a file
    rewritten in place is seen at once. `error_ttl=0` remembers no failure.
    """

    def __init__(
        self,
        inner: Origin,
        *,
        max_bytes: int = DEFAULT_CACHE_BYTES,
        playlist_ttl: float = PLAYLIST_TTL,
        segment_ttl: float = SEGMENT_TTL,
        error_ttl: float = ERROR_TTL,
        validate: Callable[[str], object] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
        name: str = "origin",
    ) -> None:
        self.inner = inner
        self.max_bytes = max_bytes
        self.playlist_ttl = playlist_ttl
        self.segment_ttl = segment_ttl
        self.error_ttl = error_ttl
        self._monotonic = monotonic
        self._validate = validate
        self._metrics = metrics
        self._name = name
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._errors: dict[str, tuple[_Failure, float]] = {}
        self._flights: dict[str, asyncio.Future[bytes | _Failure]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_sweep = 0.0
        self.size = 0  # bytes held
        self.hits = 0  # answered from memory (a remembered failure included)
        self.joins = 0  # waited for a flight another request started
        self.misses = 0  # started a flight

    @property
    def validates(self) -> bool:
        """Whether every kept body is checked against the origin's current version."""
        return self._validate is not None

    async def fetch(self, path: str) -> bytes:
        """`inner.fetch(path)`, or its recent answer; raises what `inner` raised."""
        now = self._monotonic()
        kept = self._kept(path, now)
        if kept is not None:
            return kept
        flight = self._flights.get(path)
        if flight is None:
            flight = self._take_off(path, now)
        else:
            self._count("join")
        # Shielded: a viewer hanging up cancels its own wait, not the flight.
        answer = await asyncio.shield(flight)
        if isinstance(answer, _Failure):
            raise _fresh(answer.error)
        return answer

    def peek(self, path: str) -> bytes | None:
        """The body `fetch` would answer from memory now, else None (nothing fetched or
        waited for, a remembered failure included: `fetch` raises it)."""
        try:
            return self._kept(path, self._monotonic())
        except GatewayError:
            return None

    async def identify(self, path: str, span: Range | None = None) -> str:
        """`dating.identity` of what `fetch(path)` answers now, or of its `span`: from the
        file's edges alone for a file origin, else from the (kept or fetched) body.
        NotFound when the body has no such span."""
        edges = getattr(self.inner, "identify", None)
        if edges is not None:
            found: str = await edges(path, span)
            return found
        content = dating.identity_of_span(await self.fetch(path), span)
        if content is None:
            raise NotFound(f"{path!r} has no bytes {span} yet")
        return content

    def _kept(self, path: str, now: float) -> bytes | None:
        """The body kept for `path`, if still good; raises a failure remembered for it."""
        entry = self._entries.get(path)
        if entry is not None:
            if now < entry.expires and (
                self._validate is None or self._validate(path) == entry.tag
            ):
                self._entries.move_to_end(path)
                self._count("hit")
                return entry.body
            self._forget(path)
        failed = self._errors.get(path)
        if failed is not None:
            if now < failed[1]:
                self._count("hit")
                raise _fresh(failed[0].error)
            del self._errors[path]
        return None

    def _take_off(self, path: str, now: float) -> asyncio.Future[bytes | _Failure]:
        self._count("miss")
        flight: asyncio.Future[bytes | _Failure] = asyncio.get_running_loop().create_future()
        self._flights[path] = flight
        task = asyncio.create_task(self._fly(path, flight, now))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return flight

    async def close(self) -> None:
        """Stop the flights in progress, drop the cache and close `inner`."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._entries.clear()
        self._errors.clear()
        self.size = 0
        await self.inner.close()

    async def _fly(
        self, path: str, flight: asyncio.Future[bytes | _Failure], started: float
    ) -> None:
        # The version before the read: should the file change meanwhile, the
        # body is newer than its tag and the next request reads it again.
        tag = self._validate(path) if self._validate is not None else None
        try:
            answer: bytes | _Failure = await self.inner.fetch(path)
        except GatewayError as exc:
            answer = _Failure(exc)
        except asyncio.CancelledError:  # closing: the waiters get a 502, nothing is kept
            self._land(path, flight, _Failure(OriginUnavailable(f"{path!r}: origin closed")))
            raise
        except Exception as exc:  # a bug below: a 502 for the waiters, the cause in the log
            log.exception("origin fetch of %r failed unexpectedly", path)
            answer = _Failure(OriginUnavailable(f"origin failed for {path!r}: {exc!r}"))
        self._remember(path, answer, started, tag)
        self._land(path, flight, answer)

    def _land(
        self, path: str, flight: asyncio.Future[bytes | _Failure], answer: bytes | _Failure
    ) -> None:
        # Called right after `_remember` with no await between: a request
        # arriving now finds the cached answer or the flight, never neither.
        del self._flights[path]
        if not flight.done():
            flight.set_result(answer)

    def _remember(self, path: str, answer: bytes | _Failure, started: float, tag: object) -> None:
        # Ages count from the start of the fetch: two fetches of a playlist
        # start at least `playlist_ttl` apart.
        now = self._monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        if isinstance(answer, _Failure):
            self._count_error(answer.error)
            if self.error_ttl > 0:
                if len(self._errors) >= _MAX_ERRORS:
                    del self._errors[next(iter(self._errors))]
                self._errors[path] = (answer, now + self.error_ttl)
            return
        ttl = self.segment_ttl if is_segment(path) else self.playlist_ttl
        if ttl <= 0 or len(answer) > self.max_bytes:
            return
        if self._validate is not None and tag is None:  # version unknown: not kept
            return
        self._forget(path)
        while self.size + len(answer) > self.max_bytes:
            _, oldest = self._entries.popitem(last=False)
            self.size -= len(oldest.body)
        self._entries[path] = _Entry(answer, started + ttl, tag)
        self.size += len(answer)

    def _forget(self, path: str) -> None:
        entry = self._entries.pop(path, None)
        if entry is not None:
            self.size -= len(entry.body)

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + _SWEEP_EVERY
        for path in [p for p, e in self._entries.items() if e.expires <= now]:
            self._forget(path)
        for path in [p for p, (_, until) in self._errors.items() if until <= now]:
            del self._errors[path]

    def _count(self, result: str) -> None:
        if result == "hit":
            self.hits += 1
        elif result == "join":
            self.joins += 1
        else:
            self.misses += 1
        if self._metrics is not None:
            self._metrics.origin_cache.add(self._name, result)

    def _count_error(self, error: GatewayError) -> None:
        if self._metrics is not None:
            kind = {NotFound: "not_found", OriginTimeout: "timeout"}.get(type(error), "unavailable")
            self._metrics.origin_errors.labels(self._name, kind).inc()
            self._metrics.recent.note(f"origin {self._name} {kind}")


def is_segment(path: str) -> bool:
    """True for a media segment (`.ts`, `.m4s`, `.aac`, `.m4a`): bytes that never change.

    Playlists, init sections, keys and captions may be rewritten under the
    same name (an encoder restarting, ops fixing a caption), so they are kept
    only as long as playlists.
    """
    name = path.rpartition("/")[2].lower()
    return name.endswith(_SEGMENT_SUFFIXES)


def _fresh(error: GatewayError) -> GatewayError:
    """A copy of `error` with no traceback, to raise in one more waiter."""
    return copy.copy(error)
