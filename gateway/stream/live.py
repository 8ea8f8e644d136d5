"""The live stream: dating the origin's segments and serving only the allowed window.

Every segment gets one date, shared through the store so that every replica
lists and refuses the same segments: its `#EXT-X-PROGRAM-DATE-TIME` when the
origin sends one, otherwise the moment a replica first saw it listed (first
writer wins). So that those first-seen dates are true, `watch` polls the
origin's playlists all day, with or without viewers.

The hot path makes no store round trip in the common case: a playlist whose
bytes have not changed is served from its last parse (and its last cut per
window); a changed one writes only the dates this replica did not know; and a
segment's date is looked up in memory, the store asked only about names this
replica has never seen listed (another replica may have). A stored first-seen
date never changes; a PDT date changes only with the origin's playlist, which
every replica's `watch` reads each second.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import OrderedDict
from dataclasses import dataclass, field

from gateway.core import playlists
from gateway.core.clock import Clock
from gateway.core.errors import AccessRefused, GatewayError, NotFound
from gateway.core.schedule import LiveWindow
from gateway.store import Store
from gateway.stream.cache import Arriving, CachingOrigin

log = logging.getLogger(__name__)
ROOT_PLAYLIST = "index.m3u8"
SUPPORT = "live.support:"
_SEEN_KEPT = 64  # playlists kept parsed and dated (variants, audio and subtitle renditions)
_SERVED_KEPT = 4  # windows kept cut per playlist (a part and its grace)


@dataclass
class _Seen:
    """A playlist as last fetched: its bytes, what they parse to, and the dates they list."""

    data: bytes
    parsed: playlists.MediaPlaylist | playlists.MultivariantPlaylist
    dated: dict[str, dt.datetime]
    served: dict[tuple[dt.datetime, dt.datetime, bool], bytes] = field(default_factory=dict)


class LiveStream:
    """The live origin, dated and cut to a window; see the module doc.

    `known_limit` bounds the names whose dates are kept in memory (the one
    learnt longest ago forgotten first; a forgotten name is read from the store
    again).
    """

    def __init__(
        self, origin: CachingOrigin, store: Store, clock: Clock, *, known_limit: int = 100_000
    ) -> None:
        self.origin = origin
        self.store = store
        self.clock = clock
        self.known_limit = known_limit
        self._known: OrderedDict[str, dt.datetime] = OrderedDict()
        self._support_known: set[str] = set()
        self._seen: OrderedDict[str, _Seen] = OrderedDict()
        self._dating = asyncio.Lock()
        self.health: tuple[bool, dt.datetime | None, str] = (False, None, "not polled yet")

    async def playlist(self, path: str, window: LiveWindow) -> bytes:
        """The origin playlist at `path`, listing only segments dated inside `window`."""
        seen = await self._fetch(path)
        key = (window.start, window.end, window.ended)
        served = seen.served.get(key)
        if served is None:
            if isinstance(seen.parsed, playlists.MultivariantPlaylist):
                served = seen.parsed.text.encode()
            else:
                text = playlists.filter_window(
                    seen.parsed, seen.dated, window.start, window.end, ended=window.ended
                )
                served = text.encode()
            if len(seen.served) >= _SERVED_KEPT:
                seen.served.clear()
            seen.served[key] = served
        return served

    async def segment(self, path: str, window: LiveWindow) -> bytes | Arriving:
        """The segment's bytes, if `check_segment` lets it through: whole from memory, or
        still arriving from the origin (see `CachingOrigin.open`)."""
        await self.check_segment(path, window)
        return await self.origin.open(path)

    async def check_segment(self, path: str, window: LiveWindow) -> None:
        """Refuse a segment a playlist served now would not list, even asked for by name.

        A segment no playlist ever listed is NotFound; one dated outside the
        window is refused with AccessRefused. Dates this replica has seen
        listed or read are answered from memory; others from the store
        (another replica may have listed the segment first).
        """
        when = self._known.get(path)
        if when is None and path not in self._support_known:
            when = (await self.store.segment_dates([path])).get(path)
            if when is not None:
                self._learn({path: when})
            elif await self.store.get_value(SUPPORT + path) is not None:
                self._support_known.add(path)
        if when is None:
            # An init section or key (EXT-X-MAP/KEY) holds no programme: it is
            # served whenever a window is open, as the caller has checked.
            if path in self._support_known:
                return
            raise NotFound()
        if not window.holds(when):
            raise AccessRefused("outside_window", part=window.part)

    async def observe(self) -> int:
        """Fetch the root playlist (and its variants) once and date what they list."""
        root = await self._fetch(ROOT_PLAYLIST)
        names = (
            root.parsed.variants if isinstance(root.parsed, playlists.MultivariantPlaylist) else ()
        )
        media = [await self._fetch(name) for name in names] if names else [root]
        return sum(
            len(seen.dated) for seen in media if isinstance(seen.parsed, playlists.MediaPlaylist)
        )

    async def watch(self, interval: float) -> None:
        """Observe the origin every `interval` s until cancelled; complain once a minute."""
        last_complaint: dt.datetime | None = None
        while True:
            try:
                count = await self.observe()
                self.health = (True, self.clock(), f"{count} segments listed")
            except GatewayError as exc:
                now = self.clock()
                self.health = (False, now, f"{type(exc).__name__}: {exc}")
                if last_complaint is None or now - last_complaint > dt.timedelta(minutes=1):
                    log.warning("live origin not readable (%s): %s", type(exc).__name__, exc)
                    last_complaint = now
            await asyncio.sleep(interval)

    async def _fetch(self, path: str) -> _Seen:
        """The playlist at `path`, parsed and dated again only when its bytes changed."""
        data = await self.origin.fetch(path)
        seen = self._seen.get(path)
        if seen is not None and (seen.data is data or seen.data == data):
            self._seen.move_to_end(path)
            return seen
        async with self._dating:  # one request dates a new version; the others reuse it
            seen = self._seen.get(path)
            if seen is not None and (seen.data is data or seen.data == data):
                return seen
            parsed = playlists.parse(data, path)
            dated: dict[str, dt.datetime] = {}
            if isinstance(parsed, playlists.MediaPlaylist):
                dated = await self._date(parsed, path)
            seen = _Seen(data, parsed, dated)
            self._seen[path] = seen
            self._seen.move_to_end(path)
            while len(self._seen) > _SEEN_KEPT:
                self._seen.popitem(last=False)
            return seen

    async def _date(self, playlist: playlists.MediaPlaylist, path: str) -> dict[str, dt.datetime]:
        """Name → date of what `playlist` lists, writing to the store only what it lacks.

        A PDT playlist's dates are the playlist's: the store is told those that
        differ from what this replica knows. Otherwise a name's date is the
        moment a replica first saw it listed, first writer wins: the store is
        asked only about names this replica does not know (their dates never
        change once stored).
        """
        for name in playlists.support_names(playlist, path) - self._support_known:
            await self.store.set_value(SUPPORT + name, "1")
            self._support_known.add(name)
        if playlist.has_dates:
            dates = playlists.dates(playlist)
            changed = {n: d for n, d in dates.items() if self._known.get(n) != d}
            if changed:
                self._learn(await self.store.date_segments(changed, overwrite=True))
            return dates
        names = [s.name for s in playlist.segments if s.name is not None]
        dated = {n: d for n in names if (d := self._known.get(n)) is not None}
        now = self.clock()
        new = {n: now for n in names if n not in dated}
        if new:
            stored = await self.store.date_segments(new, overwrite=False)
            self._learn(stored)
            dated.update(stored)
        return dated

    def _learn(self, dates: dict[str, dt.datetime]) -> None:
        for name, when in dates.items():
            self._known[name] = when
            self._known.move_to_end(name)
        while len(self._known) > self.known_limit:
            self._known.popitem(last=False)
