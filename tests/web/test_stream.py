"""The stream gate over HTTP: windows, Part II blocked, the grace, the recording, paths."""

from __future__ import annotations

import pytest

from tests.conftest import helsinki
from tests.hls import listed, segment_bytes
from tests.web.conftest import Gateway, encoder, recording


def test_part_one_plays_and_segments_are_byte_identical(any_gateway: Gateway) -> None:
    segments = encoder(any_gateway.tmp, "2021-11-18T10:29:40", 5)
    viewer = any_gateway.login()
    playlist = viewer.get("/live/index.m3u8")
    assert playlist.status_code == 200
    assert playlist.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert "no-store" in playlist.headers["cache-control"]
    assert listed(playlist.text) == [name for name, _ in segments]
    for name, _ in segments:
        answer = viewer.get(f"/live/{name}")
        assert answer.status_code == 200
        assert answer.content == segment_bytes(name)
        assert answer.headers["content-type"] == "video/mp2t"
        assert answer.headers["cache-control"].startswith("private")


def test_part_two_is_refused_naming_it_and_status_says_blocked(any_gateway: Gateway) -> None:
    viewer = any_gateway.login()
    any_gateway.clock.now = helsinki("2021-11-18T14:00")
    refused = viewer.get("/live/index.m3u8")
    assert refused.status_code == 403
    assert refused.json()["part"] == "Part II"
    assert "Part II is not streamed" in refused.json()["message"]
    assert "Part III" in refused.json()["message"]
    status = viewer.get("/api/status").json()
    assert status["phase"] == "blocked" and status["part"] == "Part II"
    assert status["live"] is False
    assert status["next_change"] == "2021-11-18T17:10:00+02:00"


def test_before_the_first_part_live_is_refused(gateway: Gateway) -> None:
    viewer = gateway.login()
    gateway.clock.now = helsinki("2021-11-18T09:58")
    assert viewer.get("/live/index.m3u8").status_code == 403
    assert viewer.get("/api/status").json()["phase"] == "before"


@pytest.mark.parametrize(
    "path", ["/live/index.m3u8", "/live/seg1.ts", "/recording/index.m3u8", "/watch"]
)
def test_without_a_session_everything_is_401(gateway: Gateway, path: str) -> None:
    answer = gateway.client.get(path)
    assert answer.status_code == 401
    if path == "/watch":
        assert "personal link" in answer.text


def test_encoder_left_running_into_part_two(any_gateway: Gateway) -> None:
    gw = any_gateway
    segments = encoder(gw.tmp, "2021-11-18T12:44:40", 8)  # 12:44:40 ... 12:45:08
    part_one = [n for n, when in segments if when < helsinki("2021-11-18T12:45")]
    part_two = [n for n, when in segments if when >= helsinki("2021-11-18T12:45")]
    viewer = gw.login()
    gw.clock.now = helsinki("2021-11-18T12:44:59")
    assert listed(viewer.get("/live/index.m3u8").text) == part_one
    assert viewer.get(f"/live/{part_two[0]}").status_code in (403, 404)

    gw.clock.now = helsinki("2021-11-18T12:45:10")  # inside the 60 s grace
    closing = viewer.get("/live/index.m3u8")
    assert closing.status_code == 200
    assert listed(closing.text) == part_one
    assert closing.text.rstrip().endswith("#EXT-X-ENDLIST")
    assert viewer.get(f"/live/{part_one[-1]}").status_code == 200
    assert viewer.get(f"/live/{part_two[0]}").status_code in (403, 404)

    gw.clock.now = helsinki("2021-11-18T12:50")
    assert viewer.get("/live/index.m3u8").status_code == 403
    assert viewer.get(f"/live/{part_one[-1]}").status_code == 403


def test_a_part_two_segment_asked_for_by_name_in_part_three_is_refused(gateway: Gateway) -> None:
    encoder(gateway.tmp, "2021-11-18T17:09:40", 12, first_seq=100)  # 5 in Part II, 7 in III
    viewer = gateway.login()
    gateway.clock.now = helsinki("2021-11-18T17:10:30")
    assert listed(viewer.get("/live/index.m3u8").text) == [f"seg{n}.ts" for n in range(105, 112)]
    assert viewer.get("/live/seg100.ts").status_code == 403
    assert viewer.get("/live/seg104.ts").status_code == 403
    assert viewer.get("/live/seg105.ts").status_code == 200


def test_origin_without_dates_is_dated_when_first_seen(any_gateway: Gateway) -> None:
    gw = any_gateway
    viewer = gw.login()
    gw.clock.now = helsinki("2021-11-18T15:00")  # Part II: the encoder runs, nobody watches
    encoder(gw.tmp, "2021-11-18T15:00", 3, dates=False, first_seq=0)
    assert gw.observe() == 3
    gw.clock.now = helsinki("2021-11-18T17:10:05")  # Part III: old and new segments listed
    encoder(gw.tmp, "2021-11-18T15:00", 5, dates=False, first_seq=0)
    playlist = viewer.get("/live/index.m3u8")
    assert listed(playlist.text) == ["seg3.ts", "seg4.ts"]
    assert "#EXT-X-MEDIA-SEQUENCE:3" in playlist.text
    assert viewer.get("/live/seg0.ts").status_code == 403
    assert viewer.get("/live/seg4.ts").content == segment_bytes("seg4.ts")


def test_a_segment_never_listed_is_not_found(gateway: Gateway) -> None:
    encoder(gateway.tmp, "2021-11-18T10:29:40", 2)
    viewer = gateway.login()
    (gateway.tmp / "live" / "secret.ts").write_bytes(b"not listed")
    assert viewer.get("/live/secret.ts").status_code == 404


def test_recording_window_and_bytes(any_gateway: Gateway) -> None:
    names = recording(any_gateway.tmp)
    viewer = any_gateway.login()
    any_gateway.clock.now = helsinki("2021-11-18T18:19")
    early = viewer.get("/recording/index.m3u8")
    assert early.status_code == 403 and early.json()["error"] == "recording_not_yet"
    any_gateway.clock.now = helsinki("2021-11-18T18:20")
    assert viewer.get("/recording/index.m3u8").status_code == 200
    assert viewer.get(f"/recording/{names[0]}").content == segment_bytes(names[0])
    any_gateway.clock.now = helsinki("2021-11-18T18:21")
    viewer = any_gateway.login()  # sessions last hours; a registrant comes back for the recording
    any_gateway.clock.now = helsinki("2021-12-18T23:59:59")
    assert viewer.get("/recording/index.m3u8").status_code in (401, 410)
    late = any_gateway.login()
    assert late.get("/recording/index.m3u8").status_code == 410


@pytest.mark.parametrize(
    "path",
    [
        "/live/../event.toml",
        "/live/%2e%2e/event.toml",
        "/live/%252e%252e/event.toml",
        "/live/..%2fevent.toml",
        "/live//etc/passwd",
        "/live/%2Fetc%2Fpasswd",
        "/live/a%00.ts",
        "/live/..\\event.toml",
        "/recording/..%2flive/index.m3u8",
        "/live/.hidden",
        "/recording/%2e%2e%2f%2e%2e%2fevent.toml",
        "/live/" + "a/" * 40 + "x.ts",
    ],
)
def test_paths_never_escape_the_origin(gateway: Gateway, path: str) -> None:
    encoder(gateway.tmp, "2021-11-18T10:29:40", 2)
    (gateway.tmp / "live2").mkdir()
    (gateway.tmp / "live2" / "index.m3u8").write_text("#EXTM3U\n")
    viewer = gateway.login()
    answer = viewer.get(path)
    assert answer.status_code in (400, 404), (path, answer.status_code)
    assert "[event]" not in answer.text and "root:" not in answer.text


def test_a_symlink_out_of_the_origin_is_not_followed(gateway: Gateway) -> None:
    encoder(gateway.tmp, "2021-11-18T10:29:40", 1)
    (gateway.tmp / "live" / "leak.m3u8").symlink_to(gateway.tmp / "event.toml")
    assert gateway.login().get("/live/leak.m3u8").status_code == 404


def test_origin_failure_is_502_not_500(gateway: Gateway) -> None:
    viewer = gateway.login()  # no live folder at all
    assert viewer.get("/live/index.m3u8").status_code == 404
    (gateway.tmp / "live").mkdir()
    (gateway.tmp / "live" / "index.m3u8").write_text("this is not a playlist")
    assert viewer.get("/live/index.m3u8").status_code == 502


def test_fmp4_init_section_is_served_while_a_window_is_open(gateway: Gateway) -> None:
    live = gateway.tmp / "live"
    live.mkdir()
    (live / "init.mp4").write_bytes(b"init section")
    (live / "s1.m4s").write_bytes(b"fragment")
    (live / "index.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:1\n"
        '#EXT-X-MAP:URI="init.mp4"\n#EXT-X-PROGRAM-DATE-TIME:2021-11-18T10:29:50+02:00\n'
        "#EXTINF:4.0,\ns1.m4s\n"
    )
    viewer = gateway.login()
    playlist = viewer.get("/live/index.m3u8").text
    assert '#EXT-X-MAP:URI="init.mp4"' in playlist
    assert viewer.get("/live/init.mp4").content == b"init section"
    assert viewer.get("/live/s1.m4s").headers["content-type"] == "video/iso.segment"
    gateway.clock.now = helsinki("2021-11-18T14:00")
    assert viewer.get("/live/init.mp4").status_code == 403


def test_a_multivariant_origin_is_watched_through_its_variants(gateway: Gateway) -> None:
    segments = encoder(gateway.tmp / "live", "2021-11-18T10:29:40", 3, dates=False)
    (gateway.tmp / "live" / "live" / "index.m3u8").rename(gateway.tmp / "live" / "live" / "v.m3u8")
    (gateway.tmp / "live" / "index.m3u8").write_text(
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2000000\nlive/v.m3u8\n"
    )
    assert gateway.observe() == 3
    viewer = gateway.login()
    assert "live/v.m3u8" in viewer.get("/live/index.m3u8").text
    assert listed(viewer.get("/live/live/v.m3u8").text) == [name for name, _ in segments]
    name = segments[0][0]
    assert viewer.get(f"/live/live/{name}").content == segment_bytes(name)


def test_the_kill_switch_stops_live_and_says_so(any_gateway: Gateway) -> None:
    encoder(any_gateway.tmp, "2021-11-18T10:29:40", 3)
    viewer = any_gateway.login()
    controls = any_gateway.services.gatekeeper.controls
    any_gateway.call(controls.set_stopped, True, actor="ops@ministry.example")
    refused = viewer.get("/live/index.m3u8")
    assert refused.status_code == 403 and refused.json()["error"] == "stopped_by_ops"
    assert viewer.get("/live/seg0.ts").status_code == 403
    assert viewer.get("/api/status").json()["phase"] == "stopped"
    assert "paused the stream" in viewer.get("/watch").text
    any_gateway.call(controls.set_stopped, False, actor="ops@ministry.example")
    assert viewer.get("/live/index.m3u8").status_code == 200
