"""Fixtures for the deploy tests: nginx from deploy/nginx/, gateway processes, a local origin."""

from __future__ import annotations

import http.server
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest

from tests.conftest import REDIS_URL
from tests.e2e.conftest import (
    Server,
    run_cli,
    start_server,  # noqa: F401 - the e2e tests' `gateway serve` fixture
)
from tests.support.nginx import Nginx, configure, require_nginx


@pytest.fixture
def start_nginx(tmp_path: Path) -> Iterator[Callable[..., Nginx]]:
    """Render deploy/nginx for the given gateway ports and start Debian's nginx on it."""
    require_nginx()
    started: list[Nginx] = []

    def start(*, replicas: list[int], **kwargs: Any) -> Nginx:
        nginx = configure(tmp_path / f"nginx{len(started)}", replicas=replicas, **kwargs)
        started.append(nginx)
        nginx.start()
        return nginx

    yield start
    for nginx in started:
        nginx.stop()


def _port(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


@dataclass
class Deployment:
    """`gateway serve` replicas on one event config, with Debian's nginx in front of them."""

    config: Path
    servers: list[Server]
    nginx: Nginx

    @property
    def ports(self) -> list[int]:
        """The replicas' ports: nginx's upstreams."""
        return [_port(server) for server in self.servers]

    def register(self, email: str) -> str:
        """A new registrant (`gateway registrants add`): the path of the personal link."""
        out = run_cli(self.config, "registrants", "add", "--email", email, "--name", "Viewer")
        return urlsplit(out.stdout.strip().splitlines()[-1]).path

    def open(self, link_path: str) -> httpx2.Client:
        """A browser of its own that opened this link through nginx: sent to /watch with a
        `__Host-` session cookie marked Secure."""
        browser = self.nginx.client()
        answer = browser.get(link_path)
        assert answer.status_code == 303 and answer.headers["location"] == "/watch", answer.text
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("__Host-gw_session=") and "Secure" in cookie, cookie
        return browser

    def viewer(self, email: str) -> httpx2.Client:
        """A new registrant's browser, signed in through nginx by the personal link."""
        return self.open(self.register(email))


@pytest.fixture
def start_deployment(
    start_server: Callable[..., Server],  # noqa: F811 - the fixture imported above
    start_nginx: Callable[..., Nginx],
) -> Callable[..., Deployment]:
    """Start `replicas` gateway processes on an event config, then nginx in front of them.

    nginx serves segments from the folders beside the config (`live/`, `recording/`)
    unless `origin_env` names an http origin (GW_ORIGIN=http and its GW_*_ORIGIN_*).
    """

    def start(
        config: Path, *, replicas: int = 1, origin_env: dict[str, str] | None = None
    ) -> Deployment:
        servers = [start_server(config) for _ in range(replicas)]
        nginx = start_nginx(
            replicas=[_port(server) for server in servers],
            live=config.parent / "live",
            recording=config.parent / "recording",
            origin_env=origin_env,
        )
        return Deployment(config, servers, nginx)

    return start


@pytest.fixture
def store_url(redis_prefix: str) -> str:
    """The shared Redis under this test's own key prefix (deleted afterwards).

    Ask for it before `start_deployment`, so the keys go only once the gateways have stopped.
    """
    return f"{REDIS_URL}?prefix={redis_prefix}"


class Origin(http.server.ThreadingHTTPServer):
    """An HTTP origin over a folder that counts the requests per path."""

    def __init__(self, folder: Path) -> None:
        self.counts: Counter[str] = Counter()
        counts = self.counts

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                counts[urlsplit(self.path).path] += 1
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        super().__init__(("127.0.0.1", 0), partial(Handler, directory=str(folder)))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[Origin]:
    """An http origin over `tmp_path/origin`, serving while the test runs."""
    server = Origin(tmp_path / "origin")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
