"""End to end: `gateway serve` processes, the CLI and a real store, on the real clock."""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest

from tests.conftest import REDIS_URL
from tests.e2e.conftest import Server, event_toml, run_cli
from tests.support.hls import listed, segment_bytes, write_live

pytestmark = pytest.mark.e2e


def _setup(tmp_path: Path, store_url: str, **kwargs: bool) -> Path:
    now = dt.datetime.now(dt.UTC)  # noqa: TID251 - end-to-end tests run on the real clock
    write_live(tmp_path / "live", now - dt.timedelta(seconds=20), 5)
    config = tmp_path / "event.toml"
    config.write_text(event_toml(tmp_path, now, store_url, **kwargs))
    return config


def _open(server: Server, link: str) -> httpx2.Client:
    browser = server.client()
    answer = browser.get(urlsplit(link).path, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/watch"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    return browser


def _refused_within(browser: httpx2.Client, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while True:
        status = browser.get("/live/index.m3u8").status_code
        if status != 200 or time.monotonic() > deadline:
            return status
        time.sleep(0.25)


def test_a_link_from_the_cli_plays_part_one_then_revoke_stops_it(
    tmp_path: Path, start_server: Callable[[Path], Server]
) -> None:
    config = _setup(tmp_path, "sqlite:///gateway.db")
    server = start_server(config)
    link = (
        run_cli(config, "registrants", "add", "--email", "e2e@example.org", "--name", "E2E")
        .stdout.strip()
        .splitlines()[-1]
    )
    browser = _open(server, link)
    assert browser.get("/watch").status_code == 200
    playlist = browser.get("/live/index.m3u8")
    assert playlist.status_code == 200
    for name in listed(playlist.text):
        assert browser.get(f"/live/{name}").content == segment_bytes(name)
    run_cli(config, "links", "revoke", "e2e@example.org")
    assert _refused_within(browser, 6) == 403
    assert server.client().get(urlsplit(link).path).status_code == 403


def test_part_two_is_refused_by_a_running_server(
    tmp_path: Path, start_server: Callable[[Path], Server]
) -> None:
    config = _setup(tmp_path, "sqlite:///gateway.db", part_two_now=True)
    server = start_server(config)
    link = (
        run_cli(config, "registrants", "add", "--email", "p2@example.org", "--name", "P2")
        .stdout.strip()
        .splitlines()[-1]
    )
    browser = _open(server, link)
    refused = browser.get("/live/index.m3u8")
    assert refused.status_code == 403 and refused.json()["part"] == "Part II"
    status = browser.get("/api/status").json()
    assert (status["phase"], status["part"], status["live"]) == ("blocked", "Part II", False)


def test_raw_traversal_requests_never_escape(
    tmp_path: Path, start_server: Callable[[Path], Server]
) -> None:
    server = start_server(_setup(tmp_path, "sqlite:///gateway.db"))
    port = int(server.url.rsplit(":", 1)[1])
    for target in (
        "/recording/../event.toml",
        "/live/../../etc/passwd",
        "/live/%2e%2e/event.toml",
        "/live/..%5cevent.toml",
        "/live/%00",
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        status = int(reply.split(b" ", 2)[1])
        assert status in (400, 401, 404), (target, status)
        assert b"[event]" not in reply and b"root:" not in reply


def test_two_servers_on_one_redis_share_sessions_and_revocation(
    tmp_path: Path, redis_prefix: str, start_server: Callable[[Path], Server]
) -> None:
    # redis_prefix comes first so its clean-up runs after the servers have stopped.
    store_url = f"{REDIS_URL}?prefix={redis_prefix}"
    config = _setup(tmp_path, store_url)
    first, second = start_server(config), start_server(config)
    link = (
        run_cli(config, "registrants", "add", "--email", "r@example.org", "--name", "R")
        .stdout.strip()
        .splitlines()[-1]
    )
    browser = _open(first, link)
    cookie = browser.cookies
    other = second.client()
    other.cookies = cookie
    assert other.get("/live/index.m3u8").status_code == 200
    assert listed(other.get("/live/index.m3u8").text) == listed(
        browser.get("/live/index.m3u8").text
    )
    run_cli(config, "links", "revoke", "r@example.org")
    assert _refused_within(browser, 6) == 403
    assert _refused_within(other, 6) == 403
    for _ in range(10):  # both replicas append at once: still one chain
        browser.get("/live/index.m3u8")
        other.get("/live/index.m3u8")
        server_client = first.client() if _ % 2 else second.client()
        server_client.get(urlsplit(link).path)  # revoked: each refusal is an event
    verified = run_cli(config, "audit", "verify")
    assert verified.stdout.strip().startswith(tuple(f"{n} events valid" for n in range(10, 200)))


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def test_huge_and_trickled_headers_are_refused_with_memory_bounded(
    tmp_path: Path, start_server: Callable[[Path], Server]
) -> None:
    """The review's finding: an 8 MB header answered 200, and ten connections trickling
    32 MB header lines took RSS from 61 to 405 MB. `gateway serve` alone, no nginx."""
    server = start_server(_setup(tmp_path, "sqlite:///gateway.db"))
    port = int(server.url.rsplit(":", 1)[1])
    assert server.client().get("/api/status").status_code == 200
    before = _rss_kib(server.process.pid)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(
                b"GET /api/status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2**20 + b"\r\n\r\n"
            )
        except OSError:
            pass  # closed while sending: it refused
        reply = sock.recv(65536)
    assert not reply.startswith(b"HTTP/1.1 200") and reply[:12] in (b"", b"HTTP/1.1 431")
    trickling = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(10)]
    line = b"a" * 64 * 1024
    cut: list[socket.socket] = []
    try:
        for sock in trickling:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Trickle: ")
        for _ in range(512):  # up to 32 MB each, if it never said no
            for sock in [s for s in trickling if s not in cut]:
                try:
                    sock.sendall(line)
                except OSError:
                    cut.append(sock)
            if len(cut) == len(trickling):
                break
    finally:
        for sock in trickling:
            sock.close()
    assert len(cut) == 10, f"{10 - len(cut)} trickled headers were still read after 32 MB"
    grown = (_rss_kib(server.process.pid) - before) / 1024
    assert grown < 40, f"RSS grew by {grown:.0f} MB"
    assert server.client().get("/api/status").status_code == 200
