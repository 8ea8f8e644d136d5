"""`gateway schedule`: the parts in event and UTC time, and what is served at a moment.

The last line names first the part running at that moment, if any, and no
part at all when none runs, so scripts can read it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from gateway.core import dating
from gateway.core.schedule import Schedule, status
from gateway.core.times import in_zone
from gateway.sessions.controls import Controls
from gateway.settings import Settings


def _utc_stamp(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}Z"


def report(
    settings: Settings,
    at: dt.datetime,
    *,
    controls: Controls | None = None,
    notices: Sequence[str] = (),
) -> list[str]:
    """The report's lines; `controls` are ops' changes and the kill switch, if known."""
    schedule = controls.schedule if controls else settings.schedule
    stopped = controls.stopped if controls else False
    changed = controls.changed if controls else frozenset()
    tz = schedule.timezone
    lines = [f"{settings.event.title}", f"Times in {tz.key} and UTC.", ""]
    width = max(len(p.name) for p in schedule.parts)
    config = {p.name: p for p in settings.schedule.parts}
    for p in schedule.parts:
        served = "streamed live" if p.streamed else "NOT streamed (blocked)"
        moved = ""
        if p.name in changed and p.name in config:
            was = config[p.name]
            moved = (
                f"   [changed by ops; config: {was.start.astimezone(tz):%H:%M}–"
                f"{was.end.astimezone(tz):%H:%M}, "
                f"{'streamed' if was.streamed else 'not streamed'}]"
            )
        lines.append(
            f"  {p.name:<{width}}  {in_zone(p.start, tz)} – {p.end.astimezone(tz):%H:%M}"
            f"   {_utc_stamp(p.start)} – {_utc_stamp(p.end)}   {served}{moved}"
        )
    lines += [
        "",
        f"  Recording: registrants only, from {in_zone(schedule.recording_from, tz)} "
        f"({_utc_stamp(schedule.recording_from)}) until {in_zone(schedule.recording_until, tz)} "
        f"({_utc_stamp(schedule.recording_until)})",
        f"  Registration closes {in_zone(settings.registration_closes, tz)} "
        f"({_utc_stamp(settings.registration_closes)})",
        "  Live: a segment is served only whole inside a streamed part, so up to one",
        "  segment is lost at each edge (without PROGRAM-DATE-TIME from the encoder, up to",
        f"  {1 + dating.ENCODER_LAG:.0f} s more: see the README, live playlists).",
        *(["  Live serving is STOPPED by ops (kill switch)."] if stopped else []),
        *(f"  {notice}" for notice in notices),
        "",
        served_at(schedule, settings.end_grace, at, stopped=stopped),
    ]
    return lines


def served_at(
    schedule: Schedule, grace: dt.timedelta, at: dt.datetime, *, stopped: bool = False
) -> str:
    tz = schedule.timezone
    now = status(schedule, at, stopped=stopped)
    head = f"At {in_zone(at, tz)} = {_utc_stamp(at)}:"
    nxt = f" next change at {in_zone(now.next_change, tz)}." if now.next_change else ""
    match now.phase:
        case "live":
            return f"{head} {now.part} is streamed live."
        case "blocked":
            return f"{head} {now.part} is running and is NOT streamed (live refused);{nxt}"
        case "stopped":
            running = f"{now.part} is running; " if now.part else ""
            return f"{head} {running}the live stream is stopped by ops."
        case "before":
            return f"{head} before the event: nothing is served yet;{nxt}"
        case "between":
            grace_part = next(
                (p for p in schedule.parts if p.streamed and p.end <= at < p.end + grace),
                None,
            )
            closing = " (the ended part's playlist is closing)" if grace_part else ""
            return f"{head} no part is running, nothing live is served{closing};{nxt}"
        case "recording":
            return f"{head} the recording is served to registrants;{nxt}"
        case _:
            return f"{head} the event is over and the recording has closed."
