"""Playlists: parsing, dating, and the live window that must never leak a segment."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gateway.core import dating
from gateway.core import playlists as hls
from gateway.core.errors import OriginUnavailable
from gateway.core.playlists import (
    MediaPlaylist,
    MultivariantPlaylist,
    Segment,
    listed_names,
    parse,
    resolve,
    support_names,
)

T0 = dt.datetime(2021, 11, 18, 10, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def stamp(moment: dt.datetime) -> str:
    return f"#EXT-X-PROGRAM-DATE-TIME:{moment.isoformat(timespec='milliseconds')}"


def dates(playlist: MediaPlaylist) -> dict[str, dt.datetime]:
    """Name → the segment's own (or extrapolated) PDT date."""
    return {s.name: s.date for s in playlist.segments if s.name and s.date}


def filter_window(
    playlist: MediaPlaylist,
    by_name: dict[str, dt.datetime],
    start: dt.datetime,
    end: dt.datetime,
    *,
    ended: bool,
) -> str:
    """The cut for `[start, end]` with each name's start date given, its EXTINF its length."""
    dated = [
        dating.Dated(by_name[s.name], s.duration) if s.name in by_name else None
        for s in playlist.segments
    ]
    return hls.filter_window(playlist, dating.fits(dated, start, end), ended=ended)


def whole_inside(date: dt.datetime, duration: float, start: dt.datetime, end: dt.datetime) -> bool:
    """The live rule: the whole segment inside the window, half a second allowed each side."""
    slack = dt.timedelta(seconds=dating.TOLERANCE)
    return start - slack <= date and date + dt.timedelta(seconds=duration) <= end + slack


def media(text: str, path: str = "index.m3u8") -> MediaPlaylist:
    parsed = parse(text, path)
    assert isinstance(parsed, MediaPlaylist)
    return parsed


def dated_playlist(count: int, *, first: int = 0, sequence: int = 0, extra: str = "") -> str:
    """`count` 4-second segments s{n}.ts dated T0 + 4n, from n = first."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:4"]
    lines.append(f"#EXT-X-MEDIA-SEQUENCE:{sequence}")
    for n in range(first, first + count):
        lines += [stamp(at(4 * n)), "#EXTINF:4.000,", f"s{n}.ts"]
    return "\n".join(lines) + "\n" + extra


def uris(text: str, path: str = "index.m3u8") -> list[str]:
    return [s.uri for s in media(text, path).segments]


# Parsing and names


def test_crlf_blank_lines_comments_and_unknown_tags_are_tolerated() -> None:
    text = (
        "\ufeff#EXTM3U\r\n\r\n#EXT-X-TARGETDURATION:6\r\n# a comment\r\n#EXT-X-FUTURE:1\r\n"
        "#EXTINF:5.5,title, with comma\r\n\r\nseg1.ts\r\n#EXTINF:6,\r\nseg2.ts\r\n"
    )
    playlist = media(text)
    assert [(s.name, s.duration) for s in playlist.segments] == [("seg1.ts", 5.5), ("seg2.ts", 6)]
    assert playlist.segments[0].tags == ("#EXT-X-FUTURE:1", "#EXTINF:5.5,title, with comma")
    assert not playlist.has_dates
    assert dates(playlist) == {}
    assert "\r" not in filter_window(playlist, {"seg2.ts": T0}, T0, at(1), ended=False)


def test_bytes_are_accepted_if_utf8() -> None:
    assert isinstance(parse(b"#EXTM3U\n#EXTINF:1,\na.ts\n", "index.m3u8"), MediaPlaylist)
    with pytest.raises(OriginUnavailable, match="malformed playlist"):
        parse(b"#EXTM3U\n\xff\xfe\n", "index.m3u8")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n#EXTM3U\n",
        "EXTM3U\n",
        "<html>404</html>",
        "#EXTM3U\n#EXTINF:1,\na.ts\x00\n",
        "#EXTM3U\na.ts\n",
        "#EXTM3U\n#EXTINF:abc,\na.ts\n",
        "#EXTM3U\n#EXTINF:-1,\na.ts\n",
        "#EXTM3U\n#EXTINF:nan,\na.ts\n",
        "#EXTM3U\n#EXTINF:" + "9" * 400 + ",\na.ts\n",
        "#EXTM3U\n#EXTINF:1,\n#EXTINF:2,\na.ts\n",
        "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:1,\na.ts\n",
        "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:2021-11-18T10:00:00\n#EXTINF:1,\na.ts\n",
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:-3\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:four\n",
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n#EXTINF:1,\na.ts\n",
        "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:9999-12-31T23:59:59Z\n#EXTINF:1,\na.ts\n#EXTINF:1,\nb.ts\n",
    ],
)
def test_malformed_playlists_are_origin_failures(text: str) -> None:
    with pytest.raises(OriginUnavailable, match="malformed playlist"):
        parse(text, "index.m3u8")


@pytest.mark.parametrize(
    ("uri", "path", "name"),
    [
        ("seg1.ts", "v1/index.m3u8", "v1/seg1.ts"),
        ("seg1.ts", "index.m3u8", "seg1.ts"),
        ("../x.ts", "v1/index.m3u8", "x.ts"),
        ("../../x.ts", "v1/index.m3u8", None),
        ("../x.ts", "index.m3u8", None),
        ("./a/../b.ts", "v1/index.m3u8", "v1/b.ts"),
        ("seg.ts?token=1#t=3", "v1/index.m3u8", "v1/seg.ts"),
        ("seg%31.ts", "index.m3u8", "seg1.ts"),
        ("%2e%2e/x.ts", "v1/index.m3u8", None),
        ("..%2fx.ts", "v1/index.m3u8", None),
        ("..\\x.ts", "v1/index.m3u8", None),
        ("a//b.ts", "index.m3u8", None),
        ("a/..", "index.m3u8", None),
        ("/live/seg.ts", "index.m3u8", None),
        ("//evil.example/seg.ts", "index.m3u8", None),
        ("https://evil.example/seg.ts", "index.m3u8", None),
        ("data:video/mp2t;base64,AAAA", "index.m3u8", None),
        ("seg 1.ts", "index.m3u8", None),
        ("{$base}/seg.ts", "index.m3u8", None),
        ("?only-query", "index.m3u8", None),
    ],
)
def test_segment_names_are_resolved_against_the_playlist_folder(
    uri: str, path: str, name: str | None
) -> None:
    assert resolve(uri, path) == name
    playlist = media(f"#EXTM3U\n#EXTINF:4,\n{uri}\n", path)
    assert playlist.segments[0].name == name


def test_absolute_and_escaping_segments_are_never_listed_even_if_dated() -> None:
    text = "#EXTM3U\n#EXTINF:4,\nhttps://evil.example/a.ts\n#EXTINF:4,\n../b.ts\n#EXTINF:4,\nc.ts\n"
    playlist = media(text)
    assert [s.name for s in playlist.segments] == [None, None, "c.ts"]
    every = {"https://evil.example/a.ts": T0, "../b.ts": T0, "b.ts": T0, "c.ts": T0}
    out = filter_window(playlist, every, T0, at(60), ended=False)
    assert uris(out) == ["c.ts"]


def test_multivariant_lists_its_media_playlists() -> None:
    text = (
        "#EXTM3U\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en,URI=x",URI="audio/en.m3u8"\n'
        '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="cc",INSTREAM-ID="CC1"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="avc1.4d401f,mp4a.40.2",AUDIO="a"\n'
        "v1/index.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=2000000\r\n"
        "\n"
        "v2/index.m3u8?x=1\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=1\n"
        "https://elsewhere.example/v3.m3u8\n"
        '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI="v1/iframes.m3u8"\n'
        "stray.m3u8\n"
    )
    parsed = parse(text, "live/index.m3u8")
    assert isinstance(parsed, MultivariantPlaylist)
    assert parsed.variants == (
        "live/audio/en.m3u8",
        "live/v1/index.m3u8",
        "live/v2/index.m3u8",
        "live/v1/iframes.m3u8",
    )
    assert parsed.text == text
    assert listed_names(text, "live/index.m3u8") == set(parsed.variants)


# Dates


def test_dates_are_extrapolated_forwards_and_backwards() -> None:
    text = (
        "#EXTM3U\n#EXTINF:2,\na.ts\n#EXTINF:3,\nb.ts\n"
        "#EXT-X-PROGRAM-DATE-TIME:2021-11-18T12:00:00+02:00\n#EXTINF:4,\nc.ts\n"
        "#EXTINF:5,\nd.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:6,\ne.ts\n"
        "#EXT-X-PROGRAM-DATE-TIME:2021-11-18T09:00:00.500Z\n#EXTINF:4,\nf.ts\n#EXTINF:4,\ng.ts\n"
    )
    playlist = media(text)
    assert playlist.has_dates
    assert [s.date for s in playlist.segments] == [
        at(-5),
        at(-3),
        T0,
        at(4),
        at(9),
        at(-3600 + 0.5),
        at(-3600 + 4.5),
    ]
    assert all(s.date is not None and s.date.tzinfo == dt.UTC for s in playlist.segments)
    assert dates(playlist) == {s.name: s.date for s in playlist.segments}


def test_repeated_name_takes_its_earliest_date() -> None:
    text = "#EXTM3U\n" + "".join(
        f"{stamp(at(s))}\n#EXT-X-BYTERANGE:100@{o}\n#EXTINF:4,\nall.ts\n"
        for s, o in ((8, 0), (4, 100))
    )
    assert dates(media(text)) == {"all.ts": at(4)}


# The window


def test_only_segments_dated_inside_the_half_open_window_are_listed() -> None:
    playlist = media(dated_playlist(10, sequence=50))
    out = filter_window(playlist, dates(playlist), at(8), at(24), ended=False)
    assert uris(out) == ["s2.ts", "s3.ts", "s4.ts", "s5.ts"]
    assert "#EXT-X-MEDIA-SEQUENCE:52\n" in out
    assert out.startswith("#EXTM3U\n") and out.endswith("\n")
    assert "#EXT-X-ENDLIST" not in out


def test_encoder_left_running_into_part_two() -> None:
    # The contract's case: during the grace after Part I, the playlist lists Part I only.
    playlist = media(dated_playlist(30))  # 0 .. 116 s
    out = filter_window(playlist, dates(playlist), T0, at(60), ended=True)
    assert uris(out) == [f"s{n}.ts" for n in range(15)]
    assert out.count("#EXT-X-ENDLIST") == 1 and out.endswith("#EXT-X-ENDLIST\n")


def test_dates_given_are_authoritative_over_the_playlist() -> None:
    playlist = media(dated_playlist(4))
    first_seen = {"s0.ts": at(-100), "s1.ts": at(10), "s3.ts": at(11)}  # s2 never seen
    assert uris(filter_window(playlist, first_seen, T0, at(60), ended=False)) == ["s3.ts"]


def test_the_last_contiguous_run_is_kept_with_true_sequence_numbers() -> None:
    text = dated_playlist(2, sequence=7) + (
        "#EXT-X-DISCONTINUITY\n#EXTINF:4,\nlate0.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:4,\nlate1.ts\n"
        "#EXTINF:4,\nlate2.ts\n"
    )
    playlist = media(text)
    window = {"s0.ts": at(0), "s1.ts": at(4), "late0.ts": at(999), "late1.ts": at(8)}
    window |= {"late2.ts": at(12)}
    out = filter_window(playlist, window, T0, at(60), ended=False)
    assert uris(out) == ["late1.ts", "late2.ts"]
    again = media(out)
    assert again.media_sequence == 10
    assert again.discontinuity_sequence == 1
    assert again.segments[0].tags == ("#EXT-X-DISCONTINUITY", "#EXTINF:4,")


def test_nothing_qualifying_gives_an_empty_valid_playlist() -> None:
    playlist = media(dated_playlist(3, sequence=40) + "#EXT-X-DISCONTINUITY\n")
    out = filter_window(playlist, dates(playlist), at(3600), at(7200), ended=False)
    again = media(out)
    assert again.segments == ()
    assert again.media_sequence == 43
    assert "#EXT-X-TARGETDURATION:4\n" in out
    empty = filter_window(media("#EXTM3U\n"), {}, T0, at(1), ended=True)
    assert empty == (
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-DISCONTINUITY-SEQUENCE:0\n#EXT-X-ENDLIST\n"
    )


@pytest.mark.parametrize(
    ("origin_ended", "ended", "count"),
    [(False, False, 0), (False, True, 1), (True, False, 1), (True, True, 1)],
)
def test_endlist_is_written_exactly_once_when_due(
    origin_ended: bool, ended: bool, count: int
) -> None:
    playlist = media(dated_playlist(3, extra="#EXT-X-ENDLIST\n" if origin_ended else ""))
    assert playlist.ended is origin_ended
    out = filter_window(playlist, dates(playlist), T0, at(60), ended=ended)
    assert out.count("#EXT-X-ENDLIST") == count
    assert media(out).ended is bool(count)


def test_key_and_map_in_effect_are_repeated_before_the_first_kept_segment() -> None:
    text = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n"
        '#EXT-X-KEY:METHOD=AES-128,URI="k1.key"\n#EXT-X-MAP:URI="init1.mp4"\n'
        f"{stamp(at(0))}\n#EXTINF:4,\na.m4s\n"
        '#EXT-X-MAP:URI="init2.mp4"\n#EXTINF:4,\nb.m4s\n'
        '#EXT-X-KEY:METHOD=AES-128,URI="k2.key"\n#EXTINF:4,\nc.m4s\n'
        "#EXTINF:4,\nd.m4s\n"
    )
    playlist = media(text, "v1/index.m3u8")
    assert support_names(playlist, "v1/index.m3u8") == {
        "v1/k1.key": None,
        "v1/k2.key": None,
        "v1/init1.mp4": None,
        "v1/init2.mp4": None,
    }
    out = filter_window(playlist, dates(playlist), at(12), at(60), ended=False)
    assert out.split("\n")[-5:] == [
        '#EXT-X-KEY:METHOD=AES-128,URI="k2.key"',
        '#EXT-X-MAP:URI="init2.mp4"',
        "#EXTINF:4,",
        "d.m4s",
        "",
    ]
    # The first kept segment has its own KEY: only the MAP is repeated.
    out = filter_window(playlist, dates(playlist), at(8), at(60), ended=False)
    assert out.count("#EXT-X-KEY") == 1 and 'URI="k1.key"' not in out
    assert out.count('#EXT-X-MAP:URI="init2.mp4"') == 1
    # From the start: nothing to repeat, nothing doubled.
    out = filter_window(playlist, dates(playlist), T0, at(60), ended=False)
    assert out.count("#EXT-X-KEY") == 2 and out.count("#EXT-X-MAP") == 2


def test_low_latency_and_promise_tags_are_dropped() -> None:
    text = (
        "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:EVENT\n"
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3\n"
        "#EXT-X-PART-INF:PART-TARGET=1\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        f'{stamp(at(0))}\n#EXT-X-DATERANGE:ID="p2",START-DATE="2021-11-18T11:00:00Z"\n'
        '#EXT-X-PART:DURATION=1,URI="a.0.ts"\n#EXTINF:4,\na.ts\n'
        '#EXT-X-PART:DURATION=1,URI="b.0.ts",INDEPENDENT=YES\n'
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="b.1.ts"\n'
        '#EXT-X-RENDITION-REPORT:URI="../v2/index.m3u8",LAST-MSN=1\n'
    )
    out = filter_window(media(text), {"a.ts": T0}, T0, at(60), ended=False)
    assert out == (
        "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:4\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n"
        f"{stamp(at(0))}\n#EXTINF:4,\na.ts\n"
    )


def test_skipped_segments_keep_their_sequence_numbers() -> None:
    text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n#EXTINF:4,\na.ts\n"
    playlist = media(text)
    assert playlist.segments[0].sequence == 13
    assert "#EXT-X-MEDIA-SEQUENCE:13\n" in filter_window(
        playlist, {"a.ts": T0}, T0, at(4), ended=False
    )


def test_target_duration_is_computed_when_the_origin_omits_it() -> None:
    playlist = media("#EXTM3U\n#EXTINF:5.6,\na.ts\n#EXTINF:2,\nb.ts\n")
    out = filter_window(playlist, {"b.ts": T0}, T0, at(1), ended=False)
    assert "#EXT-X-TARGETDURATION:6\n" in out


# Properties

ORIGIN_URIS = ["https://cdn.example/x.ts", "/abs.ts", "../../out.ts", "../up.ts", "a b.ts"]


@st.composite
def playlists(draw: st.DrawFn) -> tuple[str, str]:
    """A random media playlist: random durations, PDTs (jumping about or missing), odd URIs."""
    path = draw(st.sampled_from(["index.m3u8", "v1/index.m3u8", "a/b/index.m3u8"]))
    lines = ["#EXTM3U"]
    if draw(st.booleans()):
        lines.append(f"#EXT-X-TARGETDURATION:{draw(st.integers(1, 12))}")
    lines.append(f"#EXT-X-MEDIA-SEQUENCE:{draw(st.integers(0, 10**6))}")
    if draw(st.booleans()):
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{draw(st.integers(0, 100))}")
    count = draw(st.integers(0, 25))
    for n in range(count):
        if draw(st.integers(0, 9)) == 0:
            lines.append("#EXT-X-DISCONTINUITY")
        if draw(st.integers(0, 9)) == 0:
            lines.append(f'#EXT-X-KEY:METHOD=AES-128,URI="k{n}.key"')
        if draw(st.integers(0, 9)) == 0:
            lines.append(f'#EXT-X-MAP:URI="init{n}.mp4"')
        if draw(st.integers(0, 2)) == 0:
            lines.append(stamp(at(draw(st.integers(-7200, 7200)))))
        if draw(st.integers(0, 9)) == 0:
            lines.append(f'#EXT-X-PART:DURATION=1,URI="p{n}.ts"')
        duration = draw(st.floats(0.1, 12, allow_nan=False).map(lambda d: round(d, 3)))
        lines.append(f"#EXTINF:{duration},")
        roll = draw(st.integers(0, 9))
        lines.append(draw(st.sampled_from(ORIGIN_URIS)) if roll == 0 else f"seg{n}.ts?v={roll}")
    if draw(st.booleans()):
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n", path


moments = st.integers(-9000, 9000).map(at)


@pytest.mark.fuzz
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    playlists(),
    moments,
    st.integers(-60, 9000),
    st.booleans(),
    st.randoms(use_true_random=False),
)
def test_window_never_lists_a_segment_dated_outside_it(
    case: tuple[str, str],
    start: dt.datetime,
    length: int,
    ended: bool,
    rng: random.Random,
) -> None:
    text, path = case
    playlist = media(text, path)
    # Authoritative dates: the segments' own (or first-seen, spread out), random, or none.
    # Raw URIs are dated too: a URI that is not a name must still never be listed.
    own = dates(playlist)
    given_dates: dict[str, dt.datetime] = {s.uri: T0 for s in playlist.segments}
    for i, segment in enumerate(playlist.segments):
        roll = rng.random()
        if segment.name is None or roll >= 0.9:
            continue
        if roll < 0.6:
            given_dates[segment.name] = own.get(segment.name, at(4 * i))
        else:
            given_dates[segment.name] = at(rng.randint(-9000, 9000))
    if given_dates and rng.random() < 0.5:  # often open the window at a segment's date
        start = rng.choice(sorted(given_dates.values())) - dt.timedelta(seconds=rng.randint(0, 5))
    end = start + dt.timedelta(seconds=length)

    out = filter_window(playlist, given_dates, start, end, ended=ended)

    served = media(out, path)  # re-parses
    for segment in served.segments:
        assert segment.name is not None
        assert whole_inside(given_dates[segment.name], segment.duration, start, end)
    fits = [
        s.name is not None
        and s.name in given_dates
        and whole_inside(given_dates[s.name], s.duration, start, end)
        for s in playlist.segments
    ]
    kept = [s.uri for s in served.segments]
    event(f"kept {min(len(kept), 3)}")
    if kept:
        last = max(i for i, ok in enumerate(fits) if ok)
        first = last - len(kept) + 1
        assert kept == [s.uri for s in playlist.segments[first : last + 1]]
        assert first == 0 or not fits[first - 1]
        assert served.media_sequence == playlist.segments[first].sequence
        assert [s.sequence for s in served.segments] == [
            s.sequence for s in playlist.segments[first : last + 1]
        ]
        dropped = sum(
            tag == "#EXT-X-DISCONTINUITY" for s in playlist.segments[:first] for tag in s.tags
        )
        assert served.discontinuity_sequence == playlist.discontinuity_sequence + dropped
    else:
        assert not any(fits)
    assert out.count("#EXT-X-ENDLIST") == (1 if ended or playlist.ended else 0)
    assert "#EXT-X-PART" not in out
    assert out.startswith("#EXTM3U\n") and out.endswith("\n")
    assert "#EXT-X-TARGETDURATION:" in out


@settings(max_examples=200)
@given(playlists())
def test_dated_segments_follow_their_program_date_times(case: tuple[str, str]) -> None:
    text, path = case
    playlist = media(text, path)
    segments = playlist.segments
    if not playlist.has_dates:
        assert all(s.date is None for s in segments)
        return
    for i, segment in enumerate(segments):
        assert segment.date is not None
        own = [t for t in segment.tags if t.startswith("#EXT-X-PROGRAM-DATE-TIME:")]
        if own:
            assert segment.date == dt.datetime.fromisoformat(own[0].partition(":")[2])
        elif _dated_before(segments, i):
            previous = segments[i - 1]
            assert previous.date is not None
            assert segment.date == previous.date + dt.timedelta(seconds=previous.duration)
        else:
            following = segments[i + 1].date
            assert following is not None
            assert segment.date == following - dt.timedelta(seconds=segment.duration)


def _dated_before(segments: tuple[Segment, ...], i: int) -> bool:
    return any(t.startswith("#EXT-X-PROGRAM-DATE-TIME:") for s in segments[:i] for t in s.tags)


@settings(max_examples=500)
@given(st.text())
def test_parse_raises_nothing_but_origin_unavailable_on_any_text(text: str) -> None:
    for candidate in (text, "#EXTM3U\n" + text):
        try:
            parse(candidate, "v1/index.m3u8")
        except OriginUnavailable:
            pass


TAG_LINES = st.sampled_from(
    [
        "#EXTINF:",
        "#EXTINF:4,",
        "#EXTINF:1e3,",
        "#EXT-X-PROGRAM-DATE-TIME:",
        "#EXT-X-PROGRAM-DATE-TIME:2021-11-18T10:00:00Z",
        "#EXT-X-PROGRAM-DATE-TIME:0001-01-01T00:00:00+23:59",
        "#EXT-X-MEDIA-SEQUENCE:",
        "#EXT-X-MEDIA-SEQUENCE:99999999999999999999999",
        "#EXT-X-SKIP:SKIPPED-SEGMENTS=x",
        "#EXT-X-TARGETDURATION:",
        "#EXT-X-STREAM-INF:BANDWIDTH=1",
        '#EXT-X-MEDIA:URI="',
        '#EXT-X-MEDIA:URI="../../a.m3u8"',
        '#EXT-X-KEY:URI="k',
        "#EXT-X-ENDLIST",
        "#EXT-X-DISCONTINUITY",
        "a.ts",
        "../a.ts",
        "",
    ]
)


@settings(max_examples=500)
@given(st.lists(st.one_of(TAG_LINES, st.text(max_size=12)), max_size=20), moments, moments)
def test_playlist_shaped_noise_parses_or_fails_as_origin_unavailable(
    lines: list[str], start: dt.datetime, end: dt.datetime
) -> None:
    try:
        parsed = parse("\n".join(["#EXTM3U", *lines]), "v1/index.m3u8")
    except OriginUnavailable:
        return
    if isinstance(parsed, MediaPlaylist):
        out = filter_window(parsed, dates(parsed), start, end, ended=False)
        assert isinstance(parse(out, "v1/index.m3u8"), MediaPlaylist)
        support_names(parsed, "v1/index.m3u8")
