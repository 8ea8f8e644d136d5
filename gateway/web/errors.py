"""Domain errors to HTTP answers: JSON for stream and API routes, a page for people.

The only place a status code is chosen for a domain error. A store outage is
always 503 with Retry-After, never 401/403/500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import (
    AccessRefused,
    BadPath,
    GatewayError,
    LinkRefused,
    NoSession,
    NotFound,
    OriginTimeout,
    OriginUnavailable,
    RecordingExpired,
    Revoked,
    StoreUnavailable,
)
from gateway.schedule import Schedule
from gateway.times import iso
from gateway.web.pages import render, when

log = logging.getLogger(__name__)
RETRY_AFTER = "5"
_API_PREFIXES = ("/live/", "/recording/", "/api/", "/auth", "/readyz", "/healthz")


@dataclass(frozen=True)
class Answer:
    status: int
    code: str
    heading: str
    message: str
    advice: str = ""


_LINK_MESSAGES = {
    "bad_signature": "The link is incomplete or has been changed. Open it again from your "
    "email, making sure the whole address is used.",
    "unknown_registrant": "This link does not belong to a registered participant.",
    "revoked": "The organisers have withdrawn access for this link.",
    "superseded": "A newer link has been sent to you: please use the link in your most "
    "recent email.",
}


def explain(exc: GatewayError, schedule: Schedule) -> Answer:
    """Status, machine code and plain words for a domain error."""
    if isinstance(exc, NoSession):
        return Answer(
            401,
            "no_session",
            "Please open your personal link",
            "This page is for registered web participants.",
            "Open the personal link from your registration email on this device.",
        )
    if isinstance(exc, Revoked):
        return Answer(
            403,
            "revoked",
            "Access withdrawn",
            "The organisers have withdrawn access for this registration.",
            "If you think this is a mistake, please contact the organisers.",
        )
    if isinstance(exc, LinkRefused):
        return Answer(
            403,
            exc.reason,
            "This link does not work",
            _LINK_MESSAGES[exc.reason],
            "If you need a new link, please contact the organisers.",
        )
    if isinstance(exc, AccessRefused):
        return Answer(403, exc.reason, "Not available now", _refusal_words(exc, schedule))
    if isinstance(exc, RecordingExpired):
        return Answer(
            410,
            exc.reason,
            "The recording has ended",
            f"The recording was available until {when(exc.until, schedule)}.",
        )
    if isinstance(exc, BadPath):
        return Answer(400, "bad_path", "Bad address", "That address is not valid.")
    if isinstance(exc, NotFound):
        return Answer(404, "not_found", "Not found", "There is nothing at this address.")
    if isinstance(exc, OriginTimeout):
        return Answer(
            504,
            "origin_timeout",
            "The video source is slow",
            "The video source did not answer in time.",
            "Please try again in a minute.",
        )
    if isinstance(exc, OriginUnavailable):
        return Answer(
            502,
            "origin_unavailable",
            "The video source is not answering",
            "The video source is not answering right now.",
            "Please try again in a minute.",
        )
    if isinstance(exc, StoreUnavailable):
        return Answer(
            503,
            "store_unavailable",
            "Briefly unavailable",
            "The service is briefly unavailable.",
            "Please try again in a few seconds.",
        )
    log.error("unmapped domain error %r", exc)
    return Answer(500, "internal", "Something went wrong", "Something went wrong on our side.")


def _refusal_words(exc: AccessRefused, schedule: Schedule) -> str:
    opens = (
        f"{exc.next_part} starts at {when(exc.opens_at, schedule)}."
        if exc.opens_at and exc.next_part
        else "There is no more live programme."
    )
    if exc.reason == "part_not_streamed":
        return f"{exc.part} is not streamed. {opens}"
    if exc.reason == "stopped_by_ops":
        return (
            "The organisers have paused the stream. Please stay on this page: "
            "it will continue when they resume it."
        )
    if exc.reason == "recording_not_yet" and exc.opens_at:
        return f"The recording opens at {when(exc.opens_at, schedule)}."
    return f"Nothing is streamed right now. {opens}"


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(_API_PREFIXES)


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    schedule = request.app.state.settings.schedule
    answer = explain(exc, schedule)
    headers = {"Retry-After": RETRY_AFTER} if answer.status == 503 else {}
    headers["Cache-Control"] = "no-store"
    if wants_json(request):
        body: dict[str, Any] = {"error": answer.code, "message": answer.message}
        if isinstance(exc, AccessRefused):
            body["part"] = exc.part
            body["next_part"] = exc.next_part
            body["opens_at"] = iso(exc.opens_at, schedule.timezone) if exc.opens_at else None
        return JSONResponse(body, status_code=answer.status, headers=headers)
    response = render(
        request,
        "error.html",
        answer.status,
        heading=answer.heading,
        message=answer.message,
        advice=answer.advice,
    )
    response.headers.update(headers)
    return response


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    words = {
        404: "There is nothing at this address.",
        405: "That method is not allowed here.",
        414: "That address is too long.",
    }
    message = words.get(exc.status_code, "The request could not be handled.")
    if wants_json(request):
        return JSONResponse(
            {"error": exc.status_code, "message": message},
            status_code=exc.status_code,
            headers=exc.headers,
        )
    response = render(
        request, "error.html", exc.status_code, heading="Not available", message=message, advice=""
    )
    if exc.headers:
        response.headers.update(exc.headers)
    return response
