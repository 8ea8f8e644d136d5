"""Captions on the recording: finding them at the origin, validating them, and their deadline.

Finland's Act on the Provision of Digital Services (306/2019) exempts a live
broadcast, but a recording left available must meet WCAG 2.1 AA, captions
included, within 14 days of its publication. The gateway tells ops whether the
recording carries captions and, while it does not, by when it must
(`captions_status`, pure); it finds them at the recording origin
(`find_captions`): either the WebVTT file `recording.captions` names, or a
subtitles rendition of a multivariant `index.m3u8`
(`#EXT-X-MEDIA:TYPE=SUBTITLES,...,URI="subs/en.m3u8"`). Every caption file is
parsed with webvtt-py, strictly: a malformed one is refused at start and never
served (`CheckedOrigin`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from gateway.audit.log import AuditLog
from gateway.core.clock import Clock
from gateway.core.errors import (
    GatewayError,
    NotFound,
    OriginTimeout,
    OriginUnavailable,
    StoreUnavailable,
)
from gateway.core.playlists import MediaPlaylist, MultivariantPlaylist, parse, resolve
from gateway.core.times import in_zone, iso
from gateway.stream.origins import Origin

log = logging.getLogger(__name__)

INDEX = "index.m3u8"
DEFAULT_DAYS = 14
# The language of a caption file named by `recording.captions`: this seminar's is English.
CONFIGURED_LANGUAGE = ("en", "English")
_MEDIA = re.compile(r"#EXT-X-MEDIA:(.*)")
_ATTRIBUTE = re.compile(r'\s*([A-Z0-9-]+)=("[^"]*"|[^",]*)\s*(?:,|$)')
_CONCURRENT_FETCHES = 8


class MalformedCaptions(GatewayError):
    """A caption file that is not valid WebVTT (refused at start, never served)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path} is not valid WebVTT: {self.reason}"


def check_vtt(data: bytes, path: str, *, need_cues: bool = True) -> int:
    """The number of cues in the WebVTT file `data`; MalformedCaptions when it is not valid.

    Strict: UTF-8, the `WEBVTT` signature, well-formed cue blocks and
    timings, every cue ending after it starts, cues in start-time order. A
    segment of a subtitles rendition may have no cue (`need_cues=False`); a
    whole caption file must have one.
    """
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise MalformedCaptions(path, "not UTF-8 text") from None
    if "\x00" in text:
        raise MalformedCaptions(path, "not text (NUL)")
    try:
        parsed = webvtt.from_string(text, strict=True)
    except MalformedFileError:
        raise MalformedCaptions(path, "it does not start with the WEBVTT signature") from None
    except MalformedCaptionError as exc:
        raise MalformedCaptions(path, f"a malformed cue ({exc})") from None
    previous: tuple[int, int, int, int] | None = None
    for number, cue in enumerate(parsed.captions, start=1):
        start, end = cue.start_time.to_tuple(), cue.end_time.to_tuple()
        if end <= start:
            raise MalformedCaptions(
                path, f"cue {number} ({cue.start} --> {cue.end}) does not end after it starts"
            )
        if previous is not None and start < previous:
            raise MalformedCaptions(
                path, f"cue {number} ({cue.start}) starts before the cue above it"
            )
        previous = start
    if need_cues and not parsed.captions:
        raise MalformedCaptions(path, "it has no cues")
    return len(parsed.captions)


@dataclass(frozen=True)
class Track:
    """One caption track: its origin-relative file or playlist, language tag and label."""

    path: str
    language: str
    label: str


@dataclass(frozen=True)
class Found:
    """What the recording origin holds. `note` says why captions are not present, if not."""

    present: bool
    tracks: tuple[Track, ...] = ()
    note: str = ""
    configured: str | None = None  # the `recording.captions` file, served as a <track>

    def describe(self) -> str:
        if self.present:
            return ", ".join(f"{t.path} ({t.label})" for t in self.tracks)
        return self.note


@dataclass(frozen=True)
class CaptionsStatus:
    """Captions present or not, and the instant they are due (`available_from` + days)."""

    present: bool
    due: dt.datetime
    days: int
    overdue: bool

    def line(self, tz: ZoneInfo, found: Found | None = None) -> str:
        """One line for ops (`gateway schedule`, the startup log, the dashboard)."""
        due = in_zone(self.due, tz)
        if self.present:
            where = f": {found.describe()}" if found and found.tracks else ""
            return f"Captions: present on the recording{where}."
        why = f" ({found.note})" if found and found.note else ""
        if self.overdue:
            return (
                f"Captions: OVERDUE: the recording has none{why}; they were due by {due}, "
                f"{self.days} days after it opened. Add them now: the law requires them "
                "on a recording left available."
            )
        return (
            f"Captions: missing on the recording{why}; due by {due} "
            f"({self.days} days after it opens)."
        )


def captions_status(
    now: dt.datetime, available_from: dt.datetime, days: int, present: bool
) -> CaptionsStatus:
    """Whether captions are overdue at `now`: missing from `available_from + days` on."""
    due = available_from + dt.timedelta(days=days)
    return CaptionsStatus(present, due, days, overdue=not present and now >= due)


def subtitle_renditions(index: MultivariantPlaylist, path: str = INDEX) -> list[Track]:
    """The `#EXT-X-MEDIA:TYPE=SUBTITLES` renditions of a multivariant playlist that name a URI."""
    tracks: list[Track] = []
    for line in index.text.splitlines():
        found = _MEDIA.fullmatch(line.strip())
        if not found:
            continue
        attributes = {
            m[1]: m[2].strip('"') for m in _ATTRIBUTE.finditer(found[1]) if m[1] and m[0].strip()
        }
        if attributes.get("TYPE") != "SUBTITLES" or not attributes.get("URI"):
            continue
        name = resolve(attributes["URI"], path)
        if name is None:
            continue
        language = attributes.get("LANGUAGE", "")
        tracks.append(Track(name, language, attributes.get("NAME") or language or name))
    return tracks


async def find_captions(origin: Origin, configured: str | None = None) -> Found:
    """Look for captions at the recording origin; raises MalformedCaptions for a bad file.

    With `configured` (the `recording.captions` path) that file is checked;
    otherwise the subtitles renditions of a multivariant `index.m3u8` and every
    WebVTT segment their playlists list. Present means a whole track is there
    and valid; a missing file or segment is a note, not an error (captions may
    be uploaded later). OriginUnavailable and OriginTimeout propagate.
    """
    if configured:
        try:
            data = await origin.fetch(configured)
        except NotFound:
            note = f"{configured} is not at the recording origin"
            return Found(False, note=note, configured=configured)
        check_vtt(data, configured)
        language, label = CONFIGURED_LANGUAGE
        return Found(True, (Track(configured, language, label),), configured=configured)
    try:
        index = parse(await origin.fetch(INDEX), INDEX)
    except NotFound:
        return Found(False, note=f"the recording origin has no {INDEX} yet")
    if not isinstance(index, MultivariantPlaylist):
        return Found(False, note=f"{INDEX} has no subtitles rendition")
    renditions = subtitle_renditions(index)
    if not renditions:
        return Found(False, note=f"{INDEX} has no subtitles rendition")
    complete: list[Track] = []
    notes: list[str] = []
    for track in renditions:
        note = await _check_rendition(origin, track)
        if note:
            notes.append(f"{track.path}: {note}")
        else:
            complete.append(track)
    if complete:
        return Found(True, tuple(complete))
    return Found(False, note="; ".join(notes))


async def _check_rendition(origin: Origin, track: Track) -> str:
    """'' when every segment of the rendition is there and valid; else what is missing."""
    try:
        playlist = parse(await origin.fetch(track.path), track.path)
    except NotFound:
        return "the playlist is missing"
    if not isinstance(playlist, MediaPlaylist):
        raise MalformedCaptions(track.path, "a subtitles rendition must be a media playlist")
    names = [s.name for s in playlist.segments if s.name is not None]
    if not names:
        return "the playlist lists no WebVTT file"
    gate = asyncio.Semaphore(_CONCURRENT_FETCHES)

    async def cues(name: str) -> int | None:
        async with gate:
            try:
                data = await origin.fetch(name)
            except NotFound:
                return None
        return check_vtt(data, name, need_cues=False)

    counts = await asyncio.gather(*(cues(n) for n in dict.fromkeys(names)))
    missing = sum(c is None for c in counts)
    if missing:
        return f"{missing} of {len(counts)} WebVTT files missing"
    if not sum(c or 0 for c in counts):
        return "no cues"
    return ""


async def inspect(origin: Origin, configured: str | None) -> Found:
    """`find_captions`, with an unreachable origin as a note instead of an error."""
    try:
        return await find_captions(origin, configured)
    except (OriginUnavailable, OriginTimeout) as exc:
        return Found(False, note=f"could not check: {exc}", configured=configured)


class CheckedOrigin:
    """The recording origin, refusing a malformed `.vtt` (502) instead of serving it half-broken."""

    def __init__(self, inner: Origin) -> None:
        self.inner = inner

    async def fetch(self, path: str) -> bytes:
        data = await self.inner.fetch(path)
        if path.lower().endswith(".vtt"):
            try:
                check_vtt(data, path, need_cues=False)
            except MalformedCaptions as exc:
                raise OriginUnavailable(str(exc)) from None
        return data

    async def close(self) -> None:
        await self.inner.close()


class CaptionsMonitor:
    """The app's view of the recording's captions: checked at start, then every few minutes.

    At start a malformed caption file stops the gateway (MalformedCaptions);
    found later, it only makes captions count as missing (and `CheckedOrigin`
    refuses to serve it). Past the deadline without captions: a warning in the
    log at every start and a `captions.overdue` audit event, once.
    """

    def __init__(
        self,
        origin: Origin,
        configured: str | None,
        available_from: dt.datetime,
        days: int,
        tz: ZoneInfo,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self.origin, self.configured = origin, configured
        self.available_from, self.days, self.tz = available_from, days, tz
        self.audit, self.clock = audit, clock
        self.found = Found(False, note="not checked yet", configured=configured)
        self._event_recorded = False

    def status(self, now: dt.datetime | None = None) -> CaptionsStatus:
        moment = self.clock() if now is None else now
        return captions_status(moment, self.available_from, self.days, self.found.present)

    def line(self, now: dt.datetime | None = None) -> str:
        return self.status(now).line(self.tz, self.found)

    async def check(self, *, at_start: bool = False) -> Found:
        try:
            found = await inspect(self.origin, self.configured)
        except MalformedCaptions as exc:
            if at_start:
                raise
            found = Found(False, note=str(exc), configured=self.configured)
        self.found = found
        return found

    async def start(self) -> None:
        """Check, say so in the log (a warning when overdue), record the overdue event once."""
        await self.check(at_start=True)
        now = self.clock()
        (log.warning if self.status(now).overdue else log.info)("%s", self.line(now))
        await self.record_overdue(now)

    async def record_overdue(self, now: dt.datetime | None = None) -> None:
        """The `captions.overdue` audit event, once per deadline (de-duplicated in the store)."""
        status = self.status(now)
        if not status.overdue or self._event_recorded:
            return
        try:
            await self.audit.record_once(
                f"captions.overdue:{iso(status.due)}",
                "captions.overdue",
                due=iso(status.due, self.tz),
                days=status.days,
                note=self.found.note,
            )
        except StoreUnavailable:
            return  # tried again at the next check
        self._event_recorded = True

    async def watch(self, interval: float = 300.0) -> None:
        """Re-check every `interval` seconds: captions uploaded later count, a deadline passes."""
        while True:
            await asyncio.sleep(interval)
            before = self.found
            try:
                await self.check()
            except Exception:  # a background check must never end the task
                log.exception("checking the recording's captions failed")
                continue
            if self.found != before:
                now = self.clock()
                (log.warning if self.status(now).overdue else log.info)("%s", self.line(now))
            await self.record_overdue()
