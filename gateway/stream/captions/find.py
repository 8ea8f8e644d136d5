"""Finding the captions at the recording origin: the file `recording.captions` names, or
a subtitles rendition of a multivariant `index.m3u8`."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from gateway.core.errors import (
    NotFound,
    OriginTimeout,
    OriginUnavailable,
)
from gateway.core.playlists import MediaPlaylist, MultivariantPlaylist, parse, resolve
from gateway.stream.captions.vtt import INDEX, MalformedCaptions, check_vtt
from gateway.stream.origins import Origin

# The language of a caption file named by `recording.captions`: this seminar's is English.
CONFIGURED_LANGUAGE = ("en", "English")
_MEDIA = re.compile(r"#EXT-X-MEDIA:(.*)")
_ATTRIBUTE = re.compile(r'\s*([A-Z0-9-]+)=("[^"]*"|[^",]*)\s*(?:,|$)')
_CONCURRENT_FETCHES = 8


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
