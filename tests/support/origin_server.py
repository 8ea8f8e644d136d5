"""A real local HTTP origin run in a thread for a test; each test module adds its own routes.

Subclass `OriginServer` (with its `base_path`) and `OriginHandler` (with a do_GET); import
`fixture_client` for the `client` fixture.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

import httpx2
import pytest


class OriginServer(ThreadingHTTPServer):
    """A loopback HTTP server that keeps its handlers' errors for the test to check.

    `release` holds back the answers a test lets go of (set when the server stops);
    `lock` guards what the handlers count.
    """

    # Handler threads are joined on close, so no test leaves one running.
    daemon_threads = False
    block_on_close = True
    base_path = "/"

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.errors: list[str] = []

    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):  # clients hanging up is expected here
            self.errors.append(repr(error))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{self.base_path}"


class OriginHandler(BaseHTTPRequestHandler):
    """An HTTP/1.1 handler that logs nothing; subclasses add the routes (do_GET)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ServerT = TypeVar("ServerT", bound=OriginServer)


def serving(httpd: ServerT) -> Iterator[ServerT]:
    """Serve `httpd` in a thread, for a fixture to yield from; then stop it and check its errors."""
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd
    finally:
        httpd.release.set()
        httpd.shutdown()
        thread.join()
        httpd.server_close()
    assert httpd.errors == []


@pytest.fixture(name="client")  # named apart, so the tests' `client` arguments shadow nothing
async def fixture_client() -> AsyncIterator[httpx2.AsyncClient]:
    """An HTTP client for the origins under test."""
    async with httpx2.AsyncClient() as client:
        yield client
