"""Machine endpoints: status for players, health and readiness for orchestrators, metrics."""

from __future__ import annotations

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gateway.audit.checkpoints import checkpoint_hash
from gateway.audit.verify import newest_checkpoint
from gateway.core.errors import StoreUnavailable
from gateway.core.schedule import status
from gateway.core.times import iso
from gateway.web.errors import RETRY_AFTER, complain
from gateway.web.services import services


async def api_status(request: Request) -> Response:
    svc = services(request)
    schedule, stopped = await svc.gatekeeper.schedule()
    now = svc.clock()
    current = status(schedule, now, stopped=stopped)
    tz = schedule.timezone
    body: dict[str, object] = {
        "phase": current.phase,
        "part": current.part,
        "live": current.live,
        "recording_available": current.recording_available,
        "next_change": iso(current.next_change, tz) if current.next_change else None,
        "now": iso(now, tz),
        "timezone": tz.key,
    }
    if schedule.streaming_at(now):  # the encoder matters only then
        body["origin"] = svc.live.origin_health(now).state
    return JSONResponse(body, headers={"Cache-Control": "no-cache"})


async def audit_head(request: Request) -> Response:
    """The newest signed audit checkpoint, for auditors to write down somewhere the
    gateway's operators cannot edit (a cron job, a ticket): a later `audit verify` that
    ends before it shows a cut. Public: hashes, counts and times, nothing personal."""
    folder = services(request).settings.audit.checkpoint_dir
    newest = await anyio.to_thread.run_sync(newest_checkpoint, folder) if folder else None
    if newest is None:
        return JSONResponse(
            {"error": "no_checkpoint", "message": "No audit checkpoint has been written."},
            status_code=404,
            headers={"Cache-Control": "no-cache"},
        )
    return JSONResponse(
        {**newest, "hash": checkpoint_hash(newest)}, headers={"Cache-Control": "no-cache"}
    )


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


MAX_CLOCK_SKEW = 10.0  # seconds; replicas deciding windows must agree on the time


async def readyz(request: Request) -> Response:
    try:
        await services(request).store.ping()
    except StoreUnavailable as exc:
        complain(f"not ready: the store is not reachable ({exc})")
        return JSONResponse(
            {"status": "unavailable", "reason": "store not reachable"},
            status_code=503,
            headers={"Retry-After": RETRY_AFTER},
        )
    svc = services(request)
    try:
        store_now = await svc.store.server_time()
    except StoreUnavailable:
        store_now = None
    if store_now is not None:
        skew = (svc.clock() - store_now).total_seconds()
        if abs(skew) > MAX_CLOCK_SKEW:
            reason = (
                f"this replica's clock is {abs(skew):.0f} s "
                f"{'ahead of' if skew > 0 else 'behind'} the store's: windows would be wrong"
            )
            complain(f"not ready: {reason}")
            return JSONResponse(
                {"status": "unavailable", "reason": reason},
                status_code=503,
                headers={"Retry-After": RETRY_AFTER},
            )
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    svc = services(request)
    try:
        svc.metrics.sessions_active.set(await svc.store.count_sessions(svc.clock()))
    except StoreUnavailable:
        pass  # keep the last value; the store error counter tells the story
    return PlainTextResponse(
        svc.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


routes = [
    Route("/api/status", api_status),
    Route("/api/audit-head", audit_head),
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/metrics", metrics),
]
