"""Slow clients and a connection flood against the deploy config: nginx holds.

Hundreds of connections that trickle their request headers (slowloris) from
one address: nginx caps them per address and drops them after its header
timeout, while everyone else — health checks included — is answered at once.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, event_toml
from tests.faults.conftest import LONG, Figures
from tests.support.nginx import Nginx

pytestmark = pytest.mark.e2e
SLOW = 600 if LONG else 300


def _slow_connection(port: int) -> socket.socket | None:
    sock = socket.socket()
    sock.settimeout(2)
    sock.bind(("127.0.0.2", 0))  # not the host itself, which nginx exempts from limits
    try:
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /watch HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    except OSError:
        sock.close()
        return None
    return sock


def test_slowloris_and_a_flood_leave_others_served(
    tmp_path: Path,
    start_server: Callable[..., Server],
    start_nginx: Callable[..., Nginx],
    record_figures: Callable[[str], Figures],
) -> None:
    figures = record_figures(f"slowloris: {SLOW} slow connections via nginx")
    now = dt.datetime.now(dt.UTC)  # noqa: TID251 - real processes run on the real clock
    config = tmp_path / "event.toml"
    config.write_text(event_toml(tmp_path, now, "sqlite:///gateway.db"))
    server = start_server(config)
    nginx = start_nginx(replicas=[int(server.url.rsplit(":", 1)[1])])
    slow = [s for s in (_slow_connection(nginx.http_port) for _ in range(SLOW)) if s]
    try:
        client = nginx.client()
        for _ in range(20):
            started = time.monotonic()
            answer = client.get("/api/status")
            figures.requests += 1
            figures.server_errors += answer.status_code >= 500
            assert answer.status_code == 200 and time.monotonic() - started < 1.0
        started = time.monotonic()
        dropped = 0
        deadline = started + 20
        while dropped < len(slow) and time.monotonic() < deadline:
            dropped = 0
            for sock in slow:
                try:
                    sock.settimeout(0.01)
                    closed = sock.recv(1024) == b""
                except (TimeoutError, BlockingIOError):
                    closed = False
                except OSError:
                    closed = True
                dropped += closed
            time.sleep(0.5)
        figures.recovery_seconds = time.monotonic() - started
        assert dropped == len(slow), f"{len(slow) - dropped} slow connections still held"
    finally:
        for sock in slow:
            sock.close()
