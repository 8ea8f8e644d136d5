"""What `gateway serve` sets up around the app: the allocator, and limits on requests."""

from __future__ import annotations

import platform
import socket
import time
from collections.abc import Iterator

import pytest

from gateway.web import server
from gateway.web.server import steady_memory
from tests.support.served import Served


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_allocator_is_told_to_give_big_blocks_back() -> None:
    assert steady_memory() is True


# Limits of `gateway serve`'s own HTTP protocol (GuardedHttp), on a real uvicorn server


def status_of(reply: bytes) -> int | None:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else None


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with Served() as running:
        yield running


def test_an_ordinary_request_passes(served: Served) -> None:
    reply = served.ask(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\n", b"abc"
    )
    assert status_of(reply) == 200 and b"ok 3" in reply


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n", 431),
        (b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413),
    ],
    ids=["1MB-header", "long-target", "200-fields", "big-body"],
)
def test_oversized_requests_are_refused_and_closed(
    served: Served, head: bytes, status: int
) -> None:
    reply = served.ask(head, pieces=40)
    assert status_of(reply) in (status, None)  # the answer, or closed before it could be read
    assert b"ok" not in reply


def test_a_refusal_says_what_was_refused_in_a_line_a_person_can_read(served: Served) -> None:
    """Found by a black-box pass: a 1.4 MB CSV uploaded to the console got a bare 413
    with an empty body, so the browser showed a blank page."""
    reply = served.ask(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert status_of(reply) == 413 and b"content-type: text/html; charset=utf-8" in head.lower()
    assert b"at most 1 MiB" in body and b"Nothing was stored" in body
    assert b"content-length: %d" % len(body) in head.lower()


def test_a_chunked_body_over_the_limit_is_413(served: Served) -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"%x\r\n" % 65536 + b"b" * 65536 + b"\r\n"
    reply = served.ask(head, chunk * 20 + b"0\r\n\r\n")
    assert status_of(reply) in (413, None) and b"ok" not in reply


def test_a_request_trickled_past_the_deadline_is_408(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "REQUEST_DEADLINE", 0.5)
    with Served() as quick, socket.create_connection(("127.0.0.1", quick.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        started = time.monotonic()
        reply = sock.recv(65536)
        assert status_of(reply) == 408 and time.monotonic() - started < 3
        assert sock.recv(65536) == b""  # closed
        silent = socket.create_connection(("127.0.0.1", quick.port), timeout=5)
        with silent:  # a connection that never says anything is closed too
            assert status_of(silent.recv(65536)) == 408
