"""The local test stream: real H.264 segments that decode, and playlists the gateway parses."""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from pathlib import Path

import pytest

av = pytest.importorskip("av")

from gateway.core.playlists import MediaPlaylist, parse  # noqa: E402
from gateway.teststream import MISSING, LiveEncoder, write_recording  # noqa: E402

T0 = dt.datetime(2021, 11, 18, 10, 0, tzinfo=dt.UTC)


def small(folder: Path, seconds: float = 1.0, *, window: int = 6, keep: int = 60) -> LiveEncoder:
    """A live encoder at 320x180, 10 fps: quick to encode."""
    return LiveEncoder(
        folder, segment_seconds=seconds, window=window, keep=keep, width=320, height=180, fps=10
    )


def playlist(folder: Path) -> MediaPlaylist:
    parsed = parse((folder / "index.m3u8").read_text(), "index.m3u8")
    assert isinstance(parsed, MediaPlaylist)
    return parsed


def decode(path: Path, size: tuple[int, int]) -> tuple[list[int], bytes]:
    """The video PTS (90 kHz) of a segment, and the first frame's luma; checks codecs and size."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert audio.codec_context.name == "aac"
        assert (video.codec_context.width, video.codec_context.height) == size
        frames = list(container.decode(video=0))
    assert frames and frames[0].key_frame, f"{path.name} must start with a keyframe"
    assert frames[0].format.name == "yuv420p"
    return [f.pts for f in frames], bytes(frames[0].planes[0])


def test_recording_is_a_vod_of_decodable_segments(tmp_path: Path) -> None:
    write_recording(tmp_path, seconds=3, segment_seconds=1.0, title="Talk")
    text = (tmp_path / "index.m3u8").read_text()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and "#EXT-X-TARGETDURATION:1" in text
    parsed = playlist(tmp_path)
    assert parsed.ended
    assert [s.uri for s in parsed.segments] == ["rec00000.ts", "rec00001.ts", "rec00002.ts"]
    assert [s.duration for s in parsed.segments] == [1.0, 1.0, 1.0]
    pts = [decode(tmp_path / s.uri, (640, 360))[0] for s in parsed.segments]
    assert [len(p) for p in pts] == [25, 25, 25]
    assert pts[1][0] - pts[0][-1] == pts[2][0] - pts[1][-1] == 90_000 // 25

    write_recording(tmp_path, seconds=1.4, segment_seconds=1.0)  # rewrites, drops leftovers
    assert [s.duration for s in playlist(tmp_path).segments] == [1.0, 0.4]
    assert sorted(p.name for p in tmp_path.glob("*.ts")) == ["rec00000.ts", "rec00001.ts"]


def test_live_playlist_dates_and_sequence_numbers(tmp_path: Path) -> None:
    encoder = small(tmp_path, window=4)
    encoder.write_once(3, T0)
    text = (tmp_path / "index.m3u8").read_text()
    assert text.startswith("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n")
    assert "#EXT-X-ENDLIST" not in text
    assert "#EXT-X-PROGRAM-DATE-TIME:2021-11-18T10:00:01.000Z" in text
    parsed = playlist(tmp_path)
    assert parsed.media_sequence == 0 and not parsed.ended
    assert [s.uri for s in parsed.segments] == ["live000000.ts", "live000001.ts", "live000002.ts"]
    assert [s.date for s in parsed.segments] == [T0 + dt.timedelta(seconds=k) for k in range(3)]

    encoder.write_once(2, T0 + dt.timedelta(seconds=3))
    parsed = playlist(tmp_path)
    assert parsed.media_sequence == 1
    assert [s.sequence for s in parsed.segments] == [1, 2, 3, 4]
    assert parsed.segments[-1].date == T0 + dt.timedelta(seconds=4)

    restarted = small(tmp_path)
    restarted.write_once(1, T0 + dt.timedelta(seconds=60))
    parsed = playlist(tmp_path)
    assert (parsed.media_sequence, parsed.segments[0].uri) == (5, "live000005.ts")


def test_live_segments_play_on_from_one_another(tmp_path: Path) -> None:
    small(tmp_path).write_once(3, T0)
    decoded = [decode(tmp_path / f"live{k:06d}.ts", (320, 180)) for k in range(3)]
    frame = 90_000 // 10
    for (before, first_luma), (after, next_luma) in zip(decoded, decoded[1:], strict=False):
        assert len(before) == 10
        assert (after[0] - before[-1]) % 2**33 == frame  # MPEG-TS PTS run on across segments
        assert first_luma != next_luma  # the clock on the picture moves


def test_live_deletes_segments_older_than_keep(tmp_path: Path) -> None:
    small(tmp_path, window=2, keep=3).write_once(5, T0)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "index.m3u8",
        "live000002.ts",
        "live000003.ts",
        "live000004.ts",
    ]


def test_run_writes_in_real_time_and_stops(tmp_path: Path) -> None:
    encoder = small(tmp_path, 0.5)
    stop = threading.Event()
    thread = threading.Thread(target=encoder.run, args=(stop,), daemon=True)
    thread.start()
    time.sleep(1.6)
    stop.set()
    thread.join(timeout=3)
    assert not thread.is_alive()
    parsed = playlist(tmp_path)
    assert len(parsed.segments) >= 2 and parsed.has_dates
    dates = [s.date for s in parsed.segments if s.date is not None]
    assert len(dates) == len(parsed.segments)
    steps = {(b - a).total_seconds() for a, b in zip(dates, dates[1:], strict=False)}
    assert steps == {0.5}
    assert all((tmp_path / s.uri).stat().st_size > 0 for s in parsed.segments)


def test_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="whole number of frames"):
        LiveEncoder(tmp_path, segment_seconds=0.5, fps=25)
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(RuntimeError) as error:
        write_recording(tmp_path)
    assert str(error.value) == MISSING
    assert "pip install 'stream-gateway[demo]'" in MISSING
