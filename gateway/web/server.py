"""Running the app under uvicorn (`gateway serve`)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.settings import Settings
from gateway.web.app import GatewayApp, create_app
from gateway.web.stream import Headers

log = logging.getLogger(__name__)
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD = 128 * 1024


def steady_memory() -> bool:
    """Have glibc give big blocks (segment bodies) back to the system when freed.

    By default glibc raises its mmap threshold the first time such a block is
    freed, and from then on serves 1 MB bodies from the heap, which keeps its
    peak: RSS creeps up as segments come and go (+9 % over a 10-minute soak).
    Fixing the threshold keeps it flat. Whether it was set (False off glibc).
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)
    except (OSError, AttributeError):
        return False


MAX_URL = 8 * 1024  # the request target: 414 beyond
MAX_HEAD = 32 * 1024  # request line and header fields together: 431 beyond
MAX_FIELDS = 100  # header fields: 431 beyond
MAX_BODY = 1024 * 1024  # no route takes more (a registration is under 64 KiB): 413 beyond
REQUEST_DEADLINE = 20.0  # seconds from a request's first byte to its last: 408, then closed
MAX_CONNECTIONS = 4096  # connections and requests in flight: 503 beyond (uvicorn)


# What each refusal says, to a person reading it in a browser (the app never saw the
# request, so this is all there is; each ends the connection).
REFUSALS = {
    408: "The request took too long to arrive. Please try again.",
    413: "The request is too large: at most 1 MiB in one request. Nothing was stored.",
    414: "The address is too long.",
    431: "The request's headers are too large.",
}


def _refusal(status: int) -> bytes:
    """The whole answer: status line, a short HTML page, `connection: close`."""
    title = STATUS_LINE[status].decode("latin-1").split(" ", 1)[1].strip()
    body = (
        f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{title}</title>'
        f"<h1>{title}</h1><p>{REFUSALS.get(status, '')}</p></html>\n"
    ).encode()
    head = b"content-type: text/html; charset=utf-8\r\ncontent-length: %d\r\n" % len(body)
    return STATUS_LINE[status] + head + b"connection: close\r\n\r\n" + body


class Refused(Exception):
    """Raised in a parser callback: the request is answered `status` and the connection closed."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with limits of its own, so that `gateway serve` is safe
    without nginx in front: a request target over MAX_URL is 414, a head over MAX_HEAD
    bytes or MAX_FIELDS fields 431, a body over MAX_BODY 413, and a request not complete
    REQUEST_DEADLINE seconds after its first byte (or after the connection opened) 408;
    each answer closes the connection. Bytes of an unfinished head are counted as they
    arrive, so a header line trickled forever is cut off at MAX_HEAD plus one read, never
    buffered without end. `answering` gives it nginx's `GET /auth` to answer itself when
    memory grants it (what `gateway serve` runs)."""

    # nginx's decisions answered in the protocol when memory grants them (see `answering`)
    answer: Callable[[list[tuple[bytes, bytes]]], Headers | None] | None = None

    @classmethod
    def answering(
        cls, answer: Callable[[list[tuple[bytes, bytes]]], Headers | None]
    ) -> type[GuardedHttp]:
        """This protocol, with nginx's `GET /auth` answered here when `answer` (given the
        request's headers) returns the grant's headers: a 204 written at once, with no
        ASGI request, task or app. None: the request goes to the app as any other. Only
        a keep-alive request with no body, none in flight before it on its connection."""
        return type(cls.__name__, (cls,), {"answer": staticmethod(answer)})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._answered: bytes | None = None  # a 204 decided at the head, sent at its end
        self._encoded: tuple[object, object, bytes] = (None, None, b"")  # (defaults, headers)
        self._head_bytes = 0  # bytes received since this request's head began
        self._in_head = True
        self._head_size = 0  # of the target and fields parsed so far
        self._fields = 0
        self._body = 0
        self._refused: int | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._deadline is None:
                self._start_deadline()
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD and not self.transport.is_closing():
            self._refuse(431)

    def on_message_begin(self) -> None:
        self._in_head, self._head_size, self._fields, self._body = True, 0, 0, 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        if self._head_size > MAX_URL:
            self._stop(414)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        self._fields += 1
        if self._head_size > MAX_HEAD or self._fields > MAX_FIELDS:
            self._stop(431)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        length = next((v for k, v in self.headers if k == b"content-length"), b"0")
        if length.isdigit() and int(length) > MAX_BODY:
            self._stop(413)
        if self.url == b"/auth" and self.answer is not None and self._answerable():
            try:
                granted = self.answer(self.headers)
            except Exception:  # a bug there: the app decides, as without it
                log.exception("deciding %s in the protocol failed", self.url)
                granted = None
            if granted is not None:
                self._answered = self._encode(granted)
                return  # no ASGI request: the 204 goes out at the request's end
        super().on_headers_complete()

    def _answerable(self) -> bool:
        """A GET with no body, kept alive, nothing before it still being answered."""
        cycle = self.cycle
        return (
            (cycle is None or cycle.response_complete)
            and self.parser.get_method() == b"GET"
            and self.parser.should_keep_alive()
            and self.parser.get_http_version() == "1.1"
            and not self.flow.write_paused
            and not any(k in (b"content-length", b"transfer-encoding") for k, _ in self.headers)
        )

    def _encode(self, headers: Headers) -> bytes:
        """The 204 as uvicorn writes an app's (its default headers first), encoded once per
        second (uvicorn's date header) and kind of answer."""
        defaults = self.server_state.default_headers
        known_defaults, known_headers, encoded = self._encoded
        if known_defaults is not defaults or known_headers is not headers:
            lines = [b"%s: %s\r\n" % (k, v) for k, v in [*defaults, *headers]]
            encoded = STATUS_LINE[204] + b"".join(lines) + b"\r\n"
            self._encoded = (defaults, headers, encoded)
        return encoded

    def on_body(self, body: bytes) -> None:
        self._body += len(body)
        if self._body > MAX_BODY:
            self._stop(413)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._stop_deadline()
        self._in_head = True  # what comes next on this connection is another head
        answered = self._answered
        if answered is not None:
            self._answered = None
            if not self.transport.is_closing():
                self.transport.write(answered)
            self.on_response_complete()  # as after an app's answer: keep-alive timer, counts
            return
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to any parser error; ours when a callback refused the request."""
        cause = self._refused
        if cause is None:
            super().send_400_response(msg)
        else:
            self._refuse(cause)

    def _stop(self, status: int) -> None:
        """Stop parsing (from a callback): uvicorn then calls send_400_response."""
        self._refused = status
        raise Refused(status)

    def _refuse(self, status: int) -> None:
        self._stop_deadline()
        cycle = self.cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            self.transport.close()  # mid-response: nothing more can be said
            return
        self.transport.write(_refusal(status))
        self.transport.close()

    def _start_deadline(self) -> None:
        self._deadline = self.loop.call_later(REQUEST_DEADLINE, self._too_slow)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self._refuse(408)


def serve(settings: Settings, *, host: str, port: int, trusted_proxies: str = "127.0.0.1") -> int:
    """Serve until interrupted. Refuses to start without a secret key.

    `trusted_proxies` (comma-separated addresses or CIDRs, `*` for any) are the
    hops whose X-Forwarded-For is believed: the client address that rate
    limits, sharing detection and the audit's address hashes rest on.
    """
    if not settings.secrets.secret_keys:
        raise ValueError(
            "refusing to start: set GATEWAY_SECRET_KEYS (comma-separated, "
            "newest first) to sign links and cookies"
        )
    app = create_app(settings)
    steady_memory()
    uvicorn.run(app, **options(app, host=host, port=port, trusted_proxies=trusted_proxies))
    return 0


KEEP_ALIVE = 75  # seconds an idle connection is kept (deploy/nginx: 60 s upstream)


def options(app: GatewayApp, *, host: str, port: int, trusted_proxies: str) -> dict[str, Any]:
    """How `serve` runs `app` under uvicorn (`uvicorn.Config`'s keywords)."""
    answer = getattr(app, "granted", None)  # (bench's yardstick apps have none)
    return {
        "host": host,
        "port": port,
        "proxy_headers": True,
        "forwarded_allow_ips": trusted_proxies,
        "log_level": "info",
        "access_log": False,  # a line per segment costs ~20 % of the request rate; nginx logs
        "server_header": False,
        "http": GuardedHttp if answer is None else GuardedHttp.answering(answer),
        "loop": "auto",  # uvloop (a dependency): about 1.75x the requests per core of asyncio's
        "limit_concurrency": MAX_CONNECTIONS,
        # Idle keep-alive longer than nginx's upstream keepalive_timeout (60 s): the proxy
        # closes an idle connection first. uvicorn's 5 s closed it under nginx, and a
        # request sent on it as it closed got a 502 (a POST is not retried elsewhere).
        "timeout_keep_alive": KEEP_ALIVE,
    }
