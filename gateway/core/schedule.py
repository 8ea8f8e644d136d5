"""The event's day as data, and what it allows at a given moment.

Pure: every function takes `now` (aware UTC) and a `Schedule`, reads no clock
and does no I/O. Windows are half-open, `[start, end)`: at exactly `end` a part
is over, and the same holds for the recording's `available_until`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo

from gateway.core.errors import AccessRefused, RecordingExpired

PHASES = ("before", "live", "blocked", "between", "recording", "closed", "stopped")


@dataclass(frozen=True)
class Part:
    name: str
    start: dt.datetime
    end: dt.datetime
    streamed: bool

    def holds(self, now: dt.datetime) -> bool:
        return self.start <= now < self.end


@dataclass(frozen=True)
class Schedule:
    """Parts in time order (validated not to overlap) and the recording's window."""

    timezone: ZoneInfo
    parts: tuple[Part, ...]
    recording_from: dt.datetime
    recording_until: dt.datetime

    def part_at(self, now: dt.datetime) -> Part | None:
        """The part running at `now`, if any."""
        return next((p for p in self.parts if p.holds(now)), None)

    def streaming_at(self, now: dt.datetime) -> bool:
        """Whether a streamed part runs at `now` (stopped by ops or not): the encoder's
        output is watched then."""
        part = self.part_at(now)
        return part is not None and part.streamed

    def next_streamed(self, now: dt.datetime) -> Part | None:
        """The first streamed part that starts after `now`."""
        return next((p for p in self.parts if p.streamed and p.start > now), None)

    def boundaries(self, grace: dt.timedelta | None = None) -> tuple[dt.datetime, ...]:
        """The moments the phase can change at, in order: part starts and ends, the
        recording's opening and close, and with `grace` each part's end of grace too.
        Worked out once per schedule and grace (stream requests ask for them)."""
        found = self._boundaries.get(grace)
        if found is None:
            edges = {self.recording_from, self.recording_until}
            for p in self.parts:
                edges.update((p.start, p.end))
                if grace is not None:
                    edges.add(p.end + grace)
            found = self._boundaries[grace] = tuple(sorted(edges))
        return found

    @cached_property
    def _boundaries(self) -> dict[dt.timedelta | None, tuple[dt.datetime, ...]]:
        return {}  # (kept in the instance's __dict__: not a field, so not compared or hashed)


@dataclass(frozen=True)
class Status:
    """What `/api/status` reports."""

    phase: str
    part: str | None
    live: bool
    recording_available: bool
    next_change: dt.datetime | None


@dataclass(frozen=True)
class LiveWindow:
    """What the live stream may show now: segments dated in `[start, end)`.

    `ended` is true during the grace after a streamed part: the playlist is
    closed with ENDLIST so players stop cleanly.
    """

    part: str
    start: dt.datetime
    end: dt.datetime
    ended: bool

    def holds(self, moment: dt.datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class PartProblem:
    """A break of the schedule's rules: `part` ends before it starts ("backwards"), or
    starts before `other`, the part before it, has ended ("overlap")."""

    kind: str  # backwards | overlap
    part: Part
    other: Part | None = None


def part_problems(parts: Iterable[Part]) -> list[PartProblem]:
    """The schedule's rules, in one place (the config and ops' changes both check them):
    every part ends after it starts, and no two overlap. Problems in start order."""
    ordered = sorted(parts, key=lambda p: p.start)
    problems = [PartProblem("backwards", p) for p in ordered if p.end <= p.start]
    forwards = [p for p in ordered if p.end > p.start]
    for before, after in zip(forwards, forwards[1:], strict=False):
        if after.start < before.end:
            problems.append(PartProblem("overlap", after, before))
    return problems


def status(schedule: Schedule, now: dt.datetime, *, stopped: bool = False) -> Status:
    """The phase at `now` (see PHASES), the running part and the next boundary after `now`."""
    part = schedule.part_at(now)
    recording_open = schedule.recording_from <= now < schedule.recording_until
    next_change = next((b for b in schedule.boundaries() if b > now), None)
    if stopped:
        phase = "stopped"
    elif part is not None:
        phase = "live" if part.streamed else "blocked"
    elif now < schedule.parts[0].start:
        phase = "before"
    elif now >= schedule.parts[-1].end and recording_open:
        phase = "recording"
    elif next_change is not None:
        phase = "between"
    else:
        phase = "closed"
    live = part is not None and part.streamed and not stopped
    return Status(phase, part.name if part else None, live, recording_open, next_change)


def live_window(schedule: Schedule, now: dt.datetime, grace: dt.timedelta) -> LiveWindow:
    """The window the live stream may show at `now`.

    Inside a streamed part: that part. Within `grace` after a streamed part
    ended (and no other streamed part running): that part, `ended=True`.
    Raises AccessRefused with reason `part_not_streamed` while a part that is
    not streamed runs, otherwise `outside_window`; both name the next streamed
    part and when it opens.
    """
    part = schedule.part_at(now)
    if part is not None and part.streamed:
        return LiveWindow(part.name, part.start, part.end, ended=False)
    for p in reversed(schedule.parts):
        if p.streamed and p.end <= now < p.end + grace:
            return LiveWindow(p.name, p.start, p.end, ended=True)
    upcoming = schedule.next_streamed(now)
    reason = "part_not_streamed" if part is not None else "outside_window"
    raise AccessRefused(
        reason,
        part=part.name if part else None,
        opens_at=upcoming.start if upcoming else None,
        next_part=upcoming.name if upcoming else None,
    )


def check_recording(schedule: Schedule, now: dt.datetime) -> None:
    """Allow the recording in `[recording_from, recording_until)`.

    Raises AccessRefused(`recording_not_yet`) before and RecordingExpired after.
    """
    if now < schedule.recording_from:
        raise AccessRefused("recording_not_yet", opens_at=schedule.recording_from)
    if now >= schedule.recording_until:
        raise RecordingExpired(schedule.recording_until)
