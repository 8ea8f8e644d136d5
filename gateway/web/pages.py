"""HTML pages: one Jinja environment, the page language, and the schedule as people read it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from gateway.core.schedule import Schedule
from gateway.core.times import in_zone, iso
from gateway.i18n.translator import LANGUAGES, Translator, catalog
from gateway.web import csrf
from gateway.web.i18n import COOKIE, negotiate
from gateway.web.services import services

_env = Environment(
    loader=PackageLoader("gateway", "web/templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Row:
    name: str
    streamed: bool
    start_local: str
    end_local: str
    start_iso: str
    end_iso: str
    description: str = ""


def when(moment: dt.datetime, schedule: Schedule) -> str:
    """A moment in the event's zone and in UTC, for people."""
    return f"{in_zone(moment, schedule.timezone)}, {moment.astimezone(dt.UTC):%H:%M} UTC"


def rows(schedule: Schedule, describe: Callable[[str], str] | None = None) -> list[Row]:
    """The programme's rows; `describe` gives a part's description by its name."""
    tz = schedule.timezone
    return [
        Row(
            p.name,
            p.streamed,
            in_zone(p.start, tz),
            f"{p.end.astimezone(tz):%H:%M}",
            iso(p.start, tz),
            iso(p.end, tz),
            describe(p.name) if describe else "",
        )
        for p in schedule.parts
    ]


def schedule_json(schedule: Schedule) -> str:
    """The day as data for the player script (embedded as a JSON block, not executed)."""
    tz = schedule.timezone
    return json.dumps(
        {
            "timezone": tz.key,
            "parts": [
                {
                    "name": p.name,
                    "start": iso(p.start, tz),
                    "end": iso(p.end, tz),
                    "streamed": p.streamed,
                }
                for p in schedule.parts
            ],
            "recording_from": iso(schedule.recording_from, tz),
            "recording_until": iso(schedule.recording_until, tz),
        }
    ).replace("</", "<\\/")


def translator(request: Request) -> Translator:
    return Translator(negotiate(request))


def form_page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page holding a form: rendered with a fresh CSRF token (`csrf` in the template),
    its cookie set, and never stored by a cache."""
    svc = services(request)
    token, cookie = csrf.issue(request, svc.csrf_signer, secure=svc.settings.event.secure)
    response = render(request, template, status, csrf=token, **context)
    csrf.set_cookie(response, cookie, secure=svc.settings.event.secure)
    response.headers["Cache-Control"] = "no-store"
    return response


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    settings = request.app.state.settings
    t = translator(request)
    languages = [
        (code, catalog(code)["language_name"], f"{request.url.path}?lang={code}")
        for code in LANGUAGES
    ]
    body = _env.get_template(template).render(
        event=settings.event,
        schedule=settings.schedule,
        lang=t.lang,
        t=t,
        languages=languages,
        **context,
    )
    response = HTMLResponse(body, status_code=status)
    response.headers["Content-Language"] = t.lang
    response.headers["Vary"] = "Accept-Language, Cookie"
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(
            COOKIE,
            t.lang,
            max_age=365 * 86400,
            path="/",
            secure=settings.event.secure,
            samesite="lax",
        )
    return response
