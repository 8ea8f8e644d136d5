from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gateway.core.times import in_zone, parse_time

HEL = ZoneInfo("Europe/Helsinki")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2021-11-18T10:00", "2021-11-18T08:00:00+00:00"),
        ("2021-11-18 10:00:30", "2021-11-18T08:00:30+00:00"),
        ("2021-11-18T10:00+02:00", "2021-11-18T08:00:00+00:00"),
        ("2021-11-18T10:45Z", "2021-11-18T10:45:00+00:00"),
        ("2021-11-18t10:45z", "2021-11-18T10:45:00+00:00"),  # RFC 3339 and TOML allow both cases
        (dt.datetime(2021, 11, 18, 10, 0), "2021-11-18T08:00:00+00:00"),
        (dt.datetime(2021, 11, 18, 10, 0, tzinfo=dt.UTC), "2021-11-18T10:00:00+00:00"),
    ],
)
def test_local_times_are_event_zone_and_offsets_win(value: object, expected: str) -> None:
    assert parse_time(value, HEL).isoformat() == expected


@pytest.mark.parametrize(
    "value",
    [
        "2021-11-18",
        "10:00",
        dt.date(2021, 11, 18),
        dt.time(10),
        "tomorrow",
        "",
        42,
        "2021-13-18T10:00",
        "2021-11-18T25:00",
    ],
)
def test_a_date_or_time_alone_and_garbage_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        parse_time(value, HEL)


def test_a_local_time_skipped_by_dst_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="does not exist"):
        parse_time("2021-03-28T03:30", HEL)  # clocks jump 03:00 -> 04:00


def test_a_local_time_repeated_by_dst_is_refused_unless_given_an_offset() -> None:
    with pytest.raises(ValueError, match="happens twice"):
        parse_time("2021-10-31T03:30", HEL)  # clocks go 04:00 -> 03:00
    assert parse_time("2021-10-31T03:30+03:00", HEL).hour == 0
    assert parse_time("2021-10-31T03:30+02:00", HEL).hour == 1


def test_times_are_shown_in_the_event_zone_with_offset() -> None:
    moment = dt.datetime(2021, 11, 18, 8, 0, tzinfo=dt.UTC)
    assert in_zone(moment, HEL) == "2021-11-18 10:00 EET (+02:00)"
    assert in_zone(moment + dt.timedelta(seconds=59), HEL) == "2021-11-18 10:00:59 EET (+02:00)"
