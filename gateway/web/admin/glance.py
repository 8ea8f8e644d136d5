"""The dashboard at a glance, as data for its template: the day as a timeline and the
next change in words (viewers per minute: `gateway.audit.chart`). Pure: every
function takes `now`.

The pictures are server-rendered SVG (no charting library, no script): their
geometry is computed here, in a 1000-wide box the template scales to the page,
and each comes with the sentence a screen reader says instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.audit.chart import duration_words
from gateway.core.schedule import Schedule

WIDTH = 1000  # the SVG's viewBox width; the page scales it (as `chart.WIDTH`)
MARGIN = dt.timedelta(minutes=30)  # the timeline shows this much before and after the parts


def next_change(schedule: Schedule, now: dt.datetime) -> str:
    """The next thing the day does, for ops: "Part II starts at 12:45 (in 12 min): live
    stops." (the stream's side of it said after the colon)."""
    tz = schedule.timezone
    edge = next((b for b in schedule.boundaries() if b > now), None)
    if edge is None:
        return "Nothing more changes: the day and the recording are over."
    local = edge.astimezone(tz)
    at = f"{local:%H:%M}"
    if local.date() != now.astimezone(tz).date():
        at = f"{local.day} {local:%b %H:%M}"
    when = f"at {at} (in {duration_words(edge - now)})"
    before = schedule.part_at(edge - dt.timedelta(microseconds=1))
    after = schedule.part_at(edge)
    streaming_before = before is not None and before.streamed
    streaming_after = after is not None and after.streamed
    effect = ""
    if streaming_after and not streaming_before:
        effect = ": live starts"
    elif streaming_before and not streaming_after:
        effect = ": live stops"
    if after is not None and after.start == edge:
        said = f"{after.name} starts {when}{effect}"
        if not after.streamed and not effect:
            said += " (not streamed)"
    elif before is not None and before.end == edge:
        said = f"{before.name} ends {when}{effect}"
        if edge == schedule.recording_from:
            said += "; the recording opens"
    elif edge == schedule.recording_from:
        said = f"The recording opens {when}"
    else:
        said = f"The recording closes {when}: links stop working"
    return said + "."


@dataclass(frozen=True)
class Bar:
    label: str  # "Part I 10:00–12:45, streamed"
    name: str
    x: float
    width: float
    streamed: bool
    running: bool


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    now_x: float | None  # None when now lies outside the picture
    summary: str


def timeline(schedule: Schedule, now: dt.datetime) -> Timeline:
    """The parts as bars on the day's hours, and now as a line."""
    tz = schedule.timezone
    start = schedule.parts[0].start - MARGIN
    end = schedule.parts[-1].end + MARGIN
    span = (end - start).total_seconds()

    def x(moment: dt.datetime) -> float:
        return round((moment - start).total_seconds() / span * WIDTH, 1)

    bars = tuple(
        Bar(
            f"{p.name} {p.start.astimezone(tz):%H:%M}–{p.end.astimezone(tz):%H:%M}, "
            + ("streamed" if p.streamed else "not streamed"),
            p.name,
            x(p.start),
            max(x(p.end) - x(p.start), 1.0),
            p.streamed,
            p.holds(now),
        )
        for p in schedule.parts
    )
    first_hour = start.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    hours = [first_hour + dt.timedelta(hours=n) for n in range(1, int(span // 3600) + 2)]
    step = 1 if len(hours) <= 14 else 2  # labels never crowd on a long day
    ticks = tuple(
        Tick(x(h), f"{h:%H}") for n, h in enumerate(hours) if start < h < end and n % step == 0
    )
    inside = start <= now <= end
    where = f"now, {now.astimezone(tz):%H:%M}" if inside else "now is outside the day"
    summary = "The day: " + "; ".join(b.label for b in bars) + f"; {where}."
    return Timeline(bars, ticks, x(now) if inside else None, summary)
