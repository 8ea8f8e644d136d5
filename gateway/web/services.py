"""What the routes need, built once per app in the lifespan and kept on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass

import httpx2
from itsdangerous import TimestampSigner
from starlette.requests import Request

from gateway.audit.attendance import Attendance
from gateway.audit.log import AuditLog
from gateway.core.clock import Clock
from gateway.mail.queue import Mailer
from gateway.mail.registrants import Registry
from gateway.metrics import Metrics
from gateway.sessions.gatekeeper import Gatekeeper
from gateway.settings import Settings
from gateway.store import Store
from gateway.stream.archive import Archiver
from gateway.stream.captions import CaptionsMonitor
from gateway.stream.live import LiveStream
from gateway.stream.origins import Origin
from gateway.web.ratelimit import RateLimits


@dataclass
class Services:
    settings: Settings
    clock: Clock
    store: Store
    audit: AuditLog
    metrics: Metrics
    gatekeeper: Gatekeeper
    live: LiveStream
    recording: Origin
    registry: Registry
    mailer: Mailer
    attendance: Attendance
    ratelimits: RateLimits
    csrf_signer: TimestampSigner
    http: httpx2.AsyncClient | None = None  # outgoing calls (the staff sign-in's provider)
    captions: CaptionsMonitor | None = None  # the recording's captions and their deadline
    archiver: Archiver | None = None  # with `recording.archive`: the streamed parts kept

    @property
    def cookie_name(self) -> str:
        return "__Host-gw_session" if self.settings.event.secure else "gw_session"


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None
