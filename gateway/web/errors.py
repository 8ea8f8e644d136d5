"""Domain errors to HTTP answers: JSON for stream and API routes, a page for people.

The only place a status code is chosen for a domain error. A store outage is
always 503 with Retry-After, never 401/403/500.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from gateway.core.errors import (
    AccessRefused,
    BadPath,
    GatewayError,
    LinkRefused,
    NoSession,
    NotFound,
    OriginTimeout,
    OriginUnavailable,
    RangeNotSatisfiable,
    RecordingExpired,
    Revoked,
    StoreUnavailable,
)
from gateway.core.schedule import Schedule
from gateway.core.times import iso
from gateway.i18n.translator import Translator
from gateway.web.admin.auth import (
    ConsoleNotConfigured,
    FormExpired,
    FormTooLarge,
    NotAllowed,
    ReasonRefused,
    SignInRequired,
)
from gateway.web.admin.oidc import AdminError, ProviderUnavailable, SignInFailed
from gateway.web.pages import render, translator, when
from gateway.web.ratelimit import RateLimited

log = logging.getLogger(__name__)
RETRY_AFTER = "5"
_API_PREFIXES = (
    *("/live/", "/recording/", "/api/", "/auth", "/readyz", "/healthz", "/ingest/"),
    *("/openapi.json", "/admin/whoami"),  # JSON routes: their refusals are JSON too
)
# Refusals that getting the current link again by email (`/link`) can mend.
RELINK = frozenset({"no_session", "bad_signature", "unknown_registrant", "superseded"})


@dataclass(frozen=True)
class Answer:
    """A refusal in words: message keys of `messages/*.toml` and their parameters."""

    status: int
    code: str
    heading: str
    message: str
    advice: str = ""
    params: tuple[tuple[str, str | dt.datetime], ...] = ()

    def words(
        self, t: Translator, schedule: Schedule, today: dt.date | None = None
    ) -> tuple[str, str, str]:
        """Heading, message and advice in `t`'s language, moments in the event's zone (the
        date left out of those on `today`)."""
        params = {
            k: when(v, schedule, t, today=today) if isinstance(v, dt.datetime) else v
            for k, v in self.params
        }
        return (
            t(self.heading),
            t(self.message, **params),
            t(self.advice, **params) if self.advice else "",
        )


def explain(exc: GatewayError) -> Answer:
    """Status, machine code and message keys for a domain error."""
    if isinstance(exc, NoSession):
        message = "err_evicted" if exc.evicted else "err_no_session"
        return Answer(401, "no_session", "err_no_session_heading", message, "err_no_session_advice")
    if isinstance(exc, Revoked):
        return Answer(403, "revoked", "err_revoked_heading", "err_revoked", "err_contact")
    if isinstance(exc, LinkRefused):
        return Answer(
            403, exc.reason, "err_link_heading", f"err_link_{exc.reason}", "err_link_advice"
        )
    if isinstance(exc, AccessRefused):
        return _refusal(exc)
    if isinstance(exc, RecordingExpired):
        return Answer(
            410,
            exc.reason,
            "err_recording_expired_heading",
            "err_recording_expired",
            params=(("when", exc.until),),
        )
    if isinstance(exc, BadPath):
        return Answer(400, "bad_path", "err_bad_path_heading", "err_bad_path")
    if isinstance(exc, NotFound):
        return Answer(404, "not_found", "err_not_found_heading", "err_not_found")
    if isinstance(exc, RangeNotSatisfiable):
        return Answer(416, "range_not_satisfiable", "err_bad_path_heading", "err_bad_range")
    if isinstance(exc, OriginTimeout):
        return Answer(
            504,
            "origin_timeout",
            "err_origin_timeout_heading",
            "err_origin_timeout",
            "err_try_minute",
        )
    if isinstance(exc, OriginUnavailable):
        return Answer(
            502, "origin_unavailable", "err_origin_heading", "err_origin", "err_try_minute"
        )
    if isinstance(exc, RateLimited):
        return Answer(429, "rate_limited", "err_generic_heading", "error_too_many")
    if isinstance(exc, StoreUnavailable):
        return Answer(503, "store_unavailable", "err_store_heading", "err_store", "err_try_seconds")
    log.error("unmapped domain error %r", exc)
    return Answer(500, "internal", "err_internal_heading", "err_internal")


def _refusal(exc: AccessRefused) -> Answer:
    params: tuple[tuple[str, str | dt.datetime], ...] = (("part", exc.part or ""),)
    if exc.reason == "recording_not_yet" and exc.opens_at:
        params = (("when", exc.opens_at),)
    message = {
        "part_not_streamed": "err_part_not_streamed",
        "stopped_by_ops": "now_stopped",
        "recording_not_yet": "err_recording_not_yet",
        "segment_undated": "err_segment_undated",
    }.get(exc.reason, "err_outside_window")
    advice = "next_starts" if exc.opens_at and exc.next_part else "no_more_live"
    if exc.reason == "outside_window" and exc.part:  # a segment from outside the part on now
        message, advice = "err_segment_outside", ""
    if exc.reason in ("stopped_by_ops", "recording_not_yet"):
        advice = ""
    elif exc.opens_at and exc.next_part:
        params += (("when", exc.opens_at),)
    return Answer(
        403,
        exc.reason,
        "err_not_now_heading",
        message,
        advice,
        params + ((("next", exc.next_part),) if exc.next_part else ()),
    )


_COMPLAINED: dict[str, float] = {}
COMPLAINT_INTERVAL = 60.0


def complain(reason: str) -> None:
    """Log an outage's reason once a minute per process, not once per request."""
    now = time.monotonic()
    if now - _COMPLAINED.get(reason, -COMPLAINT_INTERVAL) >= COMPLAINT_INTERVAL:
        _COMPLAINED[reason] = now
        log.warning("answering 5xx: %s (logged once a minute)", reason)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(_API_PREFIXES)


_ADMIN_STATUS: tuple[tuple[type[AdminError], int], ...] = (
    (NotAllowed, 403),
    (FormExpired, 403),
    (FormTooLarge, 400),
    (ReasonRefused, 400),
    (ConsoleNotConfigured, 404),
    (SignInFailed, 400),
    (ProviderUnavailable, 502),
)


def admin_answer(request: Request, exc: AdminError) -> Response:
    """The console's refusals: to the sign-in (303), or a page in English (staff only)."""
    response: Response
    if isinstance(exc, SignInRequired):
        response = RedirectResponse(exc.login_url, status_code=303)
    else:
        status = next((code for kind, code in _ADMIN_STATUS if isinstance(exc, kind)), 500)
        response = render(
            request,
            "admin_message.html",
            status,
            heading=exc.heading,
            message=exc.message,
            link=exc.link,
        )
    secure = request.app.state.settings.event.secure
    for name in exc.forget:
        response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")
    response.headers["Cache-Control"] = "no-store"
    return response


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    if isinstance(exc, AdminError):
        return admin_answer(request, exc)
    schedule = request.app.state.settings.schedule
    answer = explain(exc)
    if isinstance(exc, StoreUnavailable | OriginUnavailable | OriginTimeout):
        complain(f"{type(exc).__name__}: {exc}")
    today = request.app.state.services.clock().astimezone(schedule.timezone).date()
    heading, message, advice = answer.words(translator(request), schedule, today)
    headers = {"Retry-After": RETRY_AFTER} if answer.status == 503 else {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    headers["Cache-Control"] = "no-store"
    if wants_json(request):
        body: dict[str, Any] = {"error": answer.code, "message": f"{message} {advice}".strip()}
        if isinstance(exc, AccessRefused):
            body["part"] = exc.part
            body["next_part"] = exc.next_part
            body["opens_at"] = iso(exc.opens_at, schedule.timezone) if exc.opens_at else None
        return JSONResponse(body, status_code=answer.status, headers=headers)
    services = request.app.state.services
    response = render(
        request,
        "error.html",
        answer.status,
        heading=heading,
        message=message,
        advice=advice,
        offer_link=answer.code in RELINK and services.clock() < schedule.recording_until,
    )
    response.headers.update(headers)
    return response


async def on_disconnect(request: Request, exc: Exception) -> Response:
    """The client hung up while sending its request: one quiet line, nothing stored.
    The answer is for no one (uvicorn drops it); it exists so no traceback is logged."""
    log.info("client went away mid-request: %s %s", request.method, request.url.path)
    return Response(status_code=400)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    t = translator(request)
    keys = {404: "err_not_found", 405: "err_method", 414: "err_too_long"}
    message = t(keys.get(exc.status_code, "err_generic"))
    if wants_json(request):
        return JSONResponse(
            {"error": exc.status_code, "message": message},
            status_code=exc.status_code,
            headers=exc.headers,
        )
    response = render(
        request,
        "error.html",
        exc.status_code,
        heading=t("err_generic_heading"),
        message=message,
        advice="",
    )
    if exc.headers:
        response.headers.update(exc.headers)
    return response
