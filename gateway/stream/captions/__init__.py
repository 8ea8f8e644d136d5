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

Four concerns, a module each: `vtt` (strict WebVTT checks, `CheckedOrigin`), `find`
(locating the captions at the origin), `deadline` (the 14-day rule, pure), `monitor`
(the start-up line, the periodic check, the overdue audit event).
"""

from __future__ import annotations

from gateway.stream.captions.deadline import DEFAULT_DAYS, CaptionsStatus, captions_status
from gateway.stream.captions.find import (
    CONFIGURED_LANGUAGE,
    Found,
    Track,
    find_captions,
    inspect,
    subtitle_renditions,
)
from gateway.stream.captions.monitor import CaptionsMonitor
from gateway.stream.captions.vtt import INDEX, CheckedOrigin, MalformedCaptions, check_vtt

__all__ = [
    "CONFIGURED_LANGUAGE",
    "CaptionsMonitor",
    "CaptionsStatus",
    "CheckedOrigin",
    "DEFAULT_DAYS",
    "Found",
    "INDEX",
    "MalformedCaptions",
    "Track",
    "captions_status",
    "check_vtt",
    "find_captions",
    "inspect",
    "subtitle_renditions",
]
