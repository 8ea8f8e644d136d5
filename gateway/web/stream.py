"""The stream gate: `/live/`, `/recording/`, and `/auth` for nginx's auth_request.

One path for every request: session cookie → access decision → origin →
playlist filter → bytes. Bodies are whole and in memory (a FileResponse's small
threaded chunks cost 8x the CPU; see issue 7's figures).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.access import Grant
from gateway.errors import NotFound
from gateway.paths import is_playlist, media_type, safe_path
from gateway.web.services import Services, services

PLAYLIST_CACHE = "no-cache, no-store"
SEGMENT_CACHE = "private, max-age=3600"


async def _grant(svc: Services, request: Request, area: str) -> Grant:
    return await svc.gatekeeper.authorize(request.cookies.get(svc.cookie_name), area, svc.clock())


async def _body(svc: Services, grant: Grant, path: str) -> bytes:
    if grant.area == "recording":
        return await svc.recording.fetch(path)
    assert grant.window is not None
    if is_playlist(path):
        return await svc.live.playlist(path, grant.window)
    return await svc.live.segment(path, grant.window)


async def serve(request: Request) -> Response:
    svc = services(request)
    area = request.url.path.split("/", 2)[1]
    path = safe_path(request.path_params["path"])
    grant = await _grant(svc, request, area)
    body = await _body(svc, grant, path)
    svc.attendance.seen(grant.registrant, svc.clock())
    cache = PLAYLIST_CACHE if is_playlist(path) else SEGMENT_CACHE
    return Response(body, media_type=media_type(path), headers={"Cache-Control": cache})


async def auth(request: Request) -> Response:
    """nginx auth_request: 204 when the original URI may be served, else the refusal status.

    Playlists are filtered by the gateway itself (nginx proxies them here);
    for a segment the decision includes its date, so a Part II segment asked
    for by name during Part III is refused here too.
    """
    svc = services(request)
    original = urlsplit(request.headers.get("x-original-uri", ""))
    area, _, rest = unquote(original.path).lstrip("/").partition("/")
    if area not in ("live", "recording"):
        raise NotFound()
    path = safe_path(rest)
    grant = await _grant(svc, request, area)
    if grant.window is not None and not is_playlist(path):
        await svc.live.check_segment(path, grant.window)
    svc.attendance.seen(grant.registrant, svc.clock())
    return Response(status_code=204, headers={"Cache-Control": "private, max-age=1"})


routes = [
    Route("/live/{path:path}", serve),
    Route("/recording/{path:path}", serve),
    Route("/auth", auth),
]
