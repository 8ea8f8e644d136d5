"""The 14-day deadline: whether the recording has captions, or by when it must (pure)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from gateway.core.times import in_zone
from gateway.stream.captions.find import Found

DEFAULT_DAYS = 14


@dataclass(frozen=True)
class CaptionsStatus:
    """Captions present or not, and the instant they are due (`available_from` + days)."""

    present: bool
    due: dt.datetime
    days: int
    overdue: bool

    def line(self, tz: ZoneInfo, found: Found | None = None) -> str:
        """One line for ops (`gateway schedule`, the startup log, the dashboard)."""
        due = in_zone(self.due, tz)
        if self.present:
            where = f": {found.describe()}" if found and found.tracks else ""
            return f"Captions: present on the recording{where}."
        why = f" ({found.note})" if found and found.note else ""
        if self.overdue:
            return (
                f"Captions: OVERDUE: the recording has none{why}; they were due by {due}, "
                f"{self.days} days after it opened. Add them now: the law requires them "
                "on a recording left available."
            )
        return (
            f"Captions: missing on the recording{why}; due by {due} "
            f"({self.days} days after it opens)."
        )


def captions_status(
    now: dt.datetime, available_from: dt.datetime, days: int, present: bool
) -> CaptionsStatus:
    """Whether captions are overdue at `now`: missing from `available_from + days` on."""
    due = available_from + dt.timedelta(days=days)
    return CaptionsStatus(present, due, days, overdue=not present and now >= due)
