"""The stream gate over HTTP: windows, Part II blocked, the grace, the recording, paths."""

from __future__ import annotations

import inspect
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
from httpx2 import Response
from starlette.testclient import TestClient

from gateway.core.clock import FrozenClock
from gateway.settings import Settings, load_settings
from gateway.store import Store
from gateway.store.sqlite import SqliteStore
from gateway.web.app import create_app
from tests.conftest import SECRET, helsinki, seminar_toml
from tests.support.hls import listed, segment_bytes
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


def test_ranges_are_answered_as_rfc_9110_says(gateway: Gateway) -> None:
    """Found by a black-box pass: an unknown range unit was 416 (it is to be ignored), a
    last byte past 18 digits 416 (it is to be clamped), and a 416 said no size."""
    [(name, _), *_] = encoder(gateway.tmp, "2021-11-18T10:29:40", 3)
    viewer, whole = gateway.login(), segment_bytes(name)
    assert name in listed(viewer.get("/live/index.m3u8").text)
    other_unit = viewer.get(f"/live/{name}", headers={"Range": "items=0-5"})
    assert other_unit.status_code == 200 and other_unit.content == whole
    # The gateway sends no validator, so no If-Range matches: the range is ignored and the
    # whole judged and sent (RFC 9110 13.1.5); nginx, which does send them, asks the same.
    if_range = viewer.get(f"/live/{name}", headers={"Range": "bytes=0-5", "If-Range": '"x"'})
    assert if_range.status_code == 200 and if_range.content == whole
    huge = viewer.get(f"/live/{name}", headers={"Range": "bytes=2-" + "9" * 23})
    assert huge.status_code == 206 and huge.content == whole[2:]
    assert huge.headers["content-range"] == f"bytes 2-{len(whole) - 1}/{len(whole)}"
    for asked in (f"bytes={len(whole)}-", "bytes=0-1,5-9", "bytes=x-y"):
        past = viewer.get(f"/live/{name}", headers={"Range": asked})
        assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(whole)}"


def test_part_two_is_refused_naming_it_and_status_says_blocked(any_gateway: Gateway) -> None:
    viewer = any_gateway.login()
    any_gateway.clock.now = helsinki("2021-11-18T14:00")
    refused = viewer.get("/live/index.m3u8")
    assert refused.status_code == 403
    assert refused.json()["part"] == "Part II"
    assert "Part II is not streamed" in refused.json()["message"]
    assert "Part III" in refused.json()["message"]
    # the day left out on the day itself, as everywhere else (it said "18 November 2021")
    assert "17:10" in refused.json()["message"] and "November" not in refused.json()["message"]
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
    viewer = gw.login()
    gw.clock.now = helsinki("2021-11-18T12:44:59")
    encoder(gw.tmp, "2021-11-18T12:44:40", 4)  # what has been made by now: to 12:44:56
    assert listed(viewer.get("/live/index.m3u8").text) == [f"seg{n}.ts" for n in range(4)]

    gw.clock.now = helsinki("2021-11-18T12:45:10")  # inside the 60 s grace
    segments = encoder(gw.tmp, "2021-11-18T12:44:40", 7)  # 12:44:40 ... 12:45:04 (+4 s)
    part_one = [n for n, when in segments if when < helsinki("2021-11-18T12:45")]
    part_two = [n for n, when in segments if when >= helsinki("2021-11-18T12:45")]
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


def watched(gw: Gateway, at: str, count: int, **kwargs: Any) -> int:
    """The encoder has written `count` no-PDT 4 s segments by `at`; the gateway looks."""
    gw.clock.now = helsinki(at)
    encoder(gw.tmp, "2021-11-18T00:00", count, dates=False, **kwargs)
    return gw.observe()


def test_origin_without_dates_is_dated_back_from_the_live_edge(any_gateway: Gateway) -> None:
    gw = any_gateway
    viewer = gw.login()
    watched(gw, "2021-11-18T15:00:00", 3)  # Part II, a first look: nothing dated yet
    watched(gw, "2021-11-18T15:00:02", 4)  # it grew: seg3 ended by now, seg0-2 before it
    # Part III, after a gap in watching: a first look again, then the playlist grows.
    watched(gw, "2021-11-18T17:10:05", 5)
    assert listed(viewer.get("/live/index.m3u8").text) == []
    watched(gw, "2021-11-18T17:10:07", 6)  # seg5 ended by 17:10:07, may have begun 17:09:59
    watched(gw, "2021-11-18T17:10:11", 7)  # seg6: 17:10:07 at the latest, 17:10:03 earliest
    playlist = viewer.get("/live/index.m3u8")
    assert listed(playlist.text) == ["seg6.ts"]
    assert "#EXT-X-MEDIA-SEQUENCE:6" in playlist.text
    for name in ("seg0.ts", "seg3.ts", "seg4.ts", "seg5.ts"):  # Part II, or may straddle it
        assert viewer.get(f"/live/{name}").status_code == 403
    assert viewer.get("/live/seg6.ts").content == segment_bytes("seg6.ts")


def test_a_playlist_that_does_not_grow_is_never_dated(any_gateway: Gateway) -> None:
    gw = any_gateway
    viewer = gw.login()
    watched(gw, "2021-11-18T10:40:00", 3)
    watched(gw, "2021-11-18T10:40:02", 3)  # the same playlist: the encoder has stalled
    refused = viewer.get("/live/seg2.ts")
    assert refused.status_code == 403 and refused.json()["error"] == "segment_undated"
    assert listed(viewer.get("/live/index.m3u8").text) == []


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
    late_link = any_gateway.link_path(any_gateway.register("late@example.org"))
    late = any_gateway.browser().get(late_link, follow_redirects=False)
    assert late.status_code == 403  # the link itself closed with the recording


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
    live = gateway.tmp / "live"
    live.mkdir()
    (live / "index.m3u8").write_text("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2000000\nlive/v.m3u8\n")
    for count, at in ((2, "2021-11-18T10:40:00"), (3, "2021-11-18T10:40:02")):
        gateway.clock.now = helsinki(at)
        encoder(live, "2021-11-18T00:00", count, dates=False)
        (live / "live" / "index.m3u8").replace(live / "live" / "v.m3u8")
        assert gateway.observe() == count
    viewer = gateway.login()
    assert "live/v.m3u8" in viewer.get("/live/index.m3u8").text
    assert listed(viewer.get("/live/live/v.m3u8").text) == ["seg0.ts", "seg1.ts", "seg2.ts"]
    assert viewer.get("/live/live/seg0.ts").content == segment_bytes("seg0.ts")


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


# The hot path: segment dates kept in memory, one origin fetch however many viewers.

StoreCalls = list[tuple[str, str]]


class CountingStore:
    """The real store, noting each call (method, first argument); the calls themselves unchanged."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: StoreCalls = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if not inspect.iscoroutinefunction(method):
            return method

        async def noted(*args: Any, **kwargs: Any) -> Any:
            first = args[0] if args else ""
            if isinstance(first, dict | list | tuple | set):
                first = ",".join(sorted(first))
            self.calls.append((name, first if isinstance(first, str) else type(first).__name__))
            return await method(*args, **kwargs)

        return noted

    def live_calls(self) -> StoreCalls:
        """The calls that date segments (the names their keys are for) or look up names."""
        live = ("date_segments", "segment_dates")
        return [
            (name, ",".join(key.split("@")[0] for key in arg.split(",")) if name in live else arg)
            for name, arg in self.calls
            if name in live or arg.startswith("live.")
        ]


@pytest.fixture
def counted(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> Iterator[tuple[Gateway, CountingStore]]:
    """A gateway on a SQLite store whose calls are noted."""
    inner = SqliteStore(str(tmp_path / "counted.db"))
    store = CountingStore(inner)
    settings = make_settings()
    clock = FrozenClock(helsinki("2021-11-18T10:30"))
    app = create_app(
        settings, store=cast(Store, store), clock=clock, watch_interval=None, background=False
    )
    with TestClient(app, base_url="https://stream.example.org") as client:
        yield Gateway(client, clock, settings, tmp_path), store
        assert client.portal is not None
        client.portal.call(inner.close)


def test_known_segments_and_unchanged_playlists_cost_no_store_round_trip(
    counted: tuple[Gateway, CountingStore],
) -> None:
    gw, store = counted
    segments = encoder(gw.tmp, "2021-11-18T10:29:40", 5)
    names = [name for name, _ in segments]
    viewer = gw.login()
    assert listed(viewer.get("/live/index.m3u8").text) == names
    assert store.live_calls() == [
        ("segment_dates", ",".join(names)),
        ("date_segments", ",".join(names)),
    ]
    store.calls.clear()
    for _ in range(3):
        assert listed(viewer.get("/live/index.m3u8").text) == names
    for name in names:
        assert viewer.get(f"/live/{name}").content == segment_bytes(name)
    assert store.live_calls() == []

    gw.clock.now = helsinki("2021-11-18T10:30:08")
    encoder(gw.tmp, "2021-11-18T10:29:40", 7)  # two new segments: only they are written
    assert len(listed(viewer.get("/live/index.m3u8").text)) == 7
    assert store.live_calls() == [
        ("segment_dates", "seg5.ts,seg6.ts"),
        ("date_segments", "seg5.ts,seg6.ts"),
    ]
    store.calls.clear()
    # Never listed here: maybe dated by another replica? The store is asked about its
    # content, once there is some.
    assert viewer.get("/live/secret.ts").status_code == 404
    assert store.live_calls() == [("get_value", "live.support:secret.ts")]
    (gw.tmp / "live" / "secret.ts").write_bytes(b"not listed")
    store.calls.clear()
    assert viewer.get("/live/secret.ts").status_code == 404
    assert store.live_calls() == [
        ("get_value", "live.support:secret.ts"),
        ("segment_dates", "secret.ts"),
    ]


def test_replicas_list_and_refuse_alike_from_dates_in_the_store(
    make_gateway: Callable[..., Gateway], store_kind: str
) -> None:
    """Two replicas on one store, each with its memory: what one dated, the other obeys."""
    clock = FrozenClock(helsinki("2021-11-18T15:00"))  # Part II: the encoder runs, nobody watches
    first = make_gateway(kind=store_kind, clock=clock)
    second = make_gateway(kind=store_kind, clock=clock)
    watched(first, "2021-11-18T15:00:00", 3)
    watched(first, "2021-11-18T15:00:02", 4)  # seg0-3 dated in Part II by the first replica
    viewer = second.login()
    clock.now = helsinki("2021-11-18T17:10:30")  # Part III: the second looks for the first time
    assert listed(viewer.get("/live/index.m3u8").text) == []
    assert viewer.get("/live/seg0.ts").status_code == 403  # dated by the other replica

    watched(first, "2021-11-18T17:10:30", 5)  # a first look after the gap
    watched(first, "2021-11-18T17:10:32", 6)  # seg5 ended by now: dated in Part III
    watched(first, "2021-11-18T17:10:36", 7)
    assert viewer.get("/live/seg6.ts").content == segment_bytes("seg6.ts")  # asked by name

    # An origin with dates: Part II segments listed by one replica, asked for by name on the other.
    encoder(first.tmp, "2021-11-18T17:09:40", 12, first_seq=100)  # 5 in Part II, 7 in III
    clock.now = helsinki("2021-11-18T17:10:30")
    assert first.observe() == 12
    assert viewer.get("/live/seg100.ts").status_code == 403
    assert viewer.get("/live/seg105.ts").status_code == 200


class CountingOrigin(ThreadingHTTPServer):
    """A plain HTTP origin serving a folder, counting requests by path; each answer held back."""

    daemon_threads = False
    block_on_close = True
    request_queue_size = 128

    def __init__(self, folder: Path, delay: float) -> None:
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.delay = delay
        origin = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with origin.lock:
                    origin.seen[self.path] += 1
                time.sleep(origin.delay)
                super().do_GET()

        super().__init__(("127.0.0.1", 0), partial(Handler, directory=str(folder)))


@pytest.fixture
def http_origin(tmp_path: Path) -> Iterator[CountingOrigin]:
    (tmp_path / "live").mkdir()
    server = CountingOrigin(tmp_path / "live", delay=0.2)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_an_http_origin_is_asked_once_per_segment_whatever_the_viewers(
    tmp_path: Path, http_origin: CountingOrigin, make_gateway: Callable[..., Gateway]
) -> None:
    url = f"http://127.0.0.1:{http_origin.server_address[1]}/"
    text = seminar_toml(tmp_path).replace(f'live = "file://{tmp_path / "live"}"', f'live = "{url}"')
    (tmp_path / "event.toml").write_text(text)
    gw = make_gateway(
        settings=load_settings(tmp_path / "event.toml", {"GATEWAY_SECRET_KEYS": SECRET})
    )
    names = [name for name, _ in encoder(tmp_path, "2021-11-18T10:29:40", 5)]
    viewers = [gw.login(gw.register(f"viewer{n}@example.org")) for n in range(40)]

    def watch(viewer: TestClient) -> None:
        assert listed(viewer.get("/live/index.m3u8").text) == names
        for name in names:
            assert viewer.get(f"/live/{name}").content == segment_bytes(name)

    started = time.monotonic()
    with ThreadPoolExecutor(len(viewers)) as pool:
        list(pool.map(watch, viewers))
    took = time.monotonic() - started
    assert {name: http_origin.seen[f"/{name}"] for name in names} == dict.fromkeys(names, 1)
    assert http_origin.seen["/index.m3u8"] <= 1 + took  # at most once a second


def test_the_gate_answers_get_and_head_and_leaves_other_methods_to_the_routes(
    gateway: Gateway,
) -> None:
    encoder(gateway.tmp, "2021-11-18T10:29:40", 3)
    viewer = gateway.login()
    assert viewer.get("/live/index.m3u8").status_code == 200  # lists (and dates) seg0
    got = viewer.get("/live/seg0.ts")
    head = viewer.head("/live/seg0.ts")
    assert got.status_code == 200 and got.content == segment_bytes("seg0.ts")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" not in got.headers  # media: no document to protect
    posted = viewer.post("/live/seg0.ts")
    assert posted.status_code == 405 and "GET" in posted.headers["allow"]
    assert viewer.post("/auth").status_code == 405
    for json_route in ("/openapi.json", "/admin/whoami", "/api/status"):  # JSON, refusals too
        refused = viewer.put(json_route)
        assert refused.status_code == 405 and refused.headers["content-type"].startswith(
            "application/json"
        ), json_route
    assert viewer.get("/live", follow_redirects=False).status_code == 404  # no slash redirects


def test_refusals_from_the_gate_carry_the_media_headers(gateway: Gateway) -> None:
    refused = gateway.client.get("/live/index.m3u8")
    assert refused.status_code == 401 and refused.json()["error"] == "no_session"
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert refused.headers["cache-control"] == "no-store"
    bad = gateway.login().get("/live/..%2Fetc%2Fpasswd")
    assert bad.status_code in (400, 404)


def test_auth_decides_for_nginx_by_the_original_uri(gateway: Gateway) -> None:
    segments = encoder(gateway.tmp, "2021-11-18T12:44:40", 8)  # the last ones in Part II
    viewer = gateway.login()
    gateway.clock.now = helsinki("2021-11-18T12:44:59")
    assert viewer.get("/live/index.m3u8").status_code == 200  # lists and dates them

    def auth(uri: str, client: TestClient = viewer) -> Response:
        return client.get("/auth", headers={"X-Original-URI": uri})

    granted = auth(f"/live/{segments[0][0]}?x=1")
    assert granted.status_code == 204 and granted.content == b""
    assert "content-length" not in granted.headers  # a 204 has none
    assert granted.headers["cache-control"] == "private, max-age=1"
    assert auth("/live/index.m3u8").status_code == 204
    part_two = next(name for name, when in segments if when >= helsinki("2021-11-18T12:45"))
    assert auth(f"/live/{part_two}").status_code in (403, 404)  # asked for by name
    assert auth("/live/seg0.ts", gateway.client).status_code == 401  # no session
    assert auth("/admin/").status_code == 404
    assert auth("/live/..%2Fsecret").status_code in (400, 404)


def test_an_original_uri_that_is_no_url_is_not_found(gateway: Gateway) -> None:
    """urlsplit raises on a bracket never closed: that was a 500 (a traceback)."""
    viewer = gateway.login()
    for uri in ("//[x/live/seg0.ts", "http://[::1/live/seg0.ts"):
        answer = viewer.get("/auth", headers={"X-Original-URI": uri})
        assert answer.status_code == 404 and answer.json()["error"] == "not_found"


def test_nginx_may_share_a_playlist_for_a_second_but_never_across_a_part_edge(
    gateway: Gateway,
) -> None:
    """`X-Accel-Expires`: how long the filtered playlist stays true for every viewer; the
    browser is told never to keep it (deploy/nginx caches it by URI, issue 19)."""
    encoder(gateway.tmp, "2021-11-18T10:29:40", 5)
    viewer = gateway.login()
    answer = viewer.get("/live/index.m3u8")
    assert answer.headers["x-accel-expires"] == "1"
    assert answer.headers["cache-control"] == "no-cache, no-store"
    gateway.clock.now = helsinki("2021-11-18T12:44:59.600000")  # Part I ends in 0.4 s
    assert viewer.get("/live/index.m3u8").headers["x-accel-expires"] == "0"
    segment = viewer.get(f"/live/{listed(answer.text)[0]}")
    assert "x-accel-expires" not in segment.headers  # segments: nginx's own rules
