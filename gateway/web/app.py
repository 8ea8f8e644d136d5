"""The app factory: explicit dependencies, long-lived clients opened in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from gateway.access import Gatekeeper
from gateway.audit import AuditLog
from gateway.clock import Clock, system_clock
from gateway.errors import GatewayError
from gateway.live import LiveStream
from gateway.metrics import Metrics
from gateway.origins import make_origin
from gateway.settings import Settings
from gateway.signing import Purpose, signer, timed_signer
from gateway.store import Store, open_store
from gateway.web import errors, ops, participant, stream
from gateway.web.middleware import SecurityHeaders
from gateway.web.services import Services

STATIC = Path(__file__).parent / "static"


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    watch_interval: float | None = 1.0,
) -> Starlette:
    """The gateway as an ASGI app.

    `store` defaults to the one `settings.store_url` names (closed with the
    app); `clock` to the system clock. `watch_interval` is how often the live
    origin is polled to date its segments (None: not at all, for tests that
    observe by hand).
    """
    keys = [k.reveal() for k in settings.secrets.secret_keys]
    if not keys:
        raise ValueError("no secret key: set GATEWAY_SECRET_KEYS")
    clock = clock or system_clock

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own_store = store is None
        the_store = store if store is not None else open_store(settings.store_url)
        timeout = httpx2.Timeout(settings.origin.timeout_seconds, connect=3.0)
        async with httpx2.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            metrics = Metrics()
            audit = AuditLog(the_store, clock)
            live_origin = make_origin(
                settings.origin.live, timeout=timeout.read or 10.0, client=client
            )
            recording = make_origin(
                settings.origin.recording, timeout=timeout.read or 10.0, client=client
            )
            gatekeeper = Gatekeeper(
                settings,
                the_store,
                audit,
                metrics,
                clock,
                signer(keys, Purpose.LINK),
                timed_signer(keys, Purpose.SESSION),
            )
            live = LiveStream(live_origin, the_store, clock)
            app.state.services = Services(
                settings, clock, the_store, audit, metrics, gatekeeper, live, recording
            )
            watcher = asyncio.create_task(live.watch(watch_interval)) if watch_interval else None
            try:
                yield
            finally:
                if watcher is not None:
                    watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watcher
                if own_store:
                    await the_store.close()

    app = Starlette(
        routes=[
            *participant.routes,
            *stream.routes,
            *ops.routes,
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(SecurityHeaders, hsts=settings.event.secure)],
        exception_handlers={
            GatewayError: errors.on_domain_error,
            HTTPException: errors.on_http_error,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app
