"""The origin misbehaves: down, slow, trickling, huge, malformed.

Viewers get 502/504 within the configured timeout (never a 500, never a hang),
memory stays bounded, and the origin is not stormed with retries.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gateway.core.clock import FrozenClock
from gateway.settings import load_settings
from tests.conftest import SECRET, helsinki, seminar_toml
from tests.faults.conftest import Figures
from tests.support.ports import free_port
from tests.web.conftest import Gateway

TIMEOUT = 1.0


class Misbehaving(BaseHTTPRequestHandler):
    mode = "error"
    requests = 0
    listener: ThreadingHTTPServer | None = None

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).requests += 1
        mode = type(self).mode
        if mode == "error":
            self.send_error(500)
        elif mode == "slow":
            time.sleep(TIMEOUT * 3)
            self.send_error(200)
        elif mode == "trickle":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"#")
                    self.wfile.flush()
                    time.sleep(TIMEOUT / 3)
            except OSError:
                pass
        elif mode == "huge":
            self.send_response(200)
            self.send_header("Content-Length", str(50 * 1024 * 1024))
            self.end_headers()
            try:
                chunk = b"#EXTINF:4,\nx.ts\n" * 4096
                for _ in range(50 * 1024 * 1024 // len(chunk)):
                    self.wfile.write(chunk)
            except OSError:
                pass
        elif mode == "malformed":
            body = b"this is not a playlist\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


@pytest.fixture
def origin() -> Iterator[tuple[str, type[Misbehaving]]]:
    handler: type[Misbehaving] = type("Handler", (Misbehaving,), {})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    server.daemon_threads = True
    handler.listener = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", handler
    if handler.listener is not None:
        server.shutdown()
        server.server_close()


@pytest.fixture
def gateway(
    tmp_path: Path, origin: tuple[str, type[Misbehaving]], make_gateway: Callable[..., Gateway]
) -> Gateway:
    url, _ = origin
    text = seminar_toml(tmp_path).replace(f'live = "file://{tmp_path / "live"}"', f'live = "{url}"')
    text = text.replace(
        "end_grace_seconds = 60", f"end_grace_seconds = 60\ntimeout_seconds = {TIMEOUT}"
    )
    (tmp_path / "event.toml").write_text(text)
    settings = load_settings(tmp_path / "event.toml", {"GATEWAY_SECRET_KEYS": SECRET})
    assert settings.origin.live == url
    return make_gateway(settings=settings, clock=FrozenClock(helsinki("2021-11-18T10:30")))


@pytest.mark.parametrize(
    ("mode", "statuses"),
    [
        ("down", {502}),
        ("error", {502}),
        ("slow", {504}),
        ("trickle", {502, 504}),
        ("huge", {502}),
        ("malformed", {502}),
    ],
)
def test_a_failing_origin_is_a_quick_502_or_504(
    gateway: Gateway,
    origin: tuple[str, type[Misbehaving]],
    mode: str,
    statuses: set[int],
    record_figures: Callable[[str], Figures],
) -> None:
    figures = record_figures(f"origin {mode}")
    _, handler = origin
    handler.mode = mode
    if mode == "down" and handler.listener is not None:  # nothing listens any more
        handler.listener.shutdown()
        handler.listener.server_close()
        handler.listener = None
    viewer = gateway.login()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(5):
        started = time.monotonic()
        answer = viewer.get("/live/index.m3u8")
        took = time.monotonic() - started
        figures.requests += 1
        figures.server_errors += answer.status_code == 500
        assert answer.status_code in statuses, (mode, answer.status_code)
        assert took < TIMEOUT * 3 + 1, (mode, took)
        assert "error" in answer.json()
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mib < 40, f"memory grew {grown_mib:.0f} MiB for a 50 MB playlist"
    assert handler.requests <= 5 * 3  # bounded retries, no storm
