"""nginx's `/auth` granted from memory (`StreamGate.granted`, what `gateway serve`'s HTTP
protocol answers without an ASGI request, issue 19): never a grant `/auth` would refuse,
and every grant of a viewer's ordinary requests once its first decisions are made."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import cast

import httpx2
import pytest
from starlette.testclient import TestClient

from gateway.core.clock import FrozenClock
from gateway.web.app import GatewayApp, create_app
from tests.conftest import helsinki
from tests.support.served import Served
from tests.web.conftest import COOKIE, Gateway, encoder, replicas, same_viewer

MEDIA = "/live/index.m3u8"
Ask = tuple[TestClient, str, str | None]  # who asks, the original URI, its Range


def from_memory(gw: Gateway, ask: Ask) -> bool:
    """Whether memory grants this `/auth` on `gw` (nothing read, nothing awaited)."""
    client, uri, ranged = ask
    headers = [(b"x-original-uri", uri.encode())]
    if COOKIE in client.cookies:
        headers.append((b"cookie", f"{COOKIE}={client.cookies[COOKIE]}".encode()))
    if ranged is not None:
        headers.append((b"range", ranged.encode()))
    return cast(GatewayApp, gw.client.app).granted(headers) is not None


def decided(ask: Ask) -> int:
    """What `/auth` answers."""
    client, uri, ranged = ask
    headers = {"X-Original-URI": uri, **({"Range": ranged} if ranged else {})}
    return client.get("/auth", headers=headers).status_code


def test_memory_grants_only_what_auth_grants(any_gateway: Gateway) -> None:
    gw = any_gateway
    segments = encoder(gw.tmp, "2021-11-18T12:44:40", 8)  # the last ones in Part II
    viewer, stranger = gw.login(), gw.browser()
    gw.clock.now = helsinki("2021-11-18T12:44:59")
    assert viewer.get(MEDIA).status_code == 200  # lists and dates them
    part_one = f"/live/{segments[0][0]}"
    part_two = next(f"/live/{n}" for n, when in segments if when >= helsinki("2021-11-18T12:45"))
    granted: list[Ask] = [
        (viewer, MEDIA, None),
        (viewer, part_one, None),
        (viewer, part_one, "bytes=0-99"),
        (viewer, part_one, "bytes=-10"),
    ]
    refused: list[Ask] = [
        (viewer, part_two, None),
        (viewer, part_two, "bytes=0-99"),
        (viewer, part_one, "bytes=99999999-"),
        (viewer, "/live/seg99.ts", None),
        (viewer, "/admin/", None),
        (viewer, "//[x/live/seg0.ts", None),
        (viewer, "/live/..%2Fsecret", None),
        (stranger, MEDIA, None),
    ]
    before = [from_memory(gw, ask) for ask in granted + refused]
    answers = [decided(ask) for ask in granted + refused]
    assert answers[: len(granted)] == [204] * len(granted)
    assert all(status >= 400 for status in answers[len(granted) :])
    assert before[1:] == [False] * (len(before) - 1)  # a segment is decided once by `auth`
    assert [from_memory(gw, ask) for ask in granted + refused] == [True] * len(granted) + [
        False
    ] * len(refused)

    gw.clock.advance(minutes=10)  # Part I and its grace over: refused by both
    assert [from_memory(gw, ask) for ask in granted] == [False] * len(granted)
    assert [decided(ask) for ask in granted] == [403] * len(granted)


def test_a_revocation_ends_grants_from_memory_where_it_was_made_at_once(gateway: Gateway) -> None:
    encoder(gateway.tmp, "2021-11-18T10:29:40", 3)
    registrant = gateway.register()
    viewer = gateway.login(registrant)
    assert viewer.get(MEDIA).status_code == 200
    asks: list[Ask] = [(viewer, MEDIA, None), (viewer, "/live/seg0.ts", None)]
    assert [decided(ask) for ask in asks] == [204, 204]
    assert [from_memory(gateway, ask) for ask in asks] == [True, True]
    gateway.call(gateway.registry.revoke, registrant.email, actor="test")
    assert [from_memory(gateway, ask) for ask in asks] == [False, False]
    assert [decided(ask) for ask in asks] == [403, 403]


def test_a_revocation_on_another_replica_ends_grants_from_memory_by_the_next_poll(
    make_gateway: Callable[..., Gateway], store_kind: str
) -> None:
    first, second = replicas(make_gateway, store_kind)
    registrant = first.register()
    viewer = same_viewer(first.login(registrant), second)
    assert viewer.get(MEDIA).status_code == 200
    asks: list[Ask] = [(viewer, MEDIA, None), (viewer, "/live/seg0.ts", None)]
    assert [decided(ask) for ask in asks] == [204, 204]
    assert [from_memory(second, ask) for ask in asks] == [True, True]
    first.call(first.registry.revoke, registrant.email, actor="test")
    first.clock.advance(seconds=1)  # the second replica's next poll is due
    assert [from_memory(second, ask) for ask in asks] == [False, False]
    assert [decided(ask) for ask in asks] == [403, 403]


# `gateway serve`: the grants from memory answered in the HTTP protocol, on a real uvicorn


class Connection:
    """One kept-alive connection to a server, asking `/auth` as nginx does."""

    def __init__(self, port: int, cookie: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.replies = self.sock.makefile("rb")
        self.cookie = cookie

    def request(self, uri: str, extra: bytes = b"", version: bytes = b"1.1") -> bytes:
        return (
            b"GET /auth HTTP/%s\r\nHost: gateway\r\nX-Original-URI: %s\r\nCookie: %s=%s\r\n%s\r\n"
            % (version, uri.encode(), COOKIE.encode(), self.cookie.encode(), extra)
        )

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> bytes:
        """The next whole answer: its head and its body."""
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = self.replies.readline()
            assert line, f"closed after {head!r}"
            head += line
        found = re.search(rb"(?im)^content-length: *([0-9]+)\r$", head)
        return head + (self.replies.read(int(found.group(1))) if found else b"")

    def ask(self, uri: str, extra: bytes = b"", version: bytes = b"1.1") -> bytes:
        self.send(self.request(uri, extra, version))
        return self.reply()

    def close(self) -> None:
        self.replies.close()
        self.sock.close()


def status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def undated(reply: bytes) -> bytes:
    return re.sub(rb"(?im)^date: [^\r]*\r\n", b"", reply)


def test_gateway_serve_answers_grants_from_memory_itself_and_the_rest_through_the_app(
    make_gateway: Callable[..., Gateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = make_gateway(clock=FrozenClock(helsinki("2021-11-18T12:44:59")))
    segments = encoder(gw.tmp, "2021-11-18T12:44:40", 8)  # the last ones in Part II
    part_one = f"/live/{segments[0][0]}"
    part_two = next(f"/live/{n}" for n, when in segments if when >= helsinki("2021-11-18T12:45"))
    registrant = gw.register()
    app = create_app(gw.settings, clock=gw.clock, watch_interval=None, background=False)
    answered: list[bool] = []  # per ask the protocol made of the app: granted from memory?
    granted = app.granted

    def spy(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]] | None:
        found = granted(headers)
        answered.append(found is not None)
        return found

    monkeypatch.setattr(app, "granted", spy)
    with (
        Served(app=app) as served,
        httpx2.Client(base_url=f"http://127.0.0.1:{served.port}") as web,
    ):
        cookie = web.get(gw.link_path(registrant), follow_redirects=False).cookies[COOKIE]
        assert web.get(MEDIA, headers={"Cookie": f"{COOKIE}={cookie}"}).status_code == 200
        nginx = Connection(served.port, cookie)
        try:
            by_app = nginx.ask(part_one)  # its bytes not yet decided here: the app decides
            by_protocol = nginx.ask(part_one)
            assert answered == [False, True]
            assert status(by_app) == status(by_protocol) == 204
            assert undated(by_protocol) == undated(by_app)  # the same bytes, the date aside

            nginx.send(nginx.request(part_one) * 3)  # pipelined: answered in order
            assert [status(nginx.reply()) for _ in range(3)] == [204] * 3
            assert (
                status(nginx.ask(MEDIA))
                == status(nginx.ask(part_one, b"Range: bytes=0-9\r\n"))
                == 204
            )
            assert answered == [False] + [True] * 6

            asked = len(answered)
            empty_first = nginx.request(part_one).replace(b"Cookie: ", b"Cookie: \r\nCookie: ")
            nginx.send(empty_first)  # the first Cookie header is the one read: no session
            assert status(nginx.reply()) == 401 and answered[asked:] == [False]

            refused = nginx.ask(part_two)  # not granted from memory: the app refuses it
            assert status(refused) == 403 and b'"part":"Part I"' in refused
            assert answered[-1] is False
            asked = len(answered)
            nginx.send(nginx.request(part_one, b"Content-Length: 2\r\n") + b"xx")
            assert status(nginx.reply()) == 204
            assert len(answered) == asked  # a request with a body: the app's, not asked
            closing = nginx.ask(part_one, b"Connection: close\r\n")
            assert status(closing) == 204 and b"connection: close" in closing
            assert len(answered) == asked
        finally:
            nginx.close()

        nginx = Connection(served.port, cookie)
        try:
            assert status(nginx.ask(part_one)) == 204
            gw.call(gw.registry.revoke, registrant.email, actor="test")  # on another replica
            gw.clock.advance(seconds=1)  # this one's next poll is due
            assert status(nginx.ask(part_one)) == 403
            assert answered[-2:] == [True, False]
        finally:
            nginx.close()
        counted = web.get("/metrics").text  # what answered nginx, for ops
        in_protocol = f'gateway_auth_answered_total{{by="protocol"}} {answered.count(True)}.0'
        assert in_protocol in counted and 'gateway_auth_answered_total{by="app"}' in counted
