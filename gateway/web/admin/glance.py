"""The dashboard at a glance, as data for its template: the day as a timeline, the next
change in words, and viewers per minute as a chart. Pure: every function takes `now`.

The pictures are server-rendered SVG (no charting library, no script): their
geometry is computed here, in a 1000-wide box the template scales to the page,
and each comes with the sentence a screen reader says instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.core.schedule import Schedule

WIDTH = 1000  # the SVG's viewBox width; the page scales it
MARGIN = dt.timedelta(minutes=30)  # the timeline shows this much before and after the parts


def duration_words(span: dt.timedelta) -> str:
    """`under a minute`, `12 min`, `1 h 05 min`, `2 days 3 h`."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h"


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


@dataclass(frozen=True)
class Column:
    x: float
    height: float
    label: str  # "11:12: 5 viewers"


@dataclass(frozen=True)
class Chart:
    columns: tuple[Column, ...]
    width: float  # of a column, leaving a gap between them
    peak: int
    peak_at: str
    now: int
    top: int  # the count the chart's full height stands for
    summary: str


HEIGHT = 100  # the chart's drawing height in the viewBox


def viewers_chart(per_minute: dict[dt.datetime, int], schedule: Schedule) -> Chart:
    """Viewers per minute as columns (the last minute, still filling, included)."""
    tz = schedule.timezone
    minutes = sorted(per_minute)
    counts = [per_minute[m] for m in minutes]
    peak = max(counts, default=0)
    top = max(peak, 1)
    width = WIDTH / max(len(minutes), 1)
    peak_at = next((f"{m.astimezone(tz):%H:%M}" for m in minutes if per_minute[m] == peak), "")
    columns = tuple(
        Column(
            round(n * width, 1),
            round(count / top * HEIGHT, 1),
            f"{m.astimezone(tz):%H:%M}: {count} viewer{'s' if count != 1 else ''}",
        )
        for n, (m, count) in enumerate(zip(minutes, counts, strict=True))
        if count
    )
    now = counts[-1] if counts else 0
    span = duration_words(dt.timedelta(minutes=len(minutes)))
    summary = f"Viewers per minute over the last {span}: now {now}" + (
        f", peak {peak} at {peak_at}." if peak else ", nobody watched."
    )
    return Chart(columns, round(width * 0.85, 2), peak, peak_at, now, top, summary)
