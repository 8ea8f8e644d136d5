"""Attendance: who watched which part, from stream activity counted in minute buckets.

The hot path only notes (registrant, minute) in memory; the buffer is written
to the store every few seconds and at shutdown, so a thousand requests of one
viewer in one minute cost one row. The report is pure: per part, unique
viewers, peak concurrent viewers, viewing hours and the mean and median minutes
a viewer watched; per registrant and part, first and last minute seen and
minutes watched; and viewers in each minute of the day, for the chart.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.core.errors import StoreUnavailable
from gateway.core.schedule import Schedule
from gateway.store import AttendanceStore

RECORDING = "Recording"


class Attendance:
    def __init__(self, store: AttendanceStore) -> None:
        self.store = store
        # registrant → minutes since the epoch (ints: the hot path makes no datetime)
        self._buffer: dict[str, set[int]] = {}

    def seen(self, registrant_id: str, now: dt.datetime) -> None:
        """Note that the registrant fetched stream content during `now`'s minute."""
        minute = int(now.timestamp()) // 60
        minutes = self._buffer.get(registrant_id)
        if minutes is None:
            self._buffer[registrant_id] = {minute}
        else:
            minutes.add(minute)

    async def flush(self) -> None:
        """Write the buffer to the store; on an outage keep it for the next try."""
        buffer, self._buffer = self._buffer, {}
        if not buffer:
            return
        try:
            await self.store.record_attendance(
                {
                    registrant: {_minute(m) for m in minutes}
                    for registrant, minutes in buffer.items()
                }
            )
        except StoreUnavailable:
            for registrant, minutes in buffer.items():
                self._buffer.setdefault(registrant, set()).update(minutes)

    async def flush_forever(self, interval: float = 10.0) -> None:
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(StoreUnavailable):
                await self.flush()


def _minute(since_epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(since_epoch * 60, dt.UTC)


@dataclass(frozen=True)
class PartStats:
    part: str
    viewers: int
    peak: int
    hours: float
    mean_minutes: float = 0.0  # per viewer of the part
    median_minutes: float = 0.0


@dataclass(frozen=True)
class Presence:
    registrant: str
    part: str
    first: dt.datetime
    last: dt.datetime
    minutes: int


def windows(schedule: Schedule) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """The streamed parts and the recording, as (name, start, end)."""
    parts = [(p.name, p.start, p.end) for p in schedule.parts if p.streamed]
    return [*parts, (RECORDING, schedule.recording_from, schedule.recording_until)]


def report(
    schedule: Schedule, minutes: Mapping[str, Sequence[dt.datetime]]
) -> tuple[list[PartStats], list[Presence]]:
    """Per-part totals and per-registrant presence from watched minutes."""
    totals: list[PartStats] = []
    presence: list[Presence] = []
    for name, start, end in windows(schedule):
        concurrent: Counter[dt.datetime] = Counter()
        watched = 0
        for registrant, seen in sorted(minutes.items()):
            inside = [m for m in seen if start <= m < end]
            if not inside:
                continue
            concurrent.update(inside)
            watched += len(inside)
            presence.append(Presence(registrant, name, min(inside), max(inside), len(inside)))
        each = [p.minutes for p in presence if p.part == name]
        totals.append(
            PartStats(
                name,
                len(each),
                max(concurrent.values(), default=0),
                round(watched / 60, 2),
                round(statistics.fmean(each), 1) if each else 0.0,
                float(statistics.median(each)) if each else 0.0,
            )
        )
    return totals, presence


def concurrent(
    minutes: Mapping[str, Sequence[dt.datetime]], start: dt.datetime, end: dt.datetime
) -> dict[dt.datetime, int]:
    """Viewers in each minute from `start` (a minute start) up to `end`, 0 where none:
    the day's curve for the attendance chart."""
    counted: Counter[dt.datetime] = Counter(
        m for seen in minutes.values() for m in seen if start <= m < end
    )
    count = int((end - start) // dt.timedelta(minutes=1))
    every = (start + dt.timedelta(minutes=n) for n in range(max(count, 0)))
    return {m: counted.get(m, 0) for m in every}


def day_span(schedule: Schedule) -> tuple[dt.datetime, dt.datetime]:
    """From the first streamed part's start to the last one's end, in whole minutes."""
    streamed = [p for p in schedule.parts if p.streamed] or list(schedule.parts)
    start = streamed[0].start.replace(second=0, microsecond=0)
    end = streamed[-1].end
    if end.second or end.microsecond:
        end = end.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return start, end
