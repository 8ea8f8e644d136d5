"""Writing small HLS origins for tests: real playlists over fake segment bytes."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path


def segment_bytes(name: str) -> bytes:
    """Distinct, deterministic bytes per segment name (so identity checks mean something)."""
    return hashlib.sha256(name.encode()).digest() * 64


def write_live(
    folder: Path,
    first_date: dt.datetime,
    count: int,
    *,
    duration: float = 4.0,
    first_seq: int = 0,
    dates: bool = True,
    prefix: str = "seg",
) -> list[tuple[str, dt.datetime]]:
    """Write a live media playlist `index.m3u8` listing `count` segments from `first_seq`.

    Returns (name, date) per segment. With `dates=False` no PROGRAM-DATE-TIME
    is written (like many encoders).
    """
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{int(duration)}",
        f"#EXT-X-MEDIA-SEQUENCE:{first_seq}",
    ]
    listed = []
    for i in range(count):
        seq = first_seq + i
        name = f"{prefix}{seq}.ts"
        when = first_date + dt.timedelta(seconds=duration * i)
        if dates:
            lines.append("#EXT-X-PROGRAM-DATE-TIME:" + when.isoformat(timespec="milliseconds"))
        lines += [f"#EXTINF:{duration:.3f},", name]
        (folder / name).write_bytes(segment_bytes(name))
        listed.append((name, when))
    (folder / "index.m3u8").write_text("\n".join(lines) + "\n")
    return listed


def write_vod(folder: Path, count: int = 3, duration: float = 4.0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{int(duration)}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-MEDIA-SEQUENCE:0",
    ]
    names = []
    for i in range(count):
        name = f"rec{i}.ts"
        lines += [f"#EXTINF:{duration:.3f},", name]
        (folder / name).write_bytes(segment_bytes(name))
        names.append(name)
    lines.append("#EXT-X-ENDLIST")
    (folder / "index.m3u8").write_text("\n".join(lines) + "\n")
    return names


def listed(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]
