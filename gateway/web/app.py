"""The app factory: explicit dependencies, long-lived clients opened in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Coroutine
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from gateway.audit.attendance import Attendance
from gateway.audit.log import AuditLog
from gateway.audit.spool import Spool
from gateway.audit.verify import checkpoint_forever
from gateway.core.clock import Clock, system_clock
from gateway.core.errors import GatewayError, StoreUnavailable
from gateway.core.schedule import Schedule
from gateway.mail.compose import transport_for
from gateway.mail.queue import Mailer
from gateway.mail.registrants import Registry
from gateway.mail.reminders import remind_forever
from gateway.metrics import Metrics
from gateway.sessions.controls import ControlState
from gateway.sessions.gatekeeper import Gatekeeper
from gateway.sessions.signing import Purpose, signer, timed_signer
from gateway.settings import Settings
from gateway.store import Store, open_store
from gateway.stream.archive import Archiver
from gateway.stream.captions import CaptionsMonitor, CheckedOrigin
from gateway.stream.live import LiveStream
from gateway.stream.origins import make_origin
from gateway.web import errors, health, ingest, openapi, participant, register, relink, stream
from gateway.web.admin import auditing, console, people, roster, studio
from gateway.web.admin import auth as admin_auth
from gateway.web.middleware import SecurityHeaders
from gateway.web.ratelimit import RateLimits
from gateway.web.services import Services

STATIC = Path(__file__).parent / "static"


class GatewayApp(Starlette):
    """Starlette, but the stream gate answers its GETs before the middleware and router.

    Those are nearly all the requests a webcast gets, and they need none of
    the page machinery (see `gateway.web.stream`).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and stream.is_stream(scope):
            scope["app"] = self
            await stream.gate(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def granted(self, headers: stream.Headers) -> stream.Headers | None:
        """nginx's `GET /auth` with these headers granted from memory: the 204's headers
        (`StreamGate.granted`); None before the app has started, or when `auth` decides."""
        services = getattr(self.state, "services", None)
        return None if services is None else stream.gate.granted(services, headers)


def _background(stack: contextlib.AsyncExitStack, work: Coroutine[Any, Any, None]) -> None:
    """Run `work` for the app's lifetime; cancel it on shutdown."""
    task = asyncio.create_task(work)

    async def stop() -> None:
        while not task.done():  # again if need be: a lost cancellation must not hang shutdown
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    watch_interval: float | None = 1.0,
    background: bool = True,
) -> GatewayApp:
    """The gateway as an ASGI app.

    `store` defaults to the one `settings.store_url` names (closed with the
    app); `clock` to the system clock. `watch_interval` is how often the live
    origin is polled to date its segments; `background` whether this process
    sends queued mail and flushes the audit spool and attendance on its own
    (tests that drive them by hand turn both off).
    """
    keys = [k.reveal() for k in settings.secrets.secret_keys]
    if not keys:
        raise ValueError("no secret key: set GATEWAY_SECRET_KEYS")
    clock = clock or system_clock

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            services = await _services(stack, settings, store, clock, keys)
            app.state.services = services
            if watch_interval:
                _background(stack, services.live.watch(watch_interval))
                if services.archiver is not None:
                    _background(stack, services.archiver.run(watch_interval))
            stack.push_async_callback(services.attendance.flush)  # the last minutes too
            stack.push_async_callback(_last_refusals, services)
            if background:
                _run_background(stack, services)
            yield

    app = GatewayApp(
        routes=[
            *stream.routes,
            *participant.routes,
            *register.routes,
            *relink.routes,
            *ingest.routes,
            *health.routes,
            *openapi.routes,
            *admin_auth.routes,
            *console.routes,
            *roster.routes,
            *people.routes,
            *auditing.routes,
            *studio.routes,
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(SecurityHeaders, hsts=settings.event.secure)],
        exception_handlers={
            GatewayError: errors.on_domain_error,
            HTTPException: errors.on_http_error,
            ClientDisconnect: errors.on_disconnect,
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # its redirect is built from the Host header: a 404
    app.state.settings = settings
    return app


async def _services(
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    store: Store | None,
    clock: Clock,
    keys: list[str],
) -> Services:
    """Every part of the running gateway, wired; what needs closing is closed by `stack`."""
    the_store = store if store is not None else open_store(settings.store_url)
    if store is None:
        stack.push_async_callback(the_store.close)
    timeout = httpx2.Timeout(settings.origin.timeout_seconds, connect=3.0)
    client = await stack.enter_async_context(
        httpx2.AsyncClient(timeout=timeout, follow_redirects=False)
    )
    ratelimits = RateLimits(settings.store_url)
    stack.push_async_callback(ratelimits.close)
    metrics = Metrics()
    audit = AuditLog(the_store, clock, Spool(settings.audit.spool_file))
    origin = partial(make_origin, timeout=timeout.read or 10.0, client=client, metrics=metrics)
    # A malformed .vtt at the recording origin is refused (502), never served half-broken.
    recording = CheckedOrigin(origin(settings.origin.recording, name="recording"))
    gatekeeper = Gatekeeper(
        settings,
        the_store,
        audit,
        metrics,
        clock,
        signer(keys, Purpose.LINK),
        timed_signer(keys, Purpose.SESSION, clock),
        ControlState(settings.schedule, the_store, audit, clock),
    )
    registry = Registry(settings, the_store, audit)
    captions = await _captions(settings, recording, audit, clock, gatekeeper.controls)
    live = LiveStream(
        origin(settings.origin.live, name="live"), the_store, clock, metrics=metrics, audit=audit
    )
    live.streaming = partial(_streaming, gatekeeper)
    archiver = None
    if settings.archive.enabled:
        archiver = Archiver(
            live,
            the_store,
            settings.archive.folder,
            partial(_schedule, gatekeeper.controls),
            clock,
            audit=audit,
            describe=partial(settings.description, lang="en"),
        )
    return Services(
        settings,
        clock,
        the_store,
        audit,
        metrics,
        gatekeeper,
        live,
        recording,
        registry=registry,
        mailer=Mailer(
            the_store,
            audit,
            registry,
            transport_for(settings),
            clock,
            day=gatekeeper.controls.day,
        ),
        attendance=Attendance(the_store),
        ratelimits=ratelimits,
        csrf_signer=timed_signer(keys, Purpose.CSRF, clock),
        http=client,
        captions=captions,
        archiver=archiver,
    )


async def _schedule(controls: ControlState) -> Schedule:
    """The schedule in force (ops' changes over the config's)."""
    return (await controls.current()).schedule


async def _captions(
    settings: Settings,
    recording: CheckedOrigin,
    audit: AuditLog,
    clock: Clock,
    controls: ControlState,
) -> CaptionsMonitor:
    """The recording's captions, checked at start: the log says whether it has them, or
    by when it must (a warning past that date, on every start); overdue: audited once.
    The deadline counts from when the recording opens as the schedule stands (with ops'
    changes, once read)."""

    def opens(_: dt.datetime) -> dt.datetime | None:
        known = controls.known()
        return None if known is None else known.schedule.recording_from

    captions = CaptionsMonitor(
        recording,
        settings.captions.path,
        settings.schedule.recording_from,
        settings.captions.due_days,
        settings.event.timezone,
        audit,
        clock,
        opens=opens,
    )
    await captions.start()
    return captions


async def _streaming(gatekeeper: Gatekeeper, now: dt.datetime) -> bool:
    """Whether a streamed part runs at `now` (stopped by ops or not): the origin is watched."""
    schedule, _ = await gatekeeper.schedule(now)
    return schedule.streaming_at(now)


async def _last_refusals(svc: Services) -> None:
    """At shutdown: the refused links counted but not yet recorded."""
    with contextlib.suppress(StoreUnavailable):
        await svc.gatekeeper.flush_refusals(everything=True)


def _run_background(stack: contextlib.AsyncExitStack, svc: Services) -> None:
    """This process's own work: session, revocation and ops state read ahead (requests
    never wait for it), mail, the audit spool, checkpoints, attendance, captions."""
    settings = svc.settings
    _background(stack, svc.gatekeeper.sessions.keep_fresh())
    _background(stack, svc.gatekeeper.controls.keep_fresh())
    _background(stack, svc.registry.journal.replay_forever(svc.store))
    _background(stack, svc.mailer.run())
    _background(stack, remind_forever(svc.mailer, svc.gatekeeper.controls, svc.clock))
    _background(stack, svc.audit.flush_forever())
    _background(stack, svc.gatekeeper.flush_refusals_forever())
    signing_key = settings.secrets.audit_signing_key
    if settings.audit.checkpoint_dir and signing_key:
        minutes = settings.audit.checkpoint_minutes
        checkpoints = checkpoint_forever(
            svc.store,
            settings.audit.checkpoint_dir,
            signing_key.reveal(),
            svc.clock,
            minutes=minutes,
        )
        _background(stack, checkpoints)
    _background(stack, svc.attendance.flush_forever())
    if svc.captions is not None:
        _background(stack, svc.captions.watch())
