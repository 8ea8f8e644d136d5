"""Debian's nginx with deploy/nginx/ in front of `gateway serve` processes, on the real clock.

nginx terminates TLS, proxies pages and playlists to the gateway replicas,
asks `/auth` for every segment and sends the bytes itself. Checked through
nginx only: a registrant plays (segments byte-identical, sent by nginx after a
grant), replicas share sessions and one can die, revocation bites within 5 s,
Part II is refused (also a Part II segment asked for by name during Part III),
and the gateway's 410 and 503 reach the client as such, never as nginx's 500.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar, cast

import httpx2
import pytest

from gateway.web.app import GatewayApp
from gateway.web.server import options
from tests.conftest import OwnRedis
from tests.deploy.conftest import Deployment, Origin
from tests.deploy.test_image_recipe import ROOT
from tests.e2e.conftest import run_cli
from tests.support.config import event_toml, part
from tests.support.hls import listed, segment_bytes, write_live, write_vod
from tests.support.nginx import Nginx, configure, render, require_nginx
from tests.support.origin_server import OriginHandler, OriginServer, serving
from tests.support.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

Part = tuple[str, dt.timedelta, dt.timedelta, bool]
MINUTE = dt.timedelta(minutes=1)


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)  # noqa: TID251 - end-to-end tests run on the real clock


def _event(
    tmp: Path,
    now: dt.datetime,
    store_url: str,
    parts: list[Part],
    *,
    recording_until: dt.timedelta = dt.timedelta(days=1),
    live: str = "live",
) -> Path:
    """An https event (so `__Host-` cookies, as deployed) with parts placed around `now`."""
    text = event_toml(
        title="nginx rehearsal",
        public_url="https://127.0.0.1",
        parts=[
            part(name, _utc(now + start), _utc(now + end), streamed=streamed)
            for name, start, end, streamed in parts
        ],
        recording_until=_utc(now + recording_until),
        live=live,
        recording="recording",
        store_url=store_url,
    )
    config = tmp / "event.toml"
    config.write_text(text)
    write_vod(tmp / "recording")
    return config


def _parts(one: int, two: int, three: int, end: int) -> list[Part]:
    """Part I, Part II (not streamed) and Part III back to back, edges in minutes from now."""
    return [
        ("Part I", one * MINUTE, two * MINUTE, True),
        ("Part II", two * MINUTE, three * MINUTE, False),
        ("Part III", three * MINUTE, end * MINUTE, True),
    ]


PART_ONE_NOW = _parts(-5, 10, 25, 40)


def _log_lines(nginx: Nginx, *paths: str, count: int = 1) -> list[str]:
    """Access log lines of these paths, once at least `count` (nginx logs after answering)."""
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in nginx.access_log() if any(f'"GET {p} ' in line for p in paths)]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def _auth_field(line: str, name: str) -> str:
    found = re.search(rf"\b{name}=(\S*)", line)
    return found.group(1) if found else ""


def _refused(answer: httpx2.Response, status: int, error: str | None = None) -> None:
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert "json" in answer.headers["content-type"], answer.headers
    if error is not None:
        assert answer.json()["error"] == error, answer.text


def test_the_rendered_deploy_config_passes_nginx_t(tmp_path: Path) -> None:
    require_nginx()
    for kind in ("file", "http"):
        origin = (
            {
                "GW_ORIGIN": "http",
                "GW_LIVE_ORIGIN_HOST": "http://127.0.0.1:9",
                "GW_LIVE_ORIGIN_PATH": "/hls/live/",
                "GW_RECORDING_ORIGIN_HOST": "http://127.0.0.1:9",
                "GW_RECORDING_ORIGIN_PATH": "/hls/recording/",
            }
            if kind == "http"
            else {}
        )
        nginx = configure(tmp_path / kind, replicas=[9, 10], origin_env=origin)
        checked = nginx.test_config()
        assert checked.returncode == 0, checked.stderr
        assert "test is successful" in checked.stderr


def test_render_refuses_a_config_with_placeholders_left(tmp_path: Path) -> None:
    env = {"GW_ORIGIN": "http", "GW_CACHE_DIR": str(tmp_path / "cache")}
    rendered = render(tmp_path, {**env, "GW_SERVER_NAME": "stream.example.org"})
    assert rendered.returncode == 2
    assert "GW_LIVE_ORIGIN_HOST" in rendered.stderr
    assert render(tmp_path, {"GW_ORIGIN": "ftp"}).returncode == 2
    nameless = render(tmp_path, env)  # server_name _: where would plain http go?
    assert nameless.returncode == 2 and "GW_PUBLIC_URL" in nameless.stderr


def test_floods_are_limited_per_address_and_bodies_are_capped(
    start_nginx: Callable[..., Nginx],
) -> None:
    # No replica answers (a closed port): limits act before nginx asks the gateway.
    nginx = start_nginx(replicas=[free_port()])
    outside = nginx.client(source="127.0.0.2")  # the host itself (127.0.0.1) is not limited
    statuses = Counter(outside.get(f"/w/token{i}").status_code for i in range(80))
    assert statuses[429] >= 10 and set(statuses) == {429, 503}, statuses
    here = nginx.client()
    assert {here.get(f"/w/token{i}").status_code for i in range(80)} == {503}
    down = here.get("/w/token")
    assert down.headers["retry-after"] == "5" and down.json()["error"] == "gateway_unavailable"
    big = here.post("/register", content=b"x" * 100_000)
    assert big.status_code == 413
    csv_file = here.post("/admin/registrants/import", content=b"x" * 500_000)
    assert csv_file.status_code == 503  # the console's CSV upload passes on (up to 1 MB)
    assert here.post("/admin/registrants/import", content=b"x" * 1_100_000).status_code == 413
    assert here.get("/metrics").status_code == 404
    # the ingest's callbacks never come from outside: nobody guesses stream keys here
    assert here.post("/ingest/publish", data={"name": "guess"}).status_code == 404


class _Decider(OriginHandler):
    """A replica that grants every `/auth` and notes the header names it was sent."""

    seen: ClassVar[list[set[str]]] = []

    def do_GET(self) -> None:
        if self.path == "/auth":
            type(self).seen.append({name.lower() for name in self.headers})
        self.answer(204 if self.path == "/auth" else 404, b"")


@pytest.fixture
def decider() -> Iterator[OriginServer]:
    """The recording replica, serving until nginx (started later, stopped first) has let
    go of its kept-alive connections."""
    yield from serving(OriginServer(_Decider))


def test_a_decision_is_asked_with_the_headers_it_needs_only(
    tmp_path: Path, decider: OriginServer, start_nginx: Callable[..., Nginx]
) -> None:
    """`/auth` reads the cookie, the original URI and its range (and the client address,
    from X-Forwarded-For); a browser sends a dozen more headers with every segment, and
    each would be parsed again by a replica for every decision."""
    live = tmp_path / "live"
    live.mkdir()
    (live / "seg1.ts").write_bytes(b"\x47" * 188)
    nginx = start_nginx(replicas=[decider.server_address[1]], live=live)
    browser = {
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0",
        "Accept": "*/*",
        "Accept-Language": "fi-FI,fi;q=0.9,en;q=0.8",
        "Accept-Encoding": "gzip, deflate, br, zstd",
        "Referer": "https://127.0.0.1/watch",
        "Origin": "https://127.0.0.1",
        "Sec-Fetch-Dest": "empty",
        "Sec-Fetch-Mode": "cors",
        "Sec-Fetch-Site": "same-origin",
        "sec-ch-ua-platform": '"Linux"',
        "Cookie": "__Host-gw_session=abc",
        "Range": "bytes=0-187",
    }
    answer = nginx.client().get("/live/seg1.ts", headers=browser)
    assert answer.status_code == 206 and answer.content == b"\x47" * 188
    assert _Decider.seen == [
        {"host", "x-forwarded-for", "x-forwarded-proto", "x-original-uri", "cookie", "range"}
    ]


class _GrantsThenDrops(OriginHandler):
    """A replica that grants every `/auth` and then drops the connection it is asked a
    playlist on (as one dying or stalling between the decision and the answer)."""

    def do_GET(self) -> None:
        if self.path == "/auth":
            self.answer(204, b"")
        else:
            self.close_connection = True  # closed with nothing said


@pytest.fixture
def grants_then_drops() -> Iterator[OriginServer]:
    yield from serving(OriginServer(_GrantsThenDrops))


def test_a_granted_playlist_no_replica_answers_is_nginx_s_503_with_retry_after(
    tmp_path: Path, grants_then_drops: OriginServer, start_nginx: Callable[..., Nginx]
) -> None:
    """The playlist's location sets error pages of its own (auth.conf), which replace the
    server's `502 504 = @gw_down`: nginx's bare HTML 502 reached the player, where every
    other request no replica answers gets the JSON 503 with Retry-After."""
    nginx = start_nginx(replicas=[grants_then_drops.server_address[1]], live=tmp_path)
    answer = nginx.client().get("/live/index.m3u8", headers={"Cookie": "__Host-gw_session=a"})
    assert answer.status_code == 503, (answer.status_code, answer.text[:200])
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["error"] == "gateway_unavailable"


def test_a_granted_segment_an_http_origin_fails_is_the_gateway_s_json_502(
    grants_then_drops: OriginServer, start_nginx: Callable[..., Nginx]
) -> None:
    """A segment of an http origin is fetched by nginx after the grant; an origin that is
    down was nginx's bare HTML 502, where the gateway says the same in its JSON."""
    down = f"http://127.0.0.1:{free_port()}"
    nginx = start_nginx(
        replicas=[grants_then_drops.server_address[1]],  # (asked /auth only: it grants)
        origin_env={
            "GW_ORIGIN": "http",
            "GW_LIVE_ORIGIN_HOST": down,
            "GW_LIVE_ORIGIN_PATH": "/live/",
            "GW_RECORDING_ORIGIN_HOST": down,
            "GW_RECORDING_ORIGIN_PATH": "/recording/",
        },
    )
    answer = nginx.client().get("/live/seg1.ts", headers={"Cookie": "__Host-gw_session=a"})
    assert answer.status_code == 502, (answer.status_code, answer.text[:200])
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json()["error"] == "origin_unavailable"


def test_two_replicas_behind_nginx_play_share_sessions_survive_a_death_and_revoke(
    tmp_path: Path, store_url: str, start_deployment: Callable[..., Deployment]
) -> None:
    now = _now()
    config = _event(tmp_path, now, store_url, PART_ONE_NOW)
    write_live(tmp_path / "live", now - dt.timedelta(seconds=20), 5)
    deployment = start_deployment(config, replicas=2)
    nginx = deployment.nginx
    browser = deployment.viewer("viewer@example.org")

    assert browser.get("/watch").status_code == 200
    playlist = browser.get("/live/index.m3u8")
    assert playlist.status_code == 200 and playlist.headers["content-type"].startswith(
        "application/vnd.apple.mpegurl"
    )
    names = listed(playlist.text)
    assert len(names) == 5
    for name in names:
        for _ in range(2):  # each time decided (a grant is kept from the second ask on)
            segment = browser.get(f"/live/{name}")
            assert segment.status_code == 200 and segment.content == segment_bytes(name)
            assert segment.headers["content-type"] == "video/mp2t"
    # nginx sent the bytes itself after the gateway's grant, asked of both replicas:
    # a session opened on one is known to the other.
    lines = _log_lines(nginx, *(f"/live/{name}" for name in names), count=10)
    assert len(lines) == 10, lines
    assert {_auth_field(line, "auth") for line in lines} == {"204"}, lines
    assert all(_auth_field(line, "upstream") in ("", "-") for line in lines), lines
    deciders = {_auth_field(line, "decided_by").rsplit(":", 1)[-1] for line in lines}
    assert {str(port) for port in deployment.ports} <= deciders, lines

    # The decision endpoint is not reachable from outside; plain http redirects to https.
    assert nginx.client().get("/auth").status_code == 404
    plain = httpx2.get(f"http://127.0.0.1:{nginx.http_port}/watch?x=1", follow_redirects=False)
    assert plain.status_code == 301
    assert plain.headers["location"] == "https://127.0.0.1/watch?x=1"
    # Without a session: the gateway's 401, not nginx's.
    _refused(nginx.client().get(f"/live/{names[0]}"), 401, "no_session")
    # Paths never escape, and whatever nginx does not match goes to the gateway.
    for bad in ("/live/%2e%2e/event.toml", "/live/..%2fevent.toml", "/live/.hidden.ts"):
        answer = browser.get(bad)
        assert answer.status_code in (400, 404), (bad, answer.status_code)
        assert b"[event]" not in answer.content
    # A name no playlist listed: 404 from the gateway, never the file.
    (tmp_path / "live" / "unlisted.ts").write_bytes(b"never listed")
    _refused(browser.get("/live/unlisted.ts"), 404)

    # One replica dies: everything keeps working through the other.
    first = deployment.servers[0].process
    first.kill()
    first.wait()
    for _ in range(5):
        assert browser.get("/live/index.m3u8").status_code == 200
        for name in names:
            assert browser.get(f"/live/{name}").content == segment_bytes(name)

    # Revoked: refused through nginx (segments included) within 5 s.
    run_cli(config, "links", "revoke", "viewer@example.org")
    revoked_at = time.monotonic()
    pending = {"/live/index.m3u8", *(f"/live/{name}" for name in names)}
    statuses: Counter[int] = Counter()
    while pending and time.monotonic() - revoked_at < 5:
        for path in sorted(pending):
            status = browser.get(path).status_code
            statuses[status] += 1
            if status != 200:
                pending.discard(path)
        time.sleep(0.1)
    assert not pending, f"still served {time.monotonic() - revoked_at:.1f} s after revoking"
    assert set(statuses) <= {200, 403}, statuses
    _refused(browser.get(f"/live/{names[0]}"), 403, "revoked")
    assert "[emerg]" not in nginx.error_log() and "[crit]" not in nginx.error_log()


def test_part_two_is_refused_through_nginx_even_by_exact_name_during_part_three(
    tmp_path: Path, store_url: str, start_deployment: Callable[..., Deployment]
) -> None:
    now = _now()
    config = _event(tmp_path, now, store_url, _parts(-90, -60, -2, 30))
    # The encoder ran through Part II: five segments dated in Part II, five in Part III.
    part_three = now.replace(microsecond=0) - 2 * MINUTE
    segments = write_live(tmp_path / "live", part_three - dt.timedelta(seconds=20), 10)
    part_two = [name for name, when in segments if when < part_three]
    part_three_names = [name for name, when in segments if when >= part_three]
    assert len(part_two) == 5 and len(part_three_names) == 5
    deployment = start_deployment(config)
    browser = deployment.viewer("late@example.org")

    playlist = browser.get("/live/index.m3u8")
    assert playlist.status_code == 200
    assert listed(playlist.text) == part_three_names
    for name in part_three_names:
        assert browser.get(f"/live/{name}").content == segment_bytes(name)
    for name in part_two:
        for _ in range(2):  # a refusal is never cached as a grant
            answer = browser.get(f"/live/{name}")
            _refused(answer, 403)
            assert segment_bytes(name) not in answer.content
    refusals = _log_lines(deployment.nginx, *(f"/live/{name}" for name in part_two), count=10)
    assert len(refusals) == 10 and all(_auth_field(line, "auth") == "403" for line in refusals)
    # The recording is not open yet: the gateway's 403 as well.
    _refused(browser.get("/recording/rec0.ts"), 403, "recording_not_yet")


def test_byte_ranges_reaching_part_two_are_refused_through_nginx(
    tmp_path: Path, store_url: str, start_deployment: Callable[..., Deployment]
) -> None:
    now = _now()
    config = _event(tmp_path, now, store_url, _parts(-90, -60, -2, 30))
    # One file, four 10 s chunks listed as byte ranges: two dated in Part II, two in Part III.
    part_three = now.replace(microsecond=0) - 2 * MINUTE
    live = tmp_path / "live"
    live.mkdir()
    chunks = [bytes([65 + n]) * 1000 for n in range(4)]
    (live / "stream.ts").write_bytes(b"".join(chunks))
    lines = ["#EXTM3U", "#EXT-X-VERSION:4", "#EXT-X-TARGETDURATION:10"]
    for n in range(4):
        date = part_three + dt.timedelta(seconds=10 * (n - 2))
        lines += [f"#EXT-X-PROGRAM-DATE-TIME:{date.isoformat()}", "#EXTINF:10,"]
        lines += [f"#EXT-X-BYTERANGE:1000@{1000 * n}", "stream.ts"]
    (live / "index.m3u8").write_text("\n".join(lines) + "\n")
    deployment = start_deployment(config)
    browser = deployment.viewer("ranges@example.org")

    playlist = browser.get("/live/index.m3u8").text
    assert "#EXT-X-BYTERANGE:1000@2000" in playlist and "@1000" not in playlist
    for _ in range(2):  # a grant for some bytes (kept a second by nginx) is not one for others
        inside = browser.get("/live/stream.ts", headers={"Range": "bytes=2000-3999"})
        assert inside.status_code == 206 and inside.content == chunks[2] + chunks[3]
        _refused(browser.get("/live/stream.ts", headers={"Range": "bytes=1999-2999"}), 403)
    _refused(browser.get("/live/stream.ts"), 403, "outside_window")
    # An If-Range that does not match makes nginx send the whole file instead of the range
    # (RFC 9110 13.1.5): it was decided by its range and sent whole, Part II's bytes with it.
    for if_range in ('"x"', "Thu, 01 Jan 1970 00:00:00 GMT"):
        whole = browser.get(
            "/live/stream.ts", headers={"Range": "bytes=2000-3999", "If-Range": if_range}
        )
        _refused(whole, 403, "outside_window")


def test_part_two_running_is_refused_through_nginx(
    tmp_path: Path, store_url: str, start_deployment: Callable[..., Deployment]
) -> None:
    now = _now()
    config = _event(tmp_path, now, store_url, _parts(-30, -10, 20, 40))
    segments = write_live(tmp_path / "live", now - dt.timedelta(seconds=20), 5)
    browser = start_deployment(config).viewer("p2@example.org")
    refused = browser.get("/live/index.m3u8")
    _refused(refused, 403)
    assert refused.json()["part"] == "Part II"
    for name, _ in segments:
        answer = browser.get(f"/live/{name}")
        _refused(answer, 403)
        assert answer.json()["part"] == "Part II"


def test_a_replica_keeps_an_idle_connection_longer_than_nginx_does() -> None:
    """uvicorn closed an idle connection after its default 5 s while nginx kept it 60 s to
    reuse: a request nginx sent on it as it closed got a 502 (the test below logged
    `auth=502, 410`), retried on another replica where it could be, a POST never."""
    conf = (ROOT / "deploy" / "nginx" / "gateway.conf").read_text()
    upstream = re.search(r"upstream gateway \{(.*?)\n\}", conf, re.S)
    assert upstream is not None
    idle = re.search(r"keepalive_timeout (\d+)s;", upstream[1])
    assert idle is not None
    ours = options(cast(GatewayApp, object()), host="::", port=8000, trusted_proxies="")
    assert ours["timeout_keep_alive"] > int(idle[1])


def test_the_gateways_410_reaches_the_client_through_nginx(
    tmp_path: Path, store_url: str, start_deployment: Callable[..., Deployment]
) -> None:
    now = _now()
    parts: list[Part] = [("Part I", -180 * MINUTE, -120 * MINUTE, True)]
    until = dt.timedelta(seconds=6)  # the link opens before, and no more after
    config = _event(tmp_path, now, store_url, parts, recording_until=until)
    write_live(tmp_path / "live", now - 3 * dt.timedelta(hours=1), 5)
    deployment = start_deployment(config)
    nginx = deployment.nginx
    browser = deployment.viewer("after@example.org")
    time.sleep(max(0.0, (now + until - _now()).total_seconds()) + 0.2)
    for path in ("/recording/rec0.ts", "/recording/index.m3u8", "/recording/rec0.ts"):
        _refused(browser.get(path), 410, "recording_expired")
    lines = _log_lines(nginx, "/recording/rec0.ts", count=2)
    assert len(lines) == 2 and all(_auth_field(line, "auth") == "410" for line in lines), lines
    _refused(nginx.client().get("/recording/rec1.ts"), 401, "no_session")


def test_a_store_outage_and_a_dead_gateway_are_503_with_retry_after_through_nginx(
    tmp_path: Path, own_redis: OwnRedis, start_deployment: Callable[..., Deployment]
) -> None:
    now = _now()
    config = _event(tmp_path, now, own_redis.url, PART_ONE_NOW)
    names = [name for name, _ in write_live(tmp_path / "live", now - MINUTE / 3, 5)]
    deployment = start_deployment(config)
    link = deployment.register("outage@example.org")
    browser = deployment.open(link)
    assert browser.get("/live/index.m3u8").status_code == 200
    assert browser.get(f"/live/{names[0]}").content == segment_bytes(names[0])

    own_redis.stop()
    # A session verified in the last 5 s may go on playing; then 503, never 401/403/500.
    paths = ("/live/index.m3u8", *(f"/live/{name}" for name in names))
    seen: Counter[int] = Counter()
    deadline = time.monotonic() + 20
    last = {path: 200 for path in paths}
    while any(status == 200 for status in last.values()) and time.monotonic() < deadline:
        for path in paths:
            last[path] = browser.get(path).status_code
            seen[last[path]] += 1
        time.sleep(0.2)
    assert set(seen) <= {200, 503}, seen
    for path in paths:
        answer = browser.get(path)
        assert answer.status_code == 503, (path, answer.status_code, answer.text)
        assert answer.headers["retry-after"].isdigit(), answer.headers
    opened = deployment.nginx.client().get(link)
    assert opened.status_code == 503 and opened.headers["retry-after"].isdigit()

    # No replica answers at all: still 503 with Retry-After, from nginx.
    server = deployment.servers[0].process
    server.kill()
    server.wait()
    for path in paths[:2]:
        answer = browser.get(path)
        assert answer.status_code == 503, (path, answer.status_code)
        assert answer.headers["retry-after"] == "5"
        assert answer.json()["error"] == "gateway_unavailable"


def test_an_http_origin_is_fetched_once_per_segment_through_nginx(
    tmp_path: Path,
    store_url: str,
    origin: Origin,
    start_deployment: Callable[..., Deployment],
) -> None:
    now = _now()
    config = _event(tmp_path, now, store_url, PART_ONE_NOW, live=origin.url + "/live/")
    live = tmp_path / "origin" / "live"
    write_live(live, now - dt.timedelta(seconds=20), 4)
    # One more listed, dated in Part II (an encoder's clock running ahead): never served.
    ahead = (now + 11 * MINUTE).isoformat(timespec="milliseconds")
    with (live / "index.m3u8").open("a") as playlist:
        playlist.write(f"#EXT-X-PROGRAM-DATE-TIME:{ahead}\n#EXTINF:4.000,\nahead.ts\n")
    (live / "ahead.ts").write_bytes(segment_bytes("ahead.ts"))
    deployment = start_deployment(
        config,
        origin_env={
            "GW_ORIGIN": "http",
            "GW_LIVE_ORIGIN_HOST": origin.url,
            "GW_LIVE_ORIGIN_PATH": "/live/",
            "GW_RECORDING_ORIGIN_HOST": origin.url,
            "GW_RECORDING_ORIGIN_PATH": "/recording/",
        },
    )
    viewers = [deployment.viewer(f"v{i}@example.org") for i in range(3)]
    names = listed(viewers[0].get("/live/index.m3u8").text)
    assert len(names) == 4
    # The gateways read each listed segment once, to know its content (what its date is for).
    read = {name: origin.counts[f"/live/{name}"] for name in [*names, "ahead.ts"]}
    # Every viewer asks for each segment at the same moment: one origin fetch each, by nginx.
    with ThreadPoolExecutor(len(viewers)) as pool:
        for name in names:
            path = f"/live/{name}"
            answers = pool.map(lambda viewer, path=path: viewer.get(path), viewers)
            for answer in answers:
                assert answer.status_code == 200 and answer.content == segment_bytes(name)
    assert all(origin.counts[f"/live/{name}"] <= read[name] + 1 for name in names), origin.counts
    for viewer in viewers:
        _refused(viewer.get("/live/ahead.ts"), 403)
    assert origin.counts["/live/ahead.ts"] == read["ahead.ts"]  # never fetched for a viewer


def test_no_symlink_followed_no_token_logged_no_redirect_from_the_host_header(
    tmp_path: Path, store_url: str, start_deployment: Callable[..., Deployment]
) -> None:
    config = _event(tmp_path, _now(), store_url, _parts(-90, -60, -30, -10))  # recording open
    names = listed((tmp_path / "recording" / "index.m3u8").read_text())
    outside = tmp_path / "secret.ts"
    outside.write_bytes(b"SECRET, not part of the recording")
    (tmp_path / "recording" / names[1]).unlink()
    (tmp_path / "recording" / names[1]).symlink_to(outside)
    deployment = start_deployment(config)
    link = deployment.register("viewer@example.org")
    browser = deployment.open(link)
    assert browser.get(f"/recording/{names[0]}").content == segment_bytes(names[0])
    followed = browser.get(f"/recording/{names[1]}")
    assert followed.status_code in (403, 404) and b"SECRET" not in followed.content
    evil = {"Host": "evil.example"}
    for path in (f"{link}/", "/watch/", "/live", "/admin"):
        answer = deployment.nginx.client().get(path, headers=evil, follow_redirects=False)
        assert "evil.example" not in answer.headers.get("location", ""), (path, answer.headers)
    plain = httpx2.get(
        f"http://127.0.0.1:{deployment.nginx.http_port}/watch", headers=evil, follow_redirects=False
    )
    assert plain.status_code == 301 and plain.headers["location"] == "https://127.0.0.1/watch"
    token = link.rsplit("/w/", 1)[1]
    signature = token.rsplit(".", 1)[1]
    # A link ending a sentence keeps its dot and still opens; the log cut at the last dot,
    # so it kept the signature (as it did after a doubled slash)
    for pasted in (f"/w/{token}.", f"/w/{token}.),", f"/w//{token}"):
        deployment.nginx.client().get(pasted, follow_redirects=False)
    logged = "\n".join(deployment.nginx.access_log())
    assert "/w/" in logged and signature not in logged and token not in logged
    assert f"/w/{token.rsplit('.', 1)[0]}.[cut]" in logged  # the registrant id, as the audit log
