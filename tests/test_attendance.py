"""Attendance: minute buckets from stream requests, and the report per part and registrant."""

from __future__ import annotations

import datetime as dt

from gateway.audit.attendance import RECORDING, report
from tests.conftest import helsinki
from tests.core.test_schedule import SEMINAR


def minutes(start: str, count: int) -> list[dt.datetime]:
    first = helsinki(start)
    return [first + dt.timedelta(minutes=i) for i in range(count)]


def test_report_counts_viewers_peaks_and_hours_per_part() -> None:
    watched = {
        "a": minutes("2021-11-18T10:00", 30) + minutes("2021-11-18T17:10", 10),
        "b": minutes("2021-11-18T10:20", 30) + minutes("2021-11-18T13:00", 5),  # Part II: none
        "c": minutes("2021-11-19T09:00", 60),  # the recording
    }
    totals, presence = report(SEMINAR, watched)
    by_part = {t.part: t for t in totals}
    assert (by_part["Part I"].viewers, by_part["Part I"].peak) == (2, 2)
    assert by_part["Part I"].hours == 1.0
    assert (by_part["Part III"].viewers, by_part["Part III"].peak) == (1, 1)
    assert by_part[RECORDING].viewers == 1 and by_part[RECORDING].hours == 1.0
    assert "Part II" not in by_part  # never streamed, never counted
    first = next(p for p in presence if p.registrant == "b" and p.part == "Part I")
    assert (first.first, first.last, first.minutes) == (
        helsinki("2021-11-18T10:20"),
        helsinki("2021-11-18T10:49"),
        30,
    )
