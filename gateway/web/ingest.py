"""`POST /ingest/publish` and `/ingest/done`: nginx-rtmp asks before it accepts an encoder
(`on_publish`) and says when it left (`on_publish_done`), with the form fields it sends
(`name` the stream key, `addr` the encoder's address).

A publish with a configured key (`GATEWAY_INGEST_KEYS`) from an allowed network
(`ingest.allowed_from`) is answered `200`; anything else `403`, and nginx-rtmp
drops the connection. (The shipped ingest config then pushes the stream on to an
application that writes HLS as `index.m3u8`: the key, the stream's name, never
names a file or reaches a viewer.) Each answer is audited (`ingest.started`,
`ingest.refused`, `ingest.stopped`; the address as a keyed hash, the key by its last
four characters),
and the connected encoder is kept in the store for the dashboard. Refusals count
against the address: 30 a minute, then `429` for a minute (a key cannot be guessed).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.core import ingest
from gateway.core.times import iso
from gateway.web.services import services

CONNECTED = "ingest:connected"  # the encoder publishing now (JSON), for the dashboard
MAX_BODY = 8 * 1024
WHY = {
    "no_keys": "No stream key is configured (GATEWAY_INGEST_KEYS): nobody may publish.",
    "not_allowed": "Publishing is not allowed from this address (ingest.allowed_from).",
    "wrong_key": "That is not a stream key of this event.",
}


def _refused(why: str) -> Response:
    return JSONResponse({"error": why, "message": WHY[why]}, status_code=403)


async def _fields(request: Request) -> dict[str, str]:
    """nginx-rtmp's form (x-www-form-urlencoded), first value per field; past MAX_BODY
    (declared or sent) nothing, so the answer is a refusal."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return {}
    found = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in found.items() if v}


async def publish(request: Request) -> Response:
    svc = services(request)
    fields = await _fields(request)
    key, address = fields.get("name", ""), fields.get("addr", "")
    await svc.ratelimits.check("ingest_refused_ip", address or "unknown")
    keys = [k.reveal() for k in svc.settings.secrets.ingest_keys]
    why = ingest.refusal(key, address, keys, svc.settings.ingest.allowed_from)
    if why is not None:
        await svc.ratelimits.count("ingest_refused_ip", address or "unknown")
        await svc.audit.record("ingest.refused", ip=address or None, reason=why)
        return _refused(why)
    tail = ingest.key_tail(key)
    since = iso(svc.clock())
    await svc.store.set_value(CONNECTED, json.dumps({"since": since, "key": tail}))
    await svc.audit.record("ingest.started", ip=address or None, key=tail)
    return JSONResponse({"accepted": True, "key": tail})


async def done(request: Request) -> Response:
    """The encoder left (nginx-rtmp sends the key it published with): only for a known
    key, so nobody else can clear the dashboard's line or write the event."""
    svc = services(request)
    fields = await _fields(request)
    key, address = fields.get("name", ""), fields.get("addr", "")
    keys = [k.reveal() for k in svc.settings.secrets.ingest_keys]
    if ingest.refusal(key, address, keys, ()) is not None:
        return _refused("wrong_key")
    await svc.store.delete_value(CONNECTED)
    await svc.audit.record("ingest.stopped", ip=address or None, key=ingest.key_tail(key))
    return Response(status_code=200)


routes = [
    Route("/ingest/publish", publish, methods=["POST"]),
    Route("/ingest/done", done, methods=["POST"]),
]
