"""Stream paths: what may follow `/live/` or `/recording/`, and what it is.

A path is checked against a strict allow-list rather than cleaned: every
'/'-separated segment must be a plain name of ASCII letters, digits and
`._~+-`, not starting with a dot. That refuses every way out of the origin
folder (`..`, `.`, absolute paths, empty segments, backslashes, NUL, percent
signs left after decoding, look-alike Unicode dots) without having to list
them, so an accepted path is already normal and is returned unchanged.
"""

from __future__ import annotations

import re

from gateway.core.errors import BadPath

MAX_SEGMENTS = 16
MAX_LENGTH = 1024
# ASCII classes spelled out on purpose: `\w` would admit Unicode letters and digits.
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._~+-]{0,254}")

_MEDIA_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".aac": "audio/aac",
    ".vtt": "text/vtt",
    ".m4a": "audio/mp4",
}


def safe_path(raw: str) -> str:
    """Return `raw` as an origin-relative POSIX path, or raise BadPath.

    `raw` is the path after `/live/` or `/recording/`, already percent-decoded
    once. It is accepted only if it has 1 to 16 segments, at most 1024
    characters in all, and every segment matches
    `[A-Za-z0-9_][A-Za-z0-9._~+-]{0,254}`. An accepted path is returned as
    given: it is relative, has no empty, `.` or `..` segment, and
    `os.path.normpath` leaves it unchanged.
    """
    if not raw:
        raise BadPath("empty path")
    if len(raw) > MAX_LENGTH:
        raise BadPath(f"path longer than {MAX_LENGTH} characters")
    segments = raw.split("/")
    if len(segments) > MAX_SEGMENTS:
        raise BadPath(f"path has more than {MAX_SEGMENTS} segments")
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            raise BadPath(f"path segment {segment[:40]!r} is not an allowed name")
    return raw


def _suffix(path: str) -> str:
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def media_type(path: str) -> str:
    """The Content-Type to serve `path` with, by its extension (case-insensitive).

    Unknown extensions are `application/octet-stream`, so nothing is ever
    served as HTML or script.
    """
    return _MEDIA_TYPES.get(_suffix(path), "application/octet-stream")


def is_playlist(path: str) -> bool:
    """True when `path` names an HLS playlist (`.m3u8`, any case), which must be filtered."""
    return _suffix(path) == ".m3u8"
