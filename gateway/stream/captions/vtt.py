"""WebVTT files checked strictly (webvtt-py): a malformed one is refused, never served."""

from __future__ import annotations

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from gateway.core.errors import (
    GatewayError,
    OriginUnavailable,
)
from gateway.stream.origins import Origin

INDEX = "index.m3u8"


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
