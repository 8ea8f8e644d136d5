"""HLS playlists: parsing them and cutting a live window out.

This module carries half of the product's live guarantee: a served live
playlist lists a segment only if the segment has a safe origin-relative name
and the caller says it fits the window (`gateway.core.dating` says which do:
dated, and whole inside the part). Everything doubtful fails closed: a
URI with a scheme, an absolute path, a way above the origin root or any
character `paths.safe_path` refuses gets no name and is never listed; a
playlist that is not text, does not start with `#EXTM3U` or carries bad
`#EXTINF`/`#EXT-X-PROGRAM-DATE-TIME` values raises OriginUnavailable. Pure: no
I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import unquote

from gateway.core.errors import BadPath, OriginUnavailable
from gateway.core.paths import safe_path

EXTINF, PDT, KEY, MAP = "#EXTINF", "#EXT-X-PROGRAM-DATE-TIME", "#EXT-X-KEY", "#EXT-X-MAP"
DISCONTINUITY, TARGET = "#EXT-X-DISCONTINUITY", "#EXT-X-TARGETDURATION"
BYTERANGE = "#EXT-X-BYTERANGE"
# Playlist-wide tags, kept in `MediaPlaylist.header` wherever they appear.
_HEADER = frozenset(
    "#EXTM3U #EXT-X-VERSION #EXT-X-TARGETDURATION #EXT-X-INDEPENDENT-SEGMENTS #EXT-X-START"
    " #EXT-X-PLAYLIST-TYPE #EXT-X-I-FRAMES-ONLY #EXT-X-DEFINE #EXT-X-SERVER-CONTROL"
    " #EXT-X-PART-INF #EXT-X-ALLOW-CACHE".split()
)
# Low-latency parts and preload hints would announce media the window does not
# allow yet; a PLAYLIST-TYPE or DATERANGE would describe the origin's playlist,
# not the cut one. None of them is served.
_DROPPED = frozenset(
    "#EXT-X-PART #EXT-X-PART-INF #EXT-X-PRELOAD-HINT #EXT-X-RENDITION-REPORT"
    " #EXT-X-SERVER-CONTROL #EXT-X-SKIP #EXT-X-PLAYLIST-TYPE #EXT-X-DATERANGE".split()
)
_REWRITTEN = _DROPPED | {"#EXTM3U", TARGET}
_VARIANT_TAGS = frozenset({"#EXT-X-STREAM-INF", "#EXT-X-MEDIA", "#EXT-X-I-FRAME-STREAM-INF"})
_DURATION = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_INTEGER = re.compile(r"[0-9]{1,18}")
_RANGE = re.compile(r"\s*([0-9]{1,18})(?:@([0-9]{1,18}))?\s*")
Range = tuple[int, int]  # (offset, length) in bytes
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_ATTRIBUTE = re.compile(r'\s*([A-Z0-9-]+)=("[^"]*"|[^",]*?)\s*(?:,|$)')


@dataclass(frozen=True)
class Segment:
    """One media segment. `name` is None when the URI may never be served; `byterange`
    is the (offset, length) of the resource it is, when only part of it (its
    `#EXT-X-BYTERANGE`, rewritten in `tags` with its offset always given)."""

    uri: str
    name: str | None
    duration: float
    date: dt.datetime | None
    tags: tuple[str, ...]
    sequence: int
    byterange: Range | None = None

    @property
    def discontinuous(self) -> bool:
        """Whether a discontinuity separates this segment from the one before it."""
        return any(_tag(t) == DISCONTINUITY for t in self.tags)


@dataclass(frozen=True)
class MediaPlaylist:
    """A media playlist; `header` holds the playlist-wide tag lines as written."""

    header: tuple[str, ...]
    media_sequence: int
    discontinuity_sequence: int
    segments: tuple[Segment, ...]
    ended: bool
    has_dates: bool
    target_duration: int | None


@dataclass(frozen=True)
class MultivariantPlaylist:
    """A multivariant playlist: the names of the media playlists it refers to, and its text."""

    variants: tuple[str, ...]
    text: str


def parse(text: str | bytes, path: str) -> MediaPlaylist | MultivariantPlaylist:
    """Parse the playlist found at origin-relative `path`.

    Relative URIs are resolved against `path`'s folder (see `resolve`). Segment
    dates are the segment's own `#EXT-X-PROGRAM-DATE-TIME` (as aware UTC),
    else extrapolated from the previous dated segment (its date plus its
    duration) or, before the first one, from the next (its date minus this
    segment's duration); all None when the playlist has none. Raises
    OriginUnavailable for anything that is not a well-formed playlist:
    undecodable bytes, NUL, a first line other than `#EXTM3U`, a segment
    without a valid `#EXTINF`, a date without an offset, both segments and
    variants. CRLF, blank lines, comments and unknown tags are tolerated.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed(path, "not UTF-8 text") from None
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise _malformed(path, "not text (NUL)")
    # Split on every line break a player might honour, and re-emit with "\n":
    # what a player reads from our output is then exactly what we parsed.
    lines = [line.strip() for line in text.splitlines()]
    if not lines or lines[0] != "#EXTM3U":
        raise _malformed(path, "does not start with #EXTM3U")
    body = [line for line in lines[1:] if line]
    tags = {_tag(line) for line in body if line.startswith("#EXT")}
    if tags & _VARIANT_TAGS:
        if EXTINF in tags:
            raise _malformed(path, "has both media segments and variant streams")
        return MultivariantPlaylist(_variants(body, path), text)
    return _parse_media(body, path)


def resolve(uri: str, path: str) -> str | None:
    """The origin-relative name a URI in the playlist at `path` points to, or None.

    The query and fragment are dropped, dot segments removed as a player
    would (RFC 3986), and the result percent-decoded once, as the request
    path will be. None, meaning never to be served, for a URI with a scheme,
    one starting with '/', one climbing above the origin root, and any
    result that `safe_path` refuses.
    """
    reference = uri.split("#", 1)[0].split("?", 1)[0]
    if not reference or reference.startswith("/") or _SCHEME.match(reference):
        return None
    folder = path.rpartition("/")[0]
    parts = (folder.split("/") if folder else []) + reference.split("/")
    out: list[str] = []
    for part in parts:
        if part == "..":
            if not out:
                return None
            out.pop()
        elif part != ".":
            out.append(part)
    if parts[-1] in (".", ".."):
        out.append("")  # a folder, not a file: refused below
    try:
        return safe_path(unquote("/".join(out), errors="strict"))
    except (BadPath, UnicodeDecodeError):
        return None


def filter_window(playlist: MediaPlaylist, fits: Sequence[bool], *, ended: bool) -> str:
    """The playlist text to serve, listing the segments `fits` allows (one flag per segment).

    Of the allowed segments only the last contiguous run is kept, so sequence
    numbers stay true: `#EXT-X-MEDIA-SEQUENCE` is the first kept segment's, and
    `#EXT-X-DISCONTINUITY-SEQUENCE` counts the discontinuities dropped before
    it. A segment without a name is never kept. The `#EXT-X-KEY` and
    `#EXT-X-MAP` in effect are repeated if the first kept segment carries none.
    Low-latency, playlist-type and date-range tags are dropped.
    `#EXT-X-ENDLIST` closes the text when `ended` or when the origin's
    playlist had it. With nothing allowed, the playlist has no segments and
    its media sequence is the one after the origin's last.
    """
    segments = playlist.segments
    allowed = [ok and s.name is not None for s, ok in zip(segments, fits, strict=True)]
    last = max((i for i, ok in enumerate(allowed) if ok), default=len(segments) - 1)
    first = last + 1
    while first > 0 and allowed[first - 1]:
        first -= 1
    head, kept = segments[:first], segments[first : last + 1]
    if kept:
        sequence = kept[0].sequence
    else:
        sequence = segments[-1].sequence + 1 if segments else playlist.media_sequence
    discontinuity = playlist.discontinuity_sequence + sum(s.discontinuous for s in head)
    lines = ["#EXTM3U"]
    lines += [h for h in playlist.header if _tag(h) not in _REWRITTEN]
    lines.append(f"{TARGET}:{_target_duration(playlist)}")
    lines.append(f"#EXT-X-MEDIA-SEQUENCE:{sequence}")
    lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity}")
    if kept:
        lines += _context(head, {_tag(t) for t in kept[0].tags})
    for segment in kept:
        lines += [t for t in segment.tags if _tag(t) not in _DROPPED]
        lines.append(segment.uri)
    if ended or playlist.ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def listed_names(text: str, path: str) -> set[str]:
    """The names a playlist lists: its segments' (media) or its variants' (multivariant)."""
    parsed = parse(text, path)
    if isinstance(parsed, MultivariantPlaylist):
        return set(parsed.variants)
    return {s.name for s in parsed.segments if s.name is not None}


def support_names(playlist: MediaPlaylist, path: str) -> dict[str, list[Range] | None]:
    """The `#EXT-X-MAP` and `#EXT-X-KEY` resources the playlist at `path` uses: name →
    the byte ranges that are init sections (a MAP's BYTERANGE), or None for the whole.

    These are not segments and have no date of their own; a player needs them
    to play the listed segments.
    """
    names: dict[str, list[Range] | None] = {}
    for segment in playlist.segments:
        for tag in segment.tags:
            if _tag(tag) in (KEY, MAP):
                attributes = _attributes(_value(tag)) or {}
                uri = attributes.get("URI")
                name = resolve(uri, path) if uri else None
                if name is None:
                    continue
                span = (
                    _RANGE.fullmatch(attributes.get("BYTERANGE", "")) if _tag(tag) == MAP else None
                )
                ranges = names.setdefault(name, [])
                if span is None or span.group(2) is None or ranges is None:
                    names[name] = None  # the whole resource
                else:
                    ranges.append((int(span.group(2)), int(span.group(1))))
    return names


def context_after(context: list[str], segment: Segment) -> list[str]:
    """The `#EXT-X-KEY` and `#EXT-X-MAP` lines in effect at `segment`, from those in effect
    before it (`context`) and its own tags."""
    keys = [t for t in segment.tags if _tag(t) == KEY] or [t for t in context if _tag(t) == KEY]
    init = [t for t in segment.tags if _tag(t) == MAP][-1:] or [
        t for t in context if _tag(t) == MAP
    ]
    return keys + init


def _context(head: Iterable[Segment], own: set[str]) -> list[str]:
    """The KEY and MAP lines in effect after `head`, for the tags the next segment lacks."""
    keys: list[str] = []
    init: list[str] = []
    for segment in head:
        keys = [t for t in segment.tags if _tag(t) == KEY] or keys
        init = [t for t in segment.tags if _tag(t) == MAP][-1:] or init
    return (keys if KEY not in own else []) + (init if MAP not in own else [])


def _target_duration(playlist: MediaPlaylist) -> int:
    if playlist.target_duration is not None:
        return playlist.target_duration
    return max([1, *(round(s.duration) for s in playlist.segments)])


def _parse_media(body: list[str], path: str) -> MediaPlaylist:
    header: list[str] = []
    media_sequence = discontinuity_sequence = skipped = 0
    target: int | None = None
    ended = False
    pending: list[str] = []
    found: list[Segment] = []  # `sequence` holds the offset until MEDIA-SEQUENCE is known
    ends: dict[str | None, int] = {}  # where each resource's last range ended
    for line in body:
        if not line.startswith("#"):
            duration, date = _segment_values(pending, line, path)
            offset = skipped + len(found)
            name = resolve(line, path)
            span, tags = _byterange(pending, ends.get(name), path)
            if span is not None:
                ends[name] = span[0] + span[1]
            found.append(Segment(line, name, duration, date, tags, offset, span))
            pending = []
            continue
        if not line.startswith("#EXT"):
            continue  # a comment
        tag, value = _tag(line), _value(line)
        if tag == "#EXT-X-MEDIA-SEQUENCE":
            media_sequence = _integer(value, path, tag)
        elif tag == "#EXT-X-DISCONTINUITY-SEQUENCE":
            discontinuity_sequence = _integer(value, path, tag)
        elif tag == "#EXT-X-ENDLIST":
            ended = True
        elif tag == "#EXT-X-SKIP":
            skip = (_attributes(value) or {}).get("SKIPPED-SEGMENTS", "")
            skipped += _integer(skip, path, tag)
        elif tag in _HEADER:
            if tag == TARGET:
                target = _integer(value, path, tag)
            if tag != "#EXTM3U":
                header.append(line)
        else:
            pending.append(line)
    own = [s.date for s in found]
    extrapolated = _extrapolate(own, [s.duration for s in found], path)
    segments = tuple(
        replace(s, date=date, sequence=media_sequence + s.sequence)
        for s, date in zip(found, extrapolated, strict=True)
    )
    has_dates = any(date is not None for date in own)
    header.insert(0, "#EXTM3U")
    return MediaPlaylist(
        tuple(header), media_sequence, discontinuity_sequence, segments, ended, has_dates, target
    )


def _byterange(
    tags: list[str], previous_end: int | None, path: str
) -> tuple[Range | None, tuple[str, ...]]:
    """A segment's `#EXT-X-BYTERANGE` as (offset, length), and its tags with the range
    written with its offset: a cut playlist may not start where the origin's did."""
    spans = [i for i, t in enumerate(tags) if _tag(t) == BYTERANGE]
    if not spans:
        return None, tuple(tags)
    found = _RANGE.fullmatch(_value(tags[spans[-1]]))
    if len(spans) > 1 or found is None:
        raise _malformed(path, f"bad {BYTERANGE} {_value(tags[spans[-1]])[:40]!r}")
    if found.group(2) is None and previous_end is None:
        raise _malformed(path, f"{BYTERANGE} without an offset for a resource's first range")
    length = int(found.group(1))
    offset = int(found.group(2)) if found.group(2) is not None else previous_end
    assert offset is not None
    rewritten = list(tags)
    rewritten[spans[-1]] = f"{BYTERANGE}:{length}@{offset}"
    return (offset, length), tuple(rewritten)


def _segment_values(tags: list[str], uri: str, path: str) -> tuple[float, dt.datetime | None]:
    durations = [_value(t).split(",", 1)[0].strip() for t in tags if _tag(t) == EXTINF]
    stamps = [_value(t) for t in tags if _tag(t) == PDT]
    if len(durations) != 1 or not _DURATION.fullmatch(durations[0]):
        raise _malformed(path, f"segment {uri[:60]!r} needs exactly one valid #EXTINF")
    duration = float(durations[0])
    if not math.isfinite(duration):
        raise _malformed(path, f"segment {uri[:60]!r} has an endless #EXTINF")
    if len(stamps) > 1:
        raise _malformed(path, f"segment {uri[:60]!r} has several {PDT}")
    if not stamps:
        return duration, None
    try:
        date = dt.datetime.fromisoformat(stamps[0])
        if date.tzinfo is None:
            # A local time without its zone could shift the window by hours: refuse, loudly.
            raise ValueError("no UTC offset")
        return duration, date.astimezone(dt.UTC)
    except (ValueError, OverflowError) as exc:
        raise _malformed(path, f"bad {PDT} {stamps[0][:40]!r} ({exc})") from None


def _extrapolate(
    dates: list[dt.datetime | None], durations: list[float], path: str
) -> list[dt.datetime | None]:
    """Fill missing dates forwards from the previous dated segment, then backwards."""
    result = list(dates)
    first = next((i for i, date in enumerate(result) if date is not None), None)
    if first is None:
        return result
    try:
        for i in range(first + 1, len(result)):
            previous = result[i - 1]
            if result[i] is None and previous is not None:
                result[i] = previous + dt.timedelta(seconds=durations[i - 1])
        for i in range(first - 1, -1, -1):
            following = result[i + 1]
            if following is not None:
                result[i] = following - dt.timedelta(seconds=durations[i])
    except OverflowError:
        raise _malformed(path, "segment dates out of range") from None
    return result


def _variants(body: list[str], path: str) -> tuple[str, ...]:
    names: dict[str, None] = {}
    stream_uri_next = False
    for line in body:
        if not line.startswith("#"):
            name = resolve(line, path) if stream_uri_next else None
            stream_uri_next = False
        elif _tag(line) == "#EXT-X-STREAM-INF":
            stream_uri_next, name = True, None
        elif _tag(line) in ("#EXT-X-MEDIA", "#EXT-X-I-FRAME-STREAM-INF"):
            uri = (_attributes(_value(line)) or {}).get("URI")
            name = resolve(uri, path) if uri else None
        else:
            name = None
        if name is not None:
            names[name] = None
    return tuple(names)


def _attributes(text: str) -> dict[str, str] | None:
    """An attribute list as a dict (quotes removed), or None if it is malformed."""
    found: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _ATTRIBUTE.match(text, position)
        if match is None:
            return None
        key, value = match.groups()
        found[key] = value[1:-1] if value.startswith('"') else value
        position = match.end()
    return found


def _tag(line: str) -> str:
    return line.split(":", 1)[0]


def _value(line: str) -> str:
    return line.partition(":")[2]


def _integer(value: str, path: str, tag: str) -> int:
    if not _INTEGER.fullmatch(value.strip()):
        raise _malformed(path, f"bad {tag} value {value[:40]!r}")
    return int(value)


def _malformed(path: str, reason: str) -> OriginUnavailable:
    return OriginUnavailable(f"malformed playlist {path!r}: {reason}")
