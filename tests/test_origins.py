"""Origins: a local folder and a real local HTTP server, including the ways they fail."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from gateway.core.errors import NotFound, OriginTimeout, OriginUnavailable
from gateway.stream.origins import MAX_PLAYLIST_BYTES, FileOrigin, HttpOrigin, make_origin
from tests.support.origin_server import (
    OriginHandler,
    OriginServer,
    fixture_client,  # noqa: F401 - the `client` fixture
    serving,
)

pytestmark = pytest.mark.anyio
ENDLESS_LIMIT = 50 * 1024 * 1024


# A local folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    live = tmp_path / "live"
    (live / "v1").mkdir(parents=True)
    (live / "v1" / "seg.ts").write_bytes(bytes(range(256)) * 4)
    (live / "index.m3u8").write_text("#EXTM3U\n")
    (tmp_path / "secret.txt").write_text("outside")
    (tmp_path / "live2").mkdir()
    (tmp_path / "live2" / "secret.ts").write_text("sibling")
    return live


async def test_file_origin_reads_files_exactly(root: Path) -> None:
    origin = FileOrigin(root)
    assert await origin.fetch("v1/seg.ts") == bytes(range(256)) * 4
    assert await origin.fetch("index.m3u8") == b"#EXTM3U\n"
    await origin.close()


@pytest.mark.parametrize("path", ["missing.ts", "nope/missing.ts", "index.m3u8/x.ts"])
async def test_file_origin_missing_is_not_found(root: Path, path: str) -> None:
    with pytest.raises(NotFound):
        await FileOrigin(root).fetch(path)


async def test_file_origin_refuses_symlinks_pointing_out(root: Path) -> None:
    (root / "escape.ts").symlink_to(root.parent / "secret.txt")
    (root / "v1" / "up").symlink_to(root.parent)
    (root / "alias.ts").symlink_to(root / "v1" / "seg.ts")
    origin = FileOrigin(root)
    for path in ("escape.ts", "v1/up/secret.txt", "v1/up/live2/secret.ts"):
        with pytest.raises(NotFound):
            await origin.fetch(path)
    assert await origin.fetch("alias.ts") == await origin.fetch("v1/seg.ts")


async def test_file_origin_sibling_folder_sharing_its_prefix_is_outside(root: Path) -> None:
    (root / "sib.ts").symlink_to(root.parent / "live2" / "secret.ts")
    origin = FileOrigin(root)
    # Unchecked paths too: the origin refuses on its own, whatever the caller let through.
    for path in ("sib.ts", "../live2/secret.ts", "../secret.txt", "/etc/passwd", "", "."):
        with pytest.raises(NotFound):
            await origin.fetch(path)


async def test_file_origin_root_may_itself_be_a_symlink(root: Path) -> None:
    link = root.parent / "current"
    link.symlink_to(root)
    assert await FileOrigin(link).fetch("index.m3u8") == b"#EXTM3U\n"


async def test_file_origin_directories_fifos_loops_and_odd_names_are_not_found(root: Path) -> None:
    os.mkfifo(root / "pipe.ts")
    (root / "loop.ts").symlink_to(root / "loop.ts")
    origin = FileOrigin(root)
    for path in ("v1", "pipe.ts", "loop.ts", "seg\x00.ts", "x" * 5000):
        with pytest.raises(NotFound):
            await origin.fetch(path)


async def test_file_origin_refuses_files_over_its_limit(root: Path) -> None:
    (root / "ten.ts").write_bytes(b"0123456789")
    assert await FileOrigin(root, max_bytes=10).fetch("ten.ts") == b"0123456789"
    with pytest.raises(OriginUnavailable):
        await FileOrigin(root, max_bytes=9).fetch("ten.ts")


# A real HTTP server


class Server(OriginServer):
    base_path = "/base/"

    def __init__(self) -> None:
        super().__init__(Handler)
        self.seen: list[str] = []
        self.endless_done = threading.Event()
        self.endless_sent = 0
        self.tries: dict[str, int] = {}


class Handler(OriginHandler):
    server: Server

    def do_GET(self) -> None:
        self.server.seen.append(self.path)
        route = self.path.removeprefix("/base/")
        try:
            if route.startswith("ok/"):
                self.answer(200, b"body of " + route.encode())
            elif route in ("missing", "gone", "broken"):
                self.answer({"missing": 404, "gone": 410, "broken": 500}[route], b"no")
            elif route == "moved":
                self.send_response(302)
                self.send_header("Location", self.server.url + "ok/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif route == "slow":
                self.server.release.wait(10)
                self.answer(200, b"late")
            elif route in ("declared", "declared.m3u8"):
                self.send_response(200)
                self.send_header("Content-Length", str(10**9))
                self.end_headers()
                self.close_connection = True
            elif route == "endless":
                self.endless()
            elif route.startswith("flaky/"):  # flaky/<failures>/<name>: 5xx that many times
                failures = int(route.split("/")[1])
                with self.server.lock:
                    self.server.tries[route] = tries = self.server.tries.get(route, 0) + 1
                if tries <= failures:
                    self.answer(503 if tries % 2 else 500, b"busy")
                else:
                    self.answer(200, b"body of " + route.encode())
            else:
                self.answer(400, b"unknown route")
        except OSError:
            self.close_connection = True  # the client went away, as some tests intend

    def endless(self) -> None:
        """A body with no length that goes on until the client hangs up (or 50 MB)."""
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b"#EXTINF:4,\nseg.ts\n" * 4096
        try:
            while self.server.endless_sent < ENDLESS_LIMIT and not self.server.release.is_set():
                self.wfile.write(chunk)
                self.server.endless_sent += len(chunk)
        finally:
            self.server.endless_done.set()


@pytest.fixture
def server() -> Iterator[Server]:
    yield from serving(Server())


async def test_http_origin_fetches_quoted_paths(server: Server, client: httpx2.AsyncClient) -> None:
    origin = HttpOrigin(server.url, client)
    assert await origin.fetch("ok/v1/seg.ts") == b"body of ok/v1/seg.ts"
    assert await origin.fetch("ok/a+b~c.ts") == b"body of ok/a%2Bb~c.ts"
    assert server.seen == ["/base/ok/v1/seg.ts", "/base/ok/a%2Bb~c.ts"]
    await origin.close()
    assert not client.is_closed  # a shared client stays open


@pytest.mark.parametrize("route", ["missing", "gone"])
async def test_http_origin_404_and_410_are_not_found(
    server: Server, client: httpx2.AsyncClient, route: str
) -> None:
    with pytest.raises(NotFound):
        await HttpOrigin(server.url, client).fetch(route)


async def test_http_origin_server_error_is_unavailable(
    server: Server, client: httpx2.AsyncClient
) -> None:
    with pytest.raises(OriginUnavailable, match="500"):
        await HttpOrigin(server.url, client).fetch("broken")


async def test_http_origin_does_not_follow_redirects(server: Server) -> None:
    async with httpx2.AsyncClient(follow_redirects=True) as client:
        with pytest.raises(OriginUnavailable, match="302"):
            await HttpOrigin(server.url, client).fetch("moved")
    assert server.seen == ["/base/moved"]


async def test_http_origin_slow_answer_is_a_timeout(
    server: Server, client: httpx2.AsyncClient
) -> None:
    with pytest.raises(OriginTimeout):
        await HttpOrigin(server.url, client, timeout=0.3).fetch("slow")


async def test_http_origin_stops_reading_an_endless_body(
    server: Server, client: httpx2.AsyncClient
) -> None:
    with pytest.raises(OriginUnavailable, match="larger than"):
        await HttpOrigin(server.url, client, max_bytes=1024 * 1024).fetch("endless")
    assert server.endless_done.wait(10)
    assert not server.release.is_set()  # the server stopped because the client hung up
    assert server.endless_sent < ENDLESS_LIMIT // 4


async def test_http_origin_refuses_a_declared_oversize_body_at_once(
    server: Server, client: httpx2.AsyncClient
) -> None:
    with pytest.raises(OriginUnavailable, match="larger than"):
        await HttpOrigin(server.url, client, max_bytes=1000).fetch("declared")


async def test_http_origin_refused_connection_is_unavailable(client: httpx2.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OriginUnavailable):
        await HttpOrigin(f"http://127.0.0.1:{port}/", client).fetch("ok/x.ts")


async def test_http_origin_tries_again_after_a_5xx_with_jitter(
    server: Server, client: httpx2.AsyncClient
) -> None:
    origin = HttpOrigin(server.url, client, backoff=(0.05, 0.2))
    started = time.monotonic()
    assert await origin.fetch("flaky/2/a.ts") == b"body of flaky/2/a.ts"
    waited = time.monotonic() - started
    assert origin.requests == 3 and server.tries["flaky/2/a.ts"] == 3
    assert 0.1 <= waited < 1.0  # two pauses of 50-200 ms


async def test_http_origin_gives_up_after_its_retries(
    server: Server, client: httpx2.AsyncClient
) -> None:
    origin = HttpOrigin(server.url, client, retries=2, backoff=(0.01, 0.02))
    with pytest.raises(OriginUnavailable, match="503"):
        await origin.fetch("flaky/9/b.ts")
    assert origin.requests == 3
    broken = HttpOrigin(server.url, client, backoff=(0.01, 0.02))
    with pytest.raises(OriginUnavailable, match="500"):  # a plain 500 is tried again too
        await broken.fetch("broken")
    assert broken.requests == 3
    once = HttpOrigin(server.url, client, retries=0)
    with pytest.raises(OriginUnavailable, match="500"):
        await once.fetch("broken")
    assert once.requests == 1


async def test_http_origin_never_retries_past_its_timeout(
    server: Server, client: httpx2.AsyncClient
) -> None:
    origin = HttpOrigin(server.url, client, timeout=0.3, retries=5, backoff=(0.2, 0.2))
    started = time.monotonic()
    with pytest.raises(OriginUnavailable):
        await origin.fetch("flaky/9/c.ts")
    assert time.monotonic() - started < 0.3
    assert origin.requests == 1  # a second try would have ended after the timeout


async def test_http_origin_does_not_retry_answers_that_will_not_change(
    server: Server, client: httpx2.AsyncClient
) -> None:
    origin = HttpOrigin(server.url, client, backoff=(0.01, 0.02))
    for route, error in (("missing", NotFound), ("moved", OriginUnavailable)):
        with pytest.raises(error):
            await origin.fetch(route)
    assert origin.requests == 2


async def test_http_origin_timeout_bounds_the_whole_fetch(
    server: Server, client: httpx2.AsyncClient
) -> None:
    started = time.monotonic()
    with pytest.raises(OriginTimeout):
        await HttpOrigin(server.url, client, timeout=0.3).fetch("slow")
    assert time.monotonic() - started < 1.0


async def test_http_origin_refused_connection_is_tried_again(client: httpx2.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    origin = HttpOrigin(f"http://127.0.0.1:{port}/", client, backoff=(0.01, 0.02))
    with pytest.raises(OriginUnavailable, match="ConnectError"):
        await origin.fetch("ok/x.ts")
    assert origin.requests == 3


# Choosing an origin from its URL


async def test_make_origin_file_url(root: Path) -> None:
    origin = make_origin(f"file://{root}", timeout=1.0)
    assert isinstance(origin.inner, FileOrigin)
    assert await origin.fetch("index.m3u8") == b"#EXTM3U\n"
    await origin.close()


async def test_make_origin_file_url_keeps_bodies_while_the_file_is_unchanged(root: Path) -> None:
    origin = make_origin(f"file://{root}", timeout=1.0)
    with pytest.raises(NotFound):
        await origin.fetch("late.m3u8")
    (root / "late.m3u8").write_text("#EXTM3U\n")
    assert await origin.fetch("late.m3u8") == b"#EXTM3U\n"  # no failure remembered
    playlist = await origin.fetch("index.m3u8")
    assert await origin.fetch("index.m3u8") is playlist  # unchanged: from memory
    (root / "index.m3u8").write_text("#EXTM3U\n#EXT-X-VERSION:3\n")
    assert await origin.fetch("index.m3u8") == b"#EXTM3U\n#EXT-X-VERSION:3\n"  # seen at once
    (root / "index.m3u8").write_text("#EXTM3U\n#EXT-X-VERSION:4\n")  # even at the same size
    assert await origin.fetch("index.m3u8") == b"#EXTM3U\n#EXT-X-VERSION:4\n"
    segment = await origin.fetch("v1/seg.ts")
    assert await origin.fetch("v1/seg.ts") is segment
    (root / "v1" / "seg.ts").unlink()
    with pytest.raises(NotFound):
        await origin.fetch("v1/seg.ts")
    await origin.close()


async def test_make_origin_http_url_owns_its_client_unless_given(
    server: Server, client: httpx2.AsyncClient
) -> None:
    own = make_origin(server.url.rstrip("/"), timeout=1.0)
    assert isinstance(own.inner, HttpOrigin)
    assert await own.fetch("ok/x.ts") == b"body of ok/x.ts"
    await own.close()
    assert own.inner.client.is_closed

    shared = make_origin(server.url, timeout=1.0, client=client, max_bytes=5)
    assert isinstance(shared.inner, HttpOrigin) and shared.inner.client is client
    with pytest.raises(OriginUnavailable):
        await shared.fetch("ok/x.ts")
    await shared.close()
    assert not client.is_closed


@pytest.mark.parametrize(
    "url", ["ftp://host/x/", "file://host/srv/live", "file:relative/path", "http:///nohost", ""]
)
def test_make_origin_refuses_other_urls(url: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        make_origin(url, timeout=1.0)


async def test_playlists_over_their_own_limit_are_refused(
    root: Path, server: Server, client: httpx2.AsyncClient
) -> None:
    (root / "big.m3u8").write_bytes(b"#EXTM3U\n" + b"#" * MAX_PLAYLIST_BYTES)
    with pytest.raises(OriginUnavailable, match="larger than"):
        await FileOrigin(root).fetch("big.m3u8")
    (root / "big.ts").write_bytes(b"#EXTM3U\n" + b"#" * MAX_PLAYLIST_BYTES)
    assert len(await FileOrigin(root).fetch("big.ts")) > MAX_PLAYLIST_BYTES  # a segment may be
    with pytest.raises(OriginUnavailable, match="larger than"):  # declared: refused unread
        await HttpOrigin(server.url, client).fetch("declared.m3u8")
