"""What the technician watches: the encoder's connection, the live preview and the archive.

`/admin/preview` (ops, not auditors) plays the live origin as it is, at any time,
also outside the streamed parts, marked PREVIEW: picture and sound checked before
the doors open, with nothing reaching participants. Each opening is audited
(`preview.opened`); the playlist and segments under `/admin/preview/` are read
straight from the live origin, for a signed-in ops person only, never cached.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.core.paths import media_type, safe_path
from gateway.core.times import in_zone
from gateway.web.admin.auth import staff
from gateway.web.admin.people import page
from gateway.web.ingest import CONNECTED
from gateway.web.participant import HLS_JS
from gateway.web.services import Services, services


async def encoder_words(svc: Services, now: dt.datetime) -> str:
    """The encoder's line: "Encoder connected since 09:52 (key …a1f2), last segment 2 s
    ago.", or that none is ("" where no ingest is configured)."""
    if not svc.settings.secrets.ingest_keys:
        return ""  # no ingest here: the origin is filled some other way
    raw = await svc.store.get_value(CONNECTED)
    if raw is None:
        return "No encoder connected to the ingest."
    found = json.loads(raw)
    since = dt.datetime.fromisoformat(found["since"])
    tz = svc.settings.schedule.timezone
    age = svc.live.origin_health(now).age
    last = f"last segment {int(age)} s ago" if age is not None else "no segment yet"
    return f"Encoder connected since {since.astimezone(tz):%H:%M} (key {found['key']}), {last}."


async def archive_words(svc: Services) -> str:
    """The archive's line: "Archived: 1,204 segments, 812.3 MB; none missed." ("" when the
    gateway does not make the recording)."""
    if svc.archiver is None:
        return ""
    found = await asyncio.to_thread(svc.archiver.tally.status)
    missed = (
        "none missed"
        if not found.missed
        else f"{found.missed} missed (gaps the origin no longer listed)"
    )
    return f"Archived: {found.segments:,} segments, {found.size / 1e6:,.1f} MB; {missed}."


async def preview(request: Request) -> Response:
    who = await staff(request, "ops")
    svc = services(request)
    await svc.audit.record("preview.opened", actor=who.identity)
    now = svc.clock()
    return page(
        request,
        who,
        "admin/preview.html",
        "dashboard",
        hls_js=HLS_JS.exists(),
        now=in_zone(now, svc.settings.schedule.timezone, seconds=True),
        encoder=await encoder_words(svc, now),
    )


async def preview_file(request: Request) -> Response:
    """A playlist or segment of the live origin, as it is, for ops."""
    await staff(request, "ops")
    svc = services(request)
    path = safe_path(request.path_params["path"])
    body = await svc.live.origin.fetch(path)
    return Response(body, media_type=media_type(path), headers={"Cache-Control": "no-store"})


routes = [
    Route("/admin/preview", preview),
    Route("/admin/preview/{path:path}", preview_file),
]
