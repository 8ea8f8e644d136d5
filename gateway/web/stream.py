"""The stream gate: `/live/`, `/recording/`, and `/auth` for nginx's auth_request.

One path for every request: session cookie → access decision → origin →
playlist filter → bytes. It is the hot path, every viewer asking every few
seconds, so it is plain ASGI: `GatewayApp` (app.py) hands it GET and HEAD of
these paths before Starlette's middleware and router (other methods reach the
same gate through `routes`, and get Starlette's 405). The clock is read once
per request, headers are encoded once per kind of answer, bodies are whole and
in memory (a FileResponse's small threaded chunks cost 8x the CPU; see issue
7's figures). A live segment's `Range` request is answered 206 when every byte
it asks for is allowed now (`LiveStream.segment`). Refusals are worded by
`errors.on_domain_error`, as everywhere else, and carry the same security
headers as `SecurityHeaders` gives media.

Before any of this, `gateway serve`'s HTTP protocol answers nginx's `/auth` itself
when memory alone grants it (`StreamGate.granted`, the same steps from memory:
nine in ten of a replica's decisions behind nginx); whatever it cannot grant
comes here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from starlette.requests import Request, cookie_parser
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from gateway.core.access import Grant, shared_for
from gateway.core.errors import GatewayError, NotFound, RangeNotSatisfiable
from gateway.core.paths import is_playlist, media_type, safe_path
from gateway.web import errors
from gateway.web.middleware import MEDIA_HEADERS
from gateway.web.services import Services

PLAYLIST_CACHE = "no-cache, no-store"  # browsers never keep one; nginx: X-Accel-Expires
SEGMENT_CACHE = "private, max-age=3600"
DECISION_CACHE = "private, max-age=1"  # a grant's answer (deploy/nginx ignores it: see gw_auth)
AREAS = {"/live/": "live", "/recording/": "recording"}
_PREFIXES = tuple(AREAS)
Headers = list[tuple[bytes, bytes]]


def is_stream(scope: Scope) -> bool:
    """Whether the gate answers this request itself (GET or HEAD of a stream path)."""
    path: str = scope["path"]
    return scope["method"] in ("GET", "HEAD") and (path.startswith(_PREFIXES) or path == "/auth")


class StreamGate:
    """The ASGI app behind every stream path; see the module doc."""

    def __init__(self) -> None:
        self._headers: dict[tuple[str, str, int | None], Headers] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        svc: Services = scope["app"].state.services
        now = svc.clock()
        try:
            if scope["path"] == "/auth":
                status, headers, body = await self.auth(svc, scope, now)
            else:
                status, headers, body = await self.serve(svc, scope, now)
        except GatewayError as exc:
            response = await errors.on_domain_error(Request(scope, receive), exc)
            response.headers.update(dict(MEDIA_HEADERS))
            if isinstance(exc, RangeNotSatisfiable):  # the length, for a range asked again
                response.headers["content-range"] = f"bytes */{exc.size}"
            await response(scope, receive, send)
            return
        if status != 204:  # a 204 has no body, so no length either (RFC 9110)
            headers = [(b"content-length", str(len(body)).encode()), *headers]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def serve(
        self, svc: Services, scope: Scope, now: dt.datetime
    ) -> tuple[int, Headers, bytes]:
        """A playlist, segment or recording file, for a session allowed to see it now."""
        prefix = "/live/" if scope["path"].startswith("/live/") else "/recording/"
        path = safe_path(scope["path"][len(prefix) :])
        grant = await _grant(svc, scope, AREAS[prefix], now)
        playlist = is_playlist(path)
        shared = _shared(svc, now) if playlist else None
        cache = PLAYLIST_CACHE if playlist else SEGMENT_CACHE
        status, headers = 200, self.headers(media_type(path), cache, shared)
        if grant.area == "recording":
            body = await svc.recording.fetch(path)
        elif playlist:
            assert grant.window is not None
            body = await svc.live.playlist(path, grant.window)
        else:
            assert grant.window is not None
            piece = await svc.live.segment(path, grant.window, _range(scope["headers"]))
            body = piece.body
            if piece.span is not None:
                first, last, size = piece.span
                span = (b"content-range", f"bytes {first}-{last}/{size}".encode())
                status, headers = 206, [span, *headers]
        svc.attendance.seen(grant.registrant, now)
        return status, headers, body

    async def auth(
        self, svc: Services, scope: Scope, now: dt.datetime
    ) -> tuple[int, Headers, bytes]:
        """nginx auth_request: 204 when the original URI may be served, else the refusal status.

        Playlists are filtered by the gateway itself (nginx proxies them here);
        for a segment the decision includes its date and its content, and the
        original request's `Range` (auth_request passes the client's headers on),
        so a Part II segment asked for by name during Part III, or a byte range
        reaching Part II, is refused here too.
        """
        svc.metrics.answered.add("app")
        area, path = _target(_header(scope["headers"], b"x-original-uri"))
        grant = await _grant(svc, scope, area, now)
        if grant.window is not None and not is_playlist(path):
            await svc.live.check_segment(path, grant.window, _range(scope["headers"]))
        svc.attendance.seen(grant.registrant, now)
        return 204, self.headers("", DECISION_CACHE), b""

    def granted(self, svc: Services, headers: Headers) -> Headers | None:
        """`auth`'s answer when memory alone grants it: the 204's headers, else None.

        `gateway serve`'s HTTP protocol asks this before it makes an ASGI request of
        nginx's `GET /auth` (`server.GuardedHttp`), and writes the 204 itself: nine in
        ten of a replica's decisions behind nginx are answered so, at about three
        quarters of the CPU at a viewer's pace (docs/scaling.md). The same steps as
        `auth`, each from memory (`Gatekeeper.granted`,
        `LiveStream.decided`); whatever memory cannot grant (a refusal, a session or
        a date to read, a malformed request) is None, and `auth` decides it.
        """
        now = svc.clock()
        try:
            area, path = _target(_header(headers, b"x-original-uri"))
        except GatewayError:
            return None
        grant = svc.gatekeeper.granted(_cookie(svc, _header(headers, b"cookie")), area, now)
        if grant is None:
            return None
        if grant.window is not None and not is_playlist(path):
            if not svc.live.decided(path, grant.window, _range(headers)):
                return None
        svc.metrics.decisions.add(area, "granted", "")
        svc.metrics.answered.add("protocol")
        svc.attendance.seen(grant.registrant, now)
        return self.headers("", DECISION_CACHE)

    def headers(self, content_type: str, cache: str, shared: int | None = None) -> Headers:
        """The answer's headers but its length, encoded once per (type, cache, shared):
        `shared`, for a playlist, the seconds nginx may give it to every viewer."""
        found = self._headers.get((content_type, cache, shared))
        if found is None:
            charset = "; charset=utf-8" if content_type.startswith("text/") else ""  # as Starlette
            typed = [(b"content-type", (content_type + charset).encode())] if content_type else []
            accel = [(b"x-accel-expires", str(shared).encode())] if shared is not None else []
            found = [  # X-Accel-Expires first: nginx then lets it override Cache-Control
                *typed,
                *accel,
                (b"cache-control", cache.encode()),
                *((k.lower().encode(), v.encode()) for k, v in MEDIA_HEADERS),
            ]
            self._headers[(content_type, cache, shared)] = found
        return found


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The first header called `name` (lower case), as Starlette's `Request.headers` reads it."""
    for key, value in headers:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _range(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The byte range a request asks for, if any: a `Range` in another unit than bytes is
    ignored, the whole answered (RFC 9110 14.2), and judged whole. So is one sent with an
    `If-Range`: the gateway sends no validator for it to match, and nginx, which does,
    sends the whole file when it does not match (13.1.5), so it is judged whole there."""
    value = _header(headers, b"range")
    if value is None or value.lstrip()[:6].lower() != "bytes=":
        return None
    return None if _header(headers, b"if-range") is not None else value


def _target(original: str | None) -> tuple[str, str]:
    """The area and safe path of the request nginx asks about (its X-Original-URI)."""
    try:
        target = urlsplit(original or "")
    except ValueError:  # "//[": an IPv6 host never closed
        raise NotFound() from None
    area, _, rest = unquote(target.path).lstrip("/").partition("/")
    if area not in AREAS.values():
        raise NotFound()
    return area, safe_path(rest)


def _shared(svc: Services, now: dt.datetime) -> int:
    """How long nginx may share this playlist answer (`access.shared_for`); 0 unless the
    schedule in force is in memory (it is, but for the first second of a replica)."""
    controls = svc.gatekeeper.controls.cached(now)
    if controls is None:
        return 0
    return shared_for(controls.schedule, now, svc.settings.end_grace)


async def _grant(svc: Services, scope: Scope, area: str, now: dt.datetime) -> Grant:
    client = scope.get("client")  # (behind nginx: X-Forwarded-For's, by uvicorn's proxy headers)
    return await svc.gatekeeper.authorize(
        _cookie(svc, _header(scope["headers"], b"cookie")), area, now, client[0] if client else None
    )


def _cookie(svc: Services, cookies: str | None) -> str | None:
    """The session cookie's value in a Cookie header."""
    return cookie_parser(cookies).get(svc.cookie_name) if cookies else None


gate = StreamGate()
routes = [
    Route("/live/{path:path}", gate, methods=["GET"]),
    Route("/recording/{path:path}", gate, methods=["GET"]),
    Route("/auth", gate, methods=["GET"]),
]
