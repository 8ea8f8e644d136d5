"""The live stream: dating the origin's segments and serving only what lies in the window.

How a segment gets its date, and when it gets none, is `gateway.core.dating`'s
(read it first). Here the looks are taken and the dates kept: `watch` looks at
the origin's playlists every second, with or without viewers (dating by
watching needs a recent look); each new segment's content is identified as it
is first listed (a file origin reads a few bytes at each end, an HTTP origin
fetches the segment, warming the cache for the viewers who will ask); dates go
to the store by segment key (name, byte range, content), first writer wins, so
every replica lists and refuses the same segments.

Serving a segment checks the bytes it sends: their identity must be the one a
date was given to, and that date whole inside the window. A name rewritten
with new content is refused until the new content is dated; a resource listed
in byte ranges is served only in the ranges allowed now (a `Range` request
inside them answers 206; a request that would reach any other byte is refused).

The hot path makes no store round trip in the common case: a playlist whose
bytes have not changed is served from its last cut per window; a segment's
identity is computed once per body and its date found in memory, the store
asked only about content this replica has not dated itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from gateway.audit.log import AuditLog
from gateway.core import dating, playlists
from gateway.core.clock import Clock
from gateway.core.dating import Dated
from gateway.core.errors import (
    AccessRefused,
    GatewayError,
    NotFound,
    RangeNotSatisfiable,
    StoreUnavailable,
)
from gateway.core.playlists import MediaPlaylist, MultivariantPlaylist, Range
from gateway.core.schedule import LiveWindow
from gateway.metrics import Metrics
from gateway.store import Store
from gateway.stream.cache import CachingOrigin

log = logging.getLogger(__name__)
ROOT_PLAYLIST = "index.m3u8"
SUPPORT = "live.support:"  # a name some playlist uses as init section or key
_SEEN_KEPT = 64  # playlists kept parsed and dated (variants, audio and subtitle renditions)
_SERVED_KEPT = 4  # windows kept cut per playlist (a part and its grace)
_GAP_FLOOR = 2.0  # s: the shortest gap between two looks that makes the second a first look
_READS_AT_ONCE = 16  # segments read at once to learn their content (a first look reads many)
_DEFAULT_TARGET = 6.0  # s: a playlist without EXT-X-TARGETDURATION
_COMPLAIN = dt.timedelta(minutes=1)  # an unreadable origin is logged once a minute
MEMO_BYTES = 16 * 1024 * 1024  # segment bodies each memo below may keep: about what the
# origin cache holds (60 s of segments); a body it dropped is a new object when read again,
# so the memo could not answer for it anyway


_T = TypeVar("_T")


class _BodyMemo(Generic[_T]):
    """name → what was worked out from its body, answered while asked about that same body
    (`is`: the origin cache hands out one object per version). Bodies are kept, so their
    total is bounded by `budget` bytes, the oldest forgotten first: a count alone let a
    replica keep thousands of segments (the 10-minute soak grew 101 -> 221 MB)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self._items: OrderedDict[str, tuple[bytes, _T]] = OrderedDict()

    def get(self, name: str, body: bytes) -> _T | None:
        found = self._items.get(name)
        return found[1] if found is not None and found[0] is body else None

    def put(self, name: str, body: bytes, value: _T) -> None:
        old = self._items.pop(name, None)
        if old is not None:
            self.size -= len(old[0])
        if len(body) > self.budget:
            return
        self._items[name] = (body, value)
        self.size += len(body)
        while self.size > self.budget:
            _, (gone, _) = self._items.popitem(last=False)
            self.size -= len(gone)


_BYTES = re.compile(r"bytes=([0-9]{0,100})-([0-9]{0,100})", re.IGNORECASE)  # clamped below


@dataclass
class _Seen:
    """A playlist as last looked at: its bytes, what they parse to, per segment its key
    (None: content unknown) and date, and when this replica last began a look that
    found these bytes."""

    data: bytes
    parsed: MediaPlaylist | MultivariantPlaylist
    keys: list[str | None]
    dated: list[Dated | None]
    looked_at: dt.datetime
    undated: int = 0  # segments a recent look could not date (see `_count_undated`)
    served: dict[tuple[dt.datetime, dt.datetime, bool], bytes] = field(default_factory=dict)


STALL_TARGETS = 3  # target durations without a new segment: the encoder has stalled
ORIGIN_STATES = ("ok", "stalled", "ended", "missing")


@dataclass(frozen=True)
class OriginHealth:
    """The live origin as last looked at: `state` (ORIGIN_STATES) and `age`, the seconds
    since the newest segment was first listed (None: none listed yet)."""

    state: str
    age: float | None


def origin_state(*, readable: bool, ended: bool, age: float | None, target: float) -> str:
    """`missing` (unreadable), `ended` (ENDLIST), `stalled` (no new segment for
    STALL_TARGETS target durations, or none at all) or `ok`."""
    if not readable:
        return "missing"
    if ended:
        return "ended"
    if age is None or age > STALL_TARGETS * target:
        return "stalled"
    return "ok"


@dataclass(frozen=True)
class Piece:
    """What to send of a segment: `body`, and for a 206 the `(first, last, size)` it is."""

    body: bytes
    span: tuple[int, int, int] | None = None


class LiveStream:
    """The live origin, dated and cut to a window; see the module doc.

    `known_limit` bounds the segment dates kept in memory (the one learnt
    longest ago forgotten first; a forgotten one is read from the store again);
    `memo_bytes` the segment bodies kept to answer the next viewer of the same bytes.
    An undated segment is counted in `metrics` and audited once per part.
    """

    def __init__(
        self,
        origin: CachingOrigin,
        store: Store,
        clock: Clock,
        *,
        known_limit: int = 100_000,
        memo_bytes: int = MEMO_BYTES,
        metrics: Metrics | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.origin = origin
        self.store = store
        self.clock = clock
        self.known_limit = known_limit
        self.metrics = metrics
        self.audit = audit
        self._known: OrderedDict[str, Dated] = OrderedDict()
        self._first_seen: OrderedDict[str, dating.Sighting] = OrderedDict()
        self._listed: OrderedDict[str, set[Range | None]] = OrderedDict()  # name → its spans
        self._support: dict[str, list[Range] | None] = {}
        self._identities = _BodyMemo[str](memo_bytes)  # name → its body's identity
        # name → ((window, spans listed), allowed spans): the last answer for its body
        self._decided = _BodyMemo[tuple[tuple[LiveWindow, int], list[Range]]](memo_bytes)
        self._undated: set[str] = set()  # segments counted as undated
        self._suspect: set[str] = set()  # names served with content that was never dated
        self._undated_parts: set[tuple[str, dt.datetime]] = set()  # parts audited
        self._seen: OrderedDict[str, _Seen] = OrderedDict()
        self._dating = asyncio.Lock()
        self.health: tuple[bool, dt.datetime | None, str] = (False, None, "not polled yet")
        self._complained: dt.datetime | None = None  # when "not readable" was last logged
        # media playlist → (its last entry, when first listed last, ended, target duration)
        self._edges: dict[str, tuple[tuple[object, ...] | None, dt.datetime, bool, float]] = {}
        self._reported: str = "ok"  # the state last audited (an episode is open unless ok)
        # Whether a streamed part runs at that moment (set by the app): health is judged then.
        self.streaming: Callable[[dt.datetime], Awaitable[bool]] | None = None

    @property
    def memo_bytes(self) -> int:
        """Bytes of segment bodies the memos hold (a body in both counted twice)."""
        return self._identities.size + self._decided.size

    async def playlist(self, path: str, window: LiveWindow) -> bytes:
        """The origin playlist at `path`, listing only segments dated whole inside `window`."""
        seen = await self._fetch(path)
        key = (window.start, window.end, window.ended)
        served = seen.served.get(key)
        if served is None:
            if isinstance(seen.parsed, MultivariantPlaylist):
                served = seen.parsed.text.encode()
            else:
                fits = dating.fits(seen.dated, window.start, window.end)
                served = playlists.filter_window(seen.parsed, fits, ended=window.ended).encode()
                if seen.undated:
                    await self._audit_undated(window)
            if len(seen.served) >= _SERVED_KEPT:
                seen.served.clear()
            seen.served[key] = served
        return served

    async def segment(self, path: str, window: LiveWindow, ranged: str | None = None) -> Piece:
        """The segment's bytes (or the `ranged` part of them), if `window` allows them all."""
        body, wanted = await self._checked(path, window, ranged)
        if wanted is None:
            return Piece(body)
        first, last = wanted
        return Piece(body[first : last + 1], (first, last, len(body)))

    async def check_segment(self, path: str, window: LiveWindow, ranged: str | None = None) -> None:
        """Refuse what `segment` would refuse (nginx then sends the bytes itself)."""
        await self._checked(path, window, ranged)

    def decided(self, path: str, window: LiveWindow, ranged: str | None = None) -> bool:
        """Whether memory alone shows that `check_segment` would let this pass: the body
        the origin cache holds now, decided for this window and these listed spans
        (`_allowed`'s memo), allowing every byte asked. A plain call, no coroutine, no
        store, no origin read; False when memory cannot tell (`check_segment` decides)."""
        spans = self._listed.get(path)
        support = self._support.get(path, False)
        if path not in self._support and spans is None:
            return False  # a name this replica has not seen listed: the store is asked
        body = self.origin.peek(path)
        if body is None:
            return False
        if support is None:  # an init section or key: no programme
            allowed = [(0, len(body))]
        else:
            remembered = self._remembered(path, body, window, spans)
            if remembered is None:
                return False
            allowed = remembered
        try:
            first, last = _wanted(ranged, len(body))
        except RangeNotSatisfiable:
            return False
        return _covered(allowed, first, last)

    async def _checked(
        self, path: str, window: LiveWindow, ranged: str | None
    ) -> tuple[bytes, tuple[int, int] | None]:
        """The resource's bytes and the (first, last) byte `ranged` asks for (None: all),
        once `window` is found to allow every one of them; else the refusal."""
        body, allowed, dated = await self._allowed(path, window)
        first, last = _wanted(ranged, len(body))
        if not _covered(allowed, first, last):
            raise await self._refusal(path, window, dated)
        return body, None if ranged is None else (first, last)

    async def observe(self) -> int:
        """Look at the root playlist (and its variants) once; how many segments they list."""
        root = await self._fetch(ROOT_PLAYLIST)
        names = root.parsed.variants if isinstance(root.parsed, MultivariantPlaylist) else ()
        media = [await self._fetch(name) for name in names] if names else [root]
        return sum(len(seen.dated) for seen in media if isinstance(seen.parsed, MediaPlaylist))

    def listed(self) -> list[tuple[str, MediaPlaylist, list[Dated | None]]]:
        """The media playlists as last looked at (the root's, or its variants'), each with
        its path and its segments' dates: what the archive copies from."""
        root = self._seen.get(ROOT_PLAYLIST)
        if root is None:
            return []
        names = root.parsed.variants if isinstance(root.parsed, MultivariantPlaylist) else ()
        found = [(name, self._seen.get(name)) for name in names] if names else [("", root)]
        return [
            (name or ROOT_PLAYLIST, seen.parsed, seen.dated)
            for name, seen in found
            if seen is not None and isinstance(seen.parsed, MediaPlaylist)
        ]

    def root_text(self) -> bytes | None:
        """The root playlist's bytes as last looked at, if it names variants."""
        root = self._seen.get(ROOT_PLAYLIST)
        if root is None or not isinstance(root.parsed, MultivariantPlaylist):
            return None
        return root.data

    async def watch(self, interval: float) -> None:
        """`look` every `interval` s until cancelled."""
        while True:
            await self.look()
            await asyncio.sleep(interval)

    async def look(self) -> OriginHealth:
        """Observe the origin once and judge its health: metrics always; while a streamed
        part runs, a change to a bad state is audited (`origin.stalled`, once per state and
        newest segment across replicas) and logged, and the way back (`origin.recovered`)."""
        try:
            count = await self.observe()
            self.health = (True, self.clock(), f"{count} segments listed")
        except GatewayError as exc:
            now = self.clock()
            said = self._complained
            if self.health[1] is None:  # the first look: an encoder starting has not written
                log.info("live origin not there yet (%s): waiting for the encoder", exc)
                self._complained = now  # a warning follows if it stays so
            elif self.health[0] or said is None or now - said > _COMPLAIN:
                log.warning("live origin not readable (%s): %s", type(exc).__name__, exc)
                self._complained = now
            self.health = (False, now, f"{type(exc).__name__}: {exc}")
        now = self.clock()
        health = self.origin_health(now)
        if self.metrics is not None:
            self.metrics.origin_age.set(health.age if health.age is not None else float("nan"))
            for state in ORIGIN_STATES:
                self.metrics.origin_state.labels(state).set(1 if state == health.state else 0)
        try:
            watched = self.streaming is not None and await self.streaming(now)
            if watched and health.state != self._reported:
                await self._report(health, now)
            elif not watched:
                self._reported = "ok"  # a new part starts a new episode
        except StoreUnavailable:
            pass  # judged again at the next look; the watcher never stops
        return health

    def origin_health(self, now: dt.datetime) -> OriginHealth:
        """The origin's state at `now` from the last looks (see `origin_state`)."""
        edges = list(self._edges.values())
        newest = max((since for last, since, _, _ in edges if last is not None), default=None)
        age = (now - newest).total_seconds() if newest is not None else None
        state = origin_state(
            readable=self.health[0],
            ended=bool(edges) and all(ended for _, _, ended, _ in edges),
            age=age,
            target=max((target for *_, target in edges), default=_DEFAULT_TARGET),
        )
        return OriginHealth(state, age)

    async def _report(self, health: OriginHealth, now: dt.datetime) -> None:
        previous, self._reported = self._reported, health.state
        newest = max(self._edges.values(), key=lambda edge: edge[1], default=None)
        where = repr(newest[0]) if newest is not None else f"none {now:%Y-%m-%d %H}"
        age = round(health.age, 1) if health.age is not None else None
        fields: dict[str, object]
        if health.state == "ok":
            log.info("live origin recovered (was %s)", previous)
            kind, fields = "origin.recovered", {"was": previous}
        else:
            said = f"newest segment {age} s old" if age is not None else "no segment yet"
            log.warning("live origin %s while a streamed part runs: %s", health.state, said)
            kind, fields = "origin.stalled", {"state": health.state, "age": age}
        if self.audit is not None:
            key = f"{kind}:{health.state}:{hashlib.sha256(where.encode()).hexdigest()[:16]}"
            await self.audit.record_once(key, kind, **fields)

    # Looking at playlists

    async def _fetch(self, path: str) -> _Seen:
        """The playlist at `path`, parsed and dated again only when its bytes changed.

        A look is timed twice: `started` before the read (nothing it lacks was listed
        then: the next look's lower bound) and `now` after it (whatever it lists was
        listed by then: the upper bound).
        """
        started = self.clock()
        data = await self.origin.fetch(path)
        now = self.clock()
        seen = self._seen.get(path)
        if seen is not None and (seen.data is data or seen.data == data):
            seen.looked_at = max(seen.looked_at, started)  # nothing new up to then
            self._seen.move_to_end(path)
            return seen
        async with self._dating:  # one request dates a new version; the others reuse it
            seen = self._seen.get(path)
            if seen is not None and (seen.data is data or seen.data == data):
                return seen
            parsed = playlists.parse(data, path)
            if isinstance(parsed, MediaPlaylist):
                self._note_edge(path, parsed, now)
                previous = seen.looked_at if seen is not None else None
                if previous is not None and not now - _gap(parsed) <= previous <= now:
                    previous = None  # too long unwatched (or the clock went back): a first look
                keys, dated = await self._date(parsed, path, seen, previous, now)
                warm = previous is not None
                undated = self._count_undated(parsed, keys, dated) if warm else 0
            else:
                keys, dated, undated = [], [], 0
            fresh = _Seen(data, parsed, keys, dated, started, undated)
            self._seen[path] = fresh
            self._seen.move_to_end(path)
            while len(self._seen) > _SEEN_KEPT:
                self._seen.popitem(last=False)
            return fresh

    def _note_edge(self, path: str, playlist: MediaPlaylist, now: dt.datetime) -> None:
        """Remember when `path`'s last entry was first listed (its age tells a stall)."""
        last = _entry(playlist.segments[-1]) if playlist.segments else None
        known = self._edges.get(path)
        since = known[1] if known is not None and known[0] == last else now
        target = float(playlist.target_duration or _DEFAULT_TARGET)
        self._edges[path] = (last, since, playlist.ended, target)

    async def _date(
        self,
        playlist: MediaPlaylist,
        path: str,
        before: _Seen | None,
        previous: dt.datetime | None,
        now: dt.datetime,
    ) -> tuple[list[str | None], list[Dated | None]]:
        """Per segment of a new version of `path`: its key and date (see `dating.date`);
        `previous` the look before this one, if recent enough to count."""
        await self._note_listed(playlist, path)
        segments = playlist.segments
        keys = await self._keys(playlist, before)
        for key in keys:
            if key is not None and key not in self._first_seen:
                self._first_seen[key] = dating.Sighting(now, previous)
            elif key is not None:
                self._first_seen.move_to_end(key)
        while len(self._first_seen) > self.known_limit:
            self._first_seen.popitem(last=False)
        known = await self._dates_of(keys)
        unread = dating.Sighting(now)  # content unknown: never dated, whatever is said
        dated = dating.date(
            segments,
            [known.get(k) if k is not None else None for k in keys],
            [self._first_seen.get(k, unread) if k is not None else unread for k in keys],
            dating.Look(now, previous, staleness=self._staleness()),
        )
        new = {k: d for k, d in zip(keys, dated, strict=True) if k and d and k not in known}
        if new:
            stored = await self.store.date_segments(new)
            self._learn(stored)
            dated = [stored.get(k, d) if k else d for k, d in zip(keys, dated, strict=True)]
        return keys, [d if k is not None else None for k, d in zip(keys, dated, strict=True)]

    async def _keys(self, playlist: MediaPlaylist, before: _Seen | None) -> list[str | None]:
        """Each segment's key: kept from the version before for an entry it listed alike
        (same sequence, name, range and duration) unless the playlist went backwards (an
        encoder restarting), else read from the origin; the last `BACKFILL` only."""
        reuse: dict[tuple[object, ...], str] = {}
        if before is not None and isinstance(before.parsed, MediaPlaylist):
            old = before.parsed
            backwards = playlist.media_sequence < old.media_sequence or (
                old.segments
                and playlist.segments
                and playlist.segments[-1].sequence < old.segments[-1].sequence
            )
            if not backwards:
                reuse = {
                    _entry(s): k
                    for s, k in zip(old.segments, before.keys, strict=True)
                    if k and s.name not in self._suspect
                }
        newest = len(playlist.segments) - dating.BACKFILL
        segments = playlist.segments
        keys = [reuse.get(_entry(s)) for s in segments]
        unknown = [
            i
            for i, s in enumerate(segments)
            if keys[i] is None and s.name is not None and i >= newest
        ]
        reading = asyncio.Semaphore(_READS_AT_ONCE)

        async def identify(segment: playlists.Segment) -> str | None:
            assert segment.name is not None
            async with reading:
                try:
                    content = await self.origin.identify(segment.name, segment.byterange)
                except GatewayError:
                    return None  # not readable yet: undated, read again next version
            self._suspect.discard(segment.name)
            return dating.segment_key(segment.name, segment.byterange, content)

        found = await asyncio.gather(*(identify(segments[i]) for i in unknown))
        for i, key in zip(unknown, found, strict=True):
            keys[i] = key
        return keys

    async def _note_listed(self, playlist: MediaPlaylist, path: str) -> None:
        """Remember which names the playlist lists as segments, in which spans, and which
        as init sections or keys (those in the store too: no content of theirs is dated)."""
        for name, spans in playlists.support_names(playlist, path).items():
            if name not in self._support:
                await self.store.set_value(SUPPORT + name, "1")
            self._support[name] = spans
        for segment in playlist.segments:
            if segment.name is None:
                continue
            listed = self._listed.get(segment.name)
            if listed is None:
                listed = self._listed[segment.name] = set()
                while len(self._listed) > self.known_limit:
                    self._listed.popitem(last=False)
            listed.add(segment.byterange)

    async def _dates_of(self, keys: Sequence[str | None]) -> dict[str, Dated]:
        """The dates known for `keys`: from memory, the rest from the store."""
        found = {k: d for k in keys if k is not None and (d := self._known.get(k)) is not None}
        missing = [k for k in keys if k is not None and k not in found]
        if missing:
            stored = await self.store.segment_dates(missing)
            self._learn(stored)
            found.update(stored)
        return found

    def _learn(self, dates: dict[str, Dated]) -> None:
        for key, when in dates.items():
            self._known[key] = when
            self._known.move_to_end(key)
        while len(self._known) > self.known_limit:
            self._known.popitem(last=False)

    def _staleness(self) -> float:
        """How old a playlist's bytes may be when read: an HTTP origin's are kept up to
        `playlist_ttl`; a file origin's are checked against the file on every read."""
        return 0.0 if self.origin.validates else self.origin.playlist_ttl

    # Serving segments

    async def _allowed(self, path: str, window: LiveWindow) -> tuple[bytes, list[Range], bool]:
        """The resource's bytes, the spans of them `window` allows, as [start, end), and
        whether any of its listed spans is dated at all."""
        spans = self._listed.get(path)
        support = await self._support_of(path, asked=spans is None)
        # A name this replica has not seen listed may have been dated by another: the
        # store is asked about its content (and a name never listed has no date).
        body = await self.origin.fetch(path)
        if support is None:
            return body, [(0, len(body))], True  # an init section or key: no programme
        remembered = self._remembered(path, body, window, spans)
        if remembered is not None:
            return body, remembered, True  # the same bytes, window and spans: the same answer
        spans = spans or {None}
        init = support if isinstance(support, list) else []
        allowed = [(o, o + n) for o, n in init]
        dates = [await self._date_of(path, span, body) for span in spans]
        for span, dated in zip(spans, dates, strict=True):
            if dated is not None and dated.inside(window.start, window.end):
                allowed.append((0, len(body)) if span is None else (span[0], span[0] + span[1]))
        merged = _merged(allowed)
        if None not in dates:  # a date may still come for an undated span: asked again
            self._decided.put(path, body, (_decision_key(window, spans), merged))
        return body, merged, any(dated is not None and dated.known for dated in dates)

    def _remembered(
        self, path: str, body: bytes, window: LiveWindow, spans: set[Range | None] | None
    ) -> list[Range] | None:
        """The allowed spans `_allowed` kept for these bytes, this window and these listed
        spans (None: not kept), for `_allowed` itself and for `decided`."""
        kept = self._decided.get(path, body)
        if kept is None or kept[0] != _decision_key(window, spans):
            return None
        return kept[1]

    async def _support_of(self, path: str, *, asked: bool) -> list[Range] | None | bool:
        """A MAP or KEY resource's init ranges (None: the whole of it), False if it is none;
        the store `asked` only about a name this replica does not know."""
        if path in self._support:
            return self._support[path]
        if asked and await self.store.get_value(SUPPORT + path) is not None:
            self._support[path] = None
            return None
        return False

    async def _date_of(self, path: str, span: Range | None, body: bytes) -> Dated | None:
        """The date of the content `body` holds at `span`: memory, else the store."""
        if span is None:
            memo = self._identities.get(path, body)
            if memo is not None:
                content = memo
            else:
                content = dating.identity(body)
                self._identities.put(path, body, content)
        else:
            found = dating.identity_of_span(body, span)
            if found is None:
                return None
            content = found
        key = dating.segment_key(path, span, content)
        return (await self._dates_of([key])).get(key)

    async def _refusal(self, path: str, window: LiveWindow, dated: bool) -> GatewayError:
        """Why a segment's bytes are refused: dated outside the window, or its content
        undated. New content under a listed name makes the next look read every listed
        name again."""
        if dated:
            return AccessRefused("outside_window", part=window.part)
        if path not in self._listed:
            return NotFound()  # never listed, as far as this replica and the store know
        if path not in self._suspect:
            self._suspect.add(path)
            for seen in self._seen.values():
                seen.data = b""  # dated again at the next look, by content
        await self._audit_undated(window)
        return AccessRefused("segment_undated", part=window.part)

    # Undated segments: counted once each, audited once per part

    def _count_undated(
        self, playlist: MediaPlaylist, keys: list[str | None], dated: list[Dated | None]
    ) -> int:
        """Count (once each) the recent segments a warm look left undated; how many there are."""
        recent = zip(playlist.segments, keys, dated, strict=True)
        undated = [
            key or f"{s.name}@unread"
            for i, (s, key, d) in enumerate(recent)
            if s.name is not None
            and (d is None or not d.known)
            and i >= len(keys) - dating.BACKFILL
        ]
        fresh = [k for k in undated if k not in self._undated]
        if fresh and self.metrics is not None:
            self.metrics.segments_undated.inc(len(fresh))
        if len(self._undated) > self.known_limit:
            self._undated.clear()
        self._undated.update(fresh)
        return len(undated)

    async def _audit_undated(self, window: LiveWindow) -> None:
        if self.audit is None or (window.part, window.start) in self._undated_parts:
            return
        self._undated_parts.add((window.part, window.start))
        key = f"segment_undated:{window.part}:{window.start.isoformat()}"
        await self.audit.record_once(
            key, "access.refused", reason="segment_undated", part=window.part
        )


def _gap(playlist: MediaPlaylist) -> dt.timedelta:
    """The longest time between two looks for the second to bound what appeared since."""
    return dt.timedelta(seconds=max(_GAP_FLOOR, 2.0 * (playlist.target_duration or 0)))


def _entry(segment: playlists.Segment) -> tuple[object, ...]:
    return (segment.sequence, segment.name, segment.byterange, segment.duration)


def _merged(spans: list[Range]) -> list[Range]:
    """[start, end) spans joined where they touch or overlap, in order."""
    merged: list[Range] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _decision_key(window: LiveWindow, spans: set[Range | None] | None) -> tuple[LiveWindow, int]:
    """What a kept decision on a segment's bytes holds for: the window and how many spans
    of the name are listed (a name listed without spans counts as one, the whole)."""
    return window, len(spans or (None,))


def _wanted(ranged: str | None, size: int) -> tuple[int, int]:
    """The first and last byte asked for: all of them without a `Range` header."""
    return (0, size - 1) if ranged is None else _requested(ranged, size)


def _covered(allowed: list[Range], first: int, last: int) -> bool:
    """Whether one allowed [start, end) span holds every byte from `first` to `last` (the
    spans are merged: bytes allowed in a row are one span)."""
    return any(a <= first and last < b for a, b in allowed)


def _requested(header: str, size: int) -> tuple[int, int]:
    """The first and last byte a `Range` header asks for (RFC 9110 14.1.2).
    RangeNotSatisfiable for a malformed one, several ranges, or one that starts
    past the end."""
    found = _BYTES.fullmatch(header.strip())
    if found is None or found.group(1) == found.group(2) == "":
        return _unsatisfiable(header, size)
    first, last = found.groups()
    if first == "":  # the last N bytes
        if not int(last) or not size:
            return _unsatisfiable(header, size)
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return _unsatisfiable(header, size)
    return start, end


def _unsatisfiable(header: str, size: int) -> tuple[int, int]:
    raise RangeNotSatisfiable(header[:60], size)
