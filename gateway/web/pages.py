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
from gateway.core.times import iso
from gateway.i18n import moments
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


@dataclass(frozen=True)
class Programme:
    """The programme as a table: its rows, its day when it has one ("18 November 2021"),
    and the zone its times are in ("Helsinki time (EET, UTC+2)")."""

    rows: list[Row]
    day: str
    zone: str

    @property
    def heading(self) -> str:
        """The time column's heading: the zone, capitalised ("Helsingin aikaa (EET, UTC+2)")."""
        return self.zone[:1].upper() + self.zone[1:]


def when(
    moment: dt.datetime, schedule: Schedule, t: Translator, *, today: dt.date | None = None
) -> str:
    """A moment as participants read it: "18 November 2021, 17:10 Helsinki time (EET,
    UTC+2)", the date left out when it is `today` in the event's zone."""
    return moments.moment(moment, schedule.timezone, t, today=today)


def programme(
    schedule: Schedule, t: Translator, describe: Callable[[str], str] | None = None
) -> Programme:
    """The programme's rows in the event's zone; `describe` gives a part's description by
    its name. A day's programme names the day once; a longer one dates every row."""
    tz = schedule.timezone
    days = {p.start.astimezone(tz).date() for p in schedule.parts}
    day = next(iter(days)) if len(days) == 1 else None
    first = schedule.parts[0].start
    return Programme(
        [
            Row(
                p.name,
                p.streamed,
                moments.clock(p.start, tz, t, today=day),
                moments.end(p.start, p.end, tz, t),
                iso(p.start, tz),
                iso(p.end, tz),
                describe(p.name) if describe else "",
            )
            for p in schedule.parts
        ],
        moments.date(day, t) if day else "",
        moments.zone(first, tz, t),
    )


def schedule_json(schedule: Schedule, t: Translator) -> str:
    """The day as data for the player script (embedded as a JSON block, not executed), each
    moment also in words in the page's language, with and without its date."""
    tz = schedule.timezone

    def words(moment: dt.datetime) -> dict[str, str]:
        local = moment.astimezone(tz).date()
        return {
            "when": when(moment, schedule, t),
            "when_today": when(moment, schedule, t, today=local),
        }

    return json.dumps(
        {
            "timezone": tz.key,
            "parts": [
                {
                    "name": p.name,
                    "start": iso(p.start, tz),
                    "end": iso(p.end, tz),
                    "streamed": p.streamed,
                    **words(p.start),
                }
                for p in schedule.parts
            ],
            "recording_from": iso(schedule.recording_from, tz),
            "recording_from_words": words(schedule.recording_from),
            "recording_until": iso(schedule.recording_until, tz),
        },
        ensure_ascii=False,
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
    here = "/" + request.url.path.lstrip("/")  # never "//host/…": a link off the site
    languages = [
        (code, catalog(code)["language_name"], f"{here}?lang={code}") for code in LANGUAGES
    ]
    body = _env.get_template(template).render(
        event=settings.event,
        schedule=settings.schedule,
        zone=moments.zone(settings.schedule.parts[0].start, settings.schedule.timezone, t),
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
