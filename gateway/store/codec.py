"""How both stores write and read values: datetimes as fixed-width UTC ISO text.

`encode_time` gives `2024-05-01T09:30:00.000000+00:00` (microseconds always, so text order
is time order), `decode_time` reads it back as an aware UTC datetime: the round trip is
exact. A segment's date (`Dated`) is its start as above, its duration and how much
earlier it may have started, space-separated. Imports only gateway.core and the
standard library, as every store module.
"""

from __future__ import annotations

import datetime as dt

from gateway.core.dating import Dated


def encode_time(moment: dt.datetime) -> str:
    """`moment` as UTC ISO text with microseconds; ValueError if it is naive."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the store needs aware datetimes")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def decode_time(text: str) -> dt.datetime:
    """ISO text (as `encode_time` writes it) as an aware UTC datetime."""
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def stored_time(moment: dt.datetime) -> dt.datetime:
    """`moment` as a store gives it back: aware UTC; ValueError if it is naive."""
    return decode_time(encode_time(moment))


def minute_start(moment: dt.datetime) -> dt.datetime:
    """`moment` in UTC, checked to be the start of a minute (an attendance bucket)."""
    at = stored_time(moment)
    if at.second or at.microsecond:
        raise ValueError(f"{moment!r} is not the start of a minute")
    return at


MAX_MINUTES = 24 * 60


def minute_range(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The minute starts from `start` (a minute start) up to `end`, exclusive, in UTC;
    ValueError beyond a day (what `viewers_per_minute` answers for)."""
    first = minute_start(start)
    count = max(0, -(-(stored_time(end) - first) // dt.timedelta(minutes=1)))
    if count > MAX_MINUTES:
        raise ValueError(f"at most a day of minutes, not {count}")
    return [first + dt.timedelta(minutes=n) for n in range(count)]


def encode_dated(dated: Dated) -> str:
    """A segment's date as text: `<start> <duration> <early>`."""
    return f"{encode_time(dated.start)} {dated.duration!r} {dated.early!r}"


def decode_dated(text: str) -> Dated:
    """A segment's date written by `encode_dated`."""
    start, duration, early = text.split(" ")
    return Dated(decode_time(start), float(duration), float(early))
