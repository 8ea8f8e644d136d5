"""Fuzzing the playlist parser with raw bytes, as an origin would send them.

`tests/test_playlists.py` fuzzes `parse` with text and checks the window
filter on generated playlists; here the input is bytes (broken UTF-8, BOMs,
NULs, lone CRs), and whatever parses is cut to a window and checked: nothing
listed is dated outside it.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core import dating
from gateway.core.errors import OriginUnavailable
from gateway.core.playlists import MediaPlaylist, filter_window, parse

T0 = dt.datetime(2021, 11, 18, 8, 0, tzinfo=dt.UTC)
LINES = [
    b"#EXTINF:4,",
    b"#EXTINF:4.000,title",
    b"#EXT-X-PROGRAM-DATE-TIME:2021-11-18T08:00:00Z",
    b"#EXT-X-PROGRAM-DATE-TIME:2021-11-18T10:00:00.000+02:00",
    b"#EXT-X-PROGRAM-DATE-TIME:9999-12-31T23:59:59+00:00",
    b"#EXT-X-MEDIA-SEQUENCE:7",
    b"#EXT-X-TARGETDURATION:4",
    b"#EXT-X-DISCONTINUITY",
    b'#EXT-X-KEY:METHOD=AES-128,URI="key.bin"',
    b'#EXT-X-MAP:URI="init.mp4"',
    b"#EXT-X-STREAM-INF:BANDWIDTH=1",
    b"#EXT-X-ENDLIST",
    b"seg0.ts",
    b"seg1.ts",
    b"../seg.ts",
    b"%2e%2e/seg.ts",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\x00",
    b"\r",
    b"",
]
raw = st.one_of(
    st.binary(),
    st.binary().map(lambda b: b"#EXTM3U\n" + b),
    st.lists(st.sampled_from(LINES) | st.binary(max_size=6), max_size=24).map(
        lambda lines: b"\n".join([b"#EXTM3U", *lines])
    ),
)
minutes = st.integers(-600, 600).map(lambda m: T0 + dt.timedelta(minutes=m))


@settings(max_examples=600)
@given(raw, minutes, minutes, st.booleans())
def test_any_bytes_parse_or_fail_as_origin_unavailable_and_never_leak_the_window(
    data: bytes, start: dt.datetime, end: dt.datetime, ended: bool
) -> None:
    try:
        parsed = parse(data, "v1/index.m3u8")
    except OriginUnavailable:
        return
    if not isinstance(parsed, MediaPlaylist):
        return
    dated = [dating.Dated(s.date, s.duration) if s.date else None for s in parsed.segments]
    out = filter_window(parsed, dating.fits(dated, start, end), ended=ended)
    again = parse(out, "v1/index.m3u8")
    assert isinstance(again, MediaPlaylist)
    slack = dt.timedelta(seconds=dating.TOLERANCE)
    for segment in again.segments:
        assert segment.name is not None and segment.date is not None
        assert start - slack <= segment.date
        assert segment.date + dt.timedelta(seconds=segment.duration) <= end + slack
