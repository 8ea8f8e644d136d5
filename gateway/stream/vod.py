"""The recording written from the archive: a VOD playlist per archived playlist and a
chapters file, in the archive's folder (which the recording origin then serves).

`index.m3u8` (or each variant's playlist, under the origin's multivariant root)
is `#EXT-X-PLAYLIST-TYPE:VOD` and ends with `#EXT-X-ENDLIST`; the streamed parts
follow in the schedule's order, each opened by `#EXT-X-PROGRAM-DATE-TIME`, a
`#EXT-X-DISCONTINUITY` between them. `chapters.vtt` holds a cue per part, titled
with its name (and description). A trim (`"Part I" → (130, None)`: from 2:10 into
the part to its end) leaves out the segments that start outside it, and moves their
files out of what is served (under `.archive/cut/`, which no request can name), so a
cut is not watched by its name either; a build without the trim brings them back.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gateway.core.schedule import Schedule

ROOT = "index.m3u8"
CHAPTERS = "chapters.vtt"
META = ".archive"  # the archive's manifests (and the live root playlist), beside the copies
CUT = f"{META}/cut"  # the copies a trim leaves out


@dataclass(frozen=True)
class Entry:
    """A segment in the archive: its file (relative to the folder), where it came from,
    the part it belongs to, and when it started (ISO) and for how long (s)."""

    file: str
    playlist: str
    part: str
    start: str
    duration: float
    sequence: int
    discontinuous: bool = False
    context: list[str] = field(default_factory=list)  # the KEY and MAP lines in effect


def write_whole(path: Path, data: bytes) -> None:
    """`data` at `path`, never half-written: a temporary file beside it, renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Built:
    """What was written: each part's duration (s) in the recording, and its segments."""

    parts: dict[str, float] = field(default_factory=dict)
    segments: int = 0


def kept(
    found: Sequence[Entry], schedule: Schedule, trims: Mapping[str, tuple[float, float | None]]
) -> list[tuple[str, list[Entry]]]:
    """The streamed parts in order, each with its entries by start, trimmed, each once."""
    out: list[tuple[str, list[Entry]]] = []
    for part in schedule.parts:
        if not part.streamed:
            continue
        first, last = trims.get(part.name, (0.0, None))
        start = part.start + dt.timedelta(seconds=first)
        end = part.start + dt.timedelta(seconds=last) if last is not None else None
        chosen = {e.file: e for e in found if e.part == part.name}
        entries = sorted(chosen.values(), key=lambda e: (e.start, e.sequence))
        entries = [
            e
            for e in entries
            if dt.datetime.fromisoformat(e.start) >= start
            and (end is None or dt.datetime.fromisoformat(e.start) < end)
        ]
        if entries:
            out.append((part.name, entries))
    return out


def playlist_text(playlist: str, parts: list[tuple[str, list[Entry]]]) -> str:
    """The VOD playlist at `playlist` (its segments named relative to it)."""
    here = PurePosixPath(playlist).parent
    durations = [e.duration for _, entries in parts for e in entries]
    target = max(1, math.ceil(max(durations, default=1.0)))
    fmp4 = any(line.startswith("#EXT-X-MAP") for _, es in parts for e in es for line in e.context)
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{6 if fmp4 else 3}",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    in_effect: list[str] = []
    for index, (_, entries) in enumerate(parts):
        for position, entry in enumerate(entries):
            if position == 0:
                if index > 0:
                    lines.append("#EXT-X-DISCONTINUITY")
                start = dt.datetime.fromisoformat(entry.start).astimezone(dt.UTC)
                lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{start.isoformat(timespec='milliseconds')}")
            elif entry.discontinuous:
                lines.append("#EXT-X-DISCONTINUITY")
            if entry.context != in_effect or (position == 0 and index > 0):
                lines += entry.context  # the init section and key, after a discontinuity too
                in_effect = entry.context
            lines.append(f"#EXTINF:{entry.duration:.3f},")
            lines.append(str(PurePosixPath(entry.file).relative_to(here)))
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _clock(seconds: float) -> str:
    whole = int(seconds)
    millis = round((seconds - whole) * 1000)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}.{millis:03d}"


def chapters_text(parts: list[tuple[str, float]], describe: Callable[[str], str] | None) -> str:
    """WebVTT chapters: a cue per part, from where it starts in the recording."""
    lines = ["WEBVTT", ""]
    at = 0.0
    for index, (name, seconds) in enumerate(parts, start=1):
        title = name
        if describe is not None and (words := describe(name)):
            title = f"{name}: {words}"
        lines += [str(index), f"{_clock(at)} --> {_clock(at + seconds)}", title, ""]
        at += seconds
    return "\n".join(lines)


def _move(source: Path, to: Path) -> None:
    """`source` to `to`, if it is there (a rename: never half a file at either place)."""
    if source.is_file():
        to.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, to)


def build(
    folder: Path,
    schedule: Schedule,
    found: Mapping[str, Sequence[Entry]],
    trims: Mapping[str, tuple[float, float | None]],
    describe: Callable[[str], str] | None = None,
) -> Built:
    """Write the recording's playlists and chapters into `folder` from the archive's
    entries by playlist; the root multivariant playlist, if the live one had variants."""
    durations: dict[str, float] = {}
    segments = 0
    chosen = {playlist: kept(entries, schedule, trims) for playlist, entries in found.items()}
    listed = {e.file for parts in chosen.values() for _, es in parts for e in es}
    for file in listed:  # back from an earlier trim, before a playlist lists it
        _move(folder / CUT / file, folder / file)
    for playlist, parts in sorted(chosen.items()):
        write_whole(folder / playlist, playlist_text(playlist, parts).encode())
        segments += sum(len(e) for _, e in parts)
        if not durations:  # the first playlist's parts time the chapters
            durations = {name: sum(e.duration for e in es) for name, es in parts}
    for file in {e.file for entries in found.values() for e in entries} - listed:
        _move(folder / file, folder / CUT / file)  # once no playlist lists it
    root = folder / META / "root.m3u8"
    if root.is_file() and ROOT not in found:
        write_whole(folder / ROOT, root.read_bytes())
    write_whole(folder / CHAPTERS, chapters_text(list(durations.items()), describe).encode())
    return Built(durations, segments)
