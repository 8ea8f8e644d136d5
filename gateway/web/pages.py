"""HTML pages: one Jinja environment, and the schedule as people read it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from gateway.schedule import Schedule
from gateway.times import in_zone, iso

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
    start_utc: str
    start_iso: str
    end_iso: str


def when(moment: dt.datetime, schedule: Schedule) -> str:
    """A moment in the event's zone and in UTC, for people."""
    return f"{in_zone(moment, schedule.timezone)}, {moment.astimezone(dt.UTC):%H:%M} UTC"


def rows(schedule: Schedule) -> list[Row]:
    tz = schedule.timezone
    return [
        Row(
            p.name,
            p.streamed,
            in_zone(p.start, tz),
            f"{p.end.astimezone(tz):%H:%M}",
            f"{p.start.astimezone(dt.UTC):%H:%M} UTC",
            iso(p.start, tz),
            iso(p.end, tz),
        )
        for p in schedule.parts
    ]


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    settings = request.app.state.settings
    body = _env.get_template(template).render(
        event=settings.event, schedule=settings.schedule, lang="en", **context
    )
    return HTMLResponse(body, status_code=status)
