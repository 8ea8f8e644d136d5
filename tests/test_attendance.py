"""Attendance: minute buckets from stream requests, and the report per part and registrant."""

from __future__ import annotations

import datetime as dt

from gateway.audit.attendance import RECORDING, concurrent, day_span, report
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


def test_minutes_per_viewer_and_the_day_curve() -> None:
    watched = {
        "a": minutes("2021-11-18T10:00", 30),
        "b": minutes("2021-11-18T10:20", 10),
        "c": minutes("2021-11-18T10:25", 80),
    }
    totals, _ = report(SEMINAR, watched)
    part_one = next(t for t in totals if t.part == "Part I")
    assert (part_one.mean_minutes, part_one.median_minutes) == (40.0, 30.0)
    start, end = day_span(SEMINAR)
    assert (start, end) == (helsinki("2021-11-18T10:00"), helsinki("2021-11-18T18:20"))
    curve = concurrent(watched, start, end)
    assert len(curve) == 500 and curve[helsinki("2021-11-18T10:26")] == 3
    assert curve[helsinki("2021-11-18T12:00")] == 0
