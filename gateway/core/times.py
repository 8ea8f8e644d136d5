"""Event times: parsing config and `--at` values, and showing them to people.

A time without an offset is local time of the event's zone. A local time that
does not exist (skipped by a DST change) or exists twice (repeated by one) is
refused with an explanation rather than guessed: a window must never silently
move by an hour.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def parse_time(value: object, tz: ZoneInfo) -> dt.datetime:
    """Return `value` as an aware UTC datetime.

    Accepts an ISO 8601 string or a TOML date-time (a `datetime`). Naive values
    are local time in `tz`. Raises ValueError, with a reason a person can act
    on, for a date or a time alone, garbage, and nonexistent or ambiguous local
    times.
    """
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date | dt.time):
        raise ValueError("needs a full date and time, e.g. 2021-11-18T10:00 (a date or time alone)")
    elif isinstance(value, str):
        text = value.strip().upper()  # RFC 3339 (and TOML) allow a lower-case "t" and "z"
        if not _DATETIME.match(text):
            raise ValueError(f"{value!r} is not a date and time like 2021-11-18T10:00 or ...+02:00")
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid date and time ({exc})") from None
    else:
        raise ValueError(f"expected a date and time, got {type(value).__name__}")
    try:
        if moment.tzinfo is None:
            moment = localize(moment, tz)
        return moment.astimezone(dt.UTC)
    except OverflowError:  # year 1 or 9999 shifted out of the calendar by its offset
        raise ValueError(f"{value!r} is too close to the ends of the calendar") from None


def localize(naive: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """Attach `tz` to a wall-clock time, refusing times a DST change skips or repeats."""
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        # zoneinfo gives the two readings different offsets both for a repeated
        # hour (both real) and for a skipped one (neither real): tell them apart
        # by whether the wall time survives a round trip through UTC.
        back = first.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None)
        if back != naive:
            raise ValueError(
                f"{naive:%Y-%m-%d %H:%M} does not exist in {tz.key} (clocks skip it for DST); "
                "give a time outside the gap or an explicit offset"
            )
        raise ValueError(
            f"{naive:%Y-%m-%d %H:%M} happens twice in {tz.key} (clocks go back for DST); "
            "give an explicit offset such as +03:00 or +02:00"
        )
    return first


def in_zone(moment: dt.datetime, tz: ZoneInfo, *, seconds: bool = False) -> str:
    """`2021-11-18 10:00 EET (+02:00)`: a moment as people of the event's zone read it."""
    local = moment.astimezone(tz)
    offset = local.strftime("%z")
    clock = "%H:%M:%S" if seconds or local.second else "%H:%M"
    return f"{local.strftime('%Y-%m-%d ' + clock)} {local.tzname()} ({offset[:3]}:{offset[3:]})"


def iso(moment: dt.datetime, tz: ZoneInfo | None = None) -> str:
    """ISO 8601 with offset, in `tz` when given (else UTC, written with +00:00)."""
    return moment.astimezone(tz or dt.UTC).isoformat(timespec="seconds")
