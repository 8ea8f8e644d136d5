"""The live stream: dating the origin's segments and serving only the allowed window.

Every segment gets one date, shared through the store so that every replica
lists and refuses the same segments: its `#EXT-X-PROGRAM-DATE-TIME` when the
origin sends one, otherwise the moment a replica first saw it listed (first
writer wins). So that those first-seen dates are true, `watch` polls the
origin's playlists all day, with or without viewers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from gateway import playlists
from gateway.clock import Clock
from gateway.errors import AccessRefused, GatewayError, NotFound
from gateway.origins import Origin
from gateway.schedule import LiveWindow
from gateway.store import Store

log = logging.getLogger(__name__)
ROOT_PLAYLIST = "index.m3u8"
SUPPORT = "live.support:"


class LiveStream:
    def __init__(self, origin: Origin, store: Store, clock: Clock) -> None:
        self.origin = origin
        self.store = store
        self.clock = clock
        self._support_known: set[str] = set()
        self.health: tuple[bool, dt.datetime | None, str] = (False, None, "not polled yet")

    async def playlist(self, path: str, window: LiveWindow) -> bytes:
        """The origin playlist at `path`, listing only segments dated inside `window`."""
        parsed = playlists.parse(await self.origin.fetch(path), path)
        if isinstance(parsed, playlists.MultivariantPlaylist):
            return parsed.text.encode()
        dated = await self._date(parsed, path)
        text = playlists.filter_window(parsed, dated, window.start, window.end, ended=window.ended)
        return text.encode()

    async def segment(self, path: str, window: LiveWindow) -> bytes:
        """The segment's bytes, if `check_segment` lets it through."""
        await self.check_segment(path, window)
        return await self.origin.fetch(path)

    async def check_segment(self, path: str, window: LiveWindow) -> None:
        """Refuse a segment a playlist served now would not list, even asked for by name.

        A segment no playlist ever listed is NotFound; one dated outside the
        window is refused with AccessRefused.
        """
        when = (await self.store.segment_dates([path])).get(path)
        if when is None:
            # An init section or key (EXT-X-MAP/KEY) holds no programme: it is
            # served whenever a window is open, as the caller has checked.
            if await self.store.get_value(SUPPORT + path) is not None:
                return
            raise NotFound()
        if not window.holds(when):
            raise AccessRefused("outside_window", part=window.part)

    async def observe(self) -> int:
        """Fetch the root playlist (and its variants) once and date what they list."""
        root = playlists.parse(await self.origin.fetch(ROOT_PLAYLIST), ROOT_PLAYLIST)
        names = root.variants if isinstance(root, playlists.MultivariantPlaylist) else ()
        media = (
            {ROOT_PLAYLIST: root}
            if not names
            else {name: playlists.parse(await self.origin.fetch(name), name) for name in names}
        )
        count = 0
        for name, item in media.items():
            if isinstance(item, playlists.MediaPlaylist):
                count += len(await self._date(item, name))
        return count

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

    async def _date(self, playlist: playlists.MediaPlaylist, path: str) -> dict[str, dt.datetime]:
        for name in playlists.support_names(playlist, path) - self._support_known:
            await self.store.set_value(SUPPORT + name, "1")
            self._support_known.add(name)
        if playlist.has_dates:
            return await self.store.date_segments(playlists.dates(playlist), overwrite=True)
        now = self.clock()
        names = {s.name: now for s in playlist.segments if s.name is not None}
        return await self.store.date_segments(names, overwrite=False)
