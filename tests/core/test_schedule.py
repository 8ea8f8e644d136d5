from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gateway.core.errors import AccessRefused, RecordingExpired
from gateway.core.schedule import (
    Part,
    PartProblem,
    Schedule,
    check_recording,
    live_window,
    part_problems,
    status,
)
from gateway.core.times import parse_time

HEL = ZoneInfo("Europe/Helsinki")
GRACE = dt.timedelta(seconds=60)


def t(text: str) -> dt.datetime:
    return parse_time(text, HEL)


SEMINAR = Schedule(
    HEL,
    (
        Part("Part I", t("2021-11-18T10:00"), t("2021-11-18T12:45"), True),
        Part("Part II", t("2021-11-18T12:45"), t("2021-11-18T17:10"), False),
        Part("Part III", t("2021-11-18T17:10"), t("2021-11-18T18:20"), True),
    ),
    t("2021-11-18T18:20"),
    t("2021-12-18T23:59:59"),
)


@pytest.mark.parametrize(
    ("at", "phase", "part", "live", "recording", "next_change"),
    [
        ("2021-11-18T09:59:59", "before", None, False, False, "2021-11-18T10:00"),
        ("2021-11-18T10:00", "live", "Part I", True, False, "2021-11-18T12:45"),
        ("2021-11-18T12:44:59", "live", "Part I", True, False, "2021-11-18T12:45"),
        ("2021-11-18T12:45", "blocked", "Part II", False, False, "2021-11-18T17:10"),
        ("2021-11-18T17:09:59", "blocked", "Part II", False, False, "2021-11-18T17:10"),
        ("2021-11-18T17:10", "live", "Part III", True, False, "2021-11-18T18:20"),
        ("2021-11-18T18:20", "recording", None, False, True, "2021-12-18T23:59:59"),
        ("2021-12-18T23:59:58", "recording", None, False, True, "2021-12-18T23:59:59"),
        ("2021-12-18T23:59:59", "closed", None, False, False, None),
    ],
)
def test_phase_at_each_boundary_is_half_open(
    at: str, phase: str, part: str | None, live: bool, recording: bool, next_change: str | None
) -> None:
    now = status(SEMINAR, t(at))
    assert (now.phase, now.part, now.live, now.recording_available) == (
        phase,
        part,
        live,
        recording,
    )
    assert now.next_change == (t(next_change) if next_change else None)


def test_between_parts_and_before_a_late_recording() -> None:
    gap = Schedule(
        HEL,
        (
            Part("A", t("2021-11-18T10:00"), t("2021-11-18T11:00"), True),
            Part("B", t("2021-11-18T12:00"), t("2021-11-18T13:00"), True),
        ),
        t("2021-11-19T09:00"),
        t("2021-11-20T09:00"),
    )
    assert status(gap, t("2021-11-18T11:30")).phase == "between"
    assert status(gap, t("2021-11-18T20:00")).phase == "between"
    assert status(gap, t("2021-11-18T20:00")).next_change == t("2021-11-19T09:00")


def test_stopped_by_ops_overrides_the_phase_and_live() -> None:
    now = status(SEMINAR, t("2021-11-18T11:00"), stopped=True)
    assert (now.phase, now.part, now.live) == ("stopped", "Part I", False)


def test_live_window_inside_a_streamed_part() -> None:
    window = live_window(SEMINAR, t("2021-11-18T11:00"), GRACE)
    assert (window.part, window.ended) == ("Part I", False)
    assert window.start == t("2021-11-18T10:00") and window.end == t("2021-11-18T12:45")


def test_live_window_grace_after_a_part_then_refusal_naming_the_part() -> None:
    grace = live_window(SEMINAR, t("2021-11-18T12:45:10"), GRACE)
    assert (grace.part, grace.ended) == ("Part I", True)
    with pytest.raises(AccessRefused) as refused:
        live_window(SEMINAR, t("2021-11-18T12:46"), GRACE)
    assert refused.value.reason == "part_not_streamed"
    assert refused.value.part == "Part II"
    assert refused.value.next_part == "Part III"
    assert refused.value.opens_at == t("2021-11-18T17:10")


def test_live_window_before_and_after_the_day() -> None:
    with pytest.raises(AccessRefused) as before:
        live_window(SEMINAR, t("2021-11-18T09:00"), GRACE)
    assert (before.value.reason, before.value.next_part) == ("outside_window", "Part I")
    with pytest.raises(AccessRefused) as after:
        live_window(SEMINAR, t("2021-11-18T19:00"), GRACE)
    assert (after.value.reason, after.value.opens_at) == ("outside_window", None)


def test_recording_window() -> None:
    with pytest.raises(AccessRefused) as early:
        check_recording(SEMINAR, t("2021-11-18T18:19:59"))
    assert early.value.reason == "recording_not_yet"
    check_recording(SEMINAR, t("2021-11-18T18:20"))
    check_recording(SEMINAR, t("2021-12-18T23:59:58"))
    with pytest.raises(RecordingExpired):
        check_recording(SEMINAR, t("2021-12-18T23:59:59"))


def test_an_event_across_the_dst_change_night_keeps_real_durations() -> None:
    # Helsinki leaves summer time at 04:00 EEST -> 03:00 EET on 31 Oct 2021.
    night = Schedule(
        HEL,
        (Part("Night", t("2021-10-31T02:00"), t("2021-10-31T05:00"), True),),
        t("2021-10-31T05:00"),
        t("2021-11-01T00:00"),
    )
    part = night.parts[0]
    assert part.end - part.start == dt.timedelta(hours=4)
    assert status(night, t("2021-10-31T04:30")).phase == "live"
    assert status(night, part.end).phase == "recording"
    assert status(night, part.end - dt.timedelta(microseconds=1)).live


def test_boundaries_with_a_grace_add_each_parts_end_of_grace() -> None:
    plain = SEMINAR.boundaries()
    graced = SEMINAR.boundaries(GRACE)
    assert sorted(set(graced) - set(plain)) == [p.end + GRACE for p in SEMINAR.parts]
    assert list(graced) == sorted(graced)
    assert SEMINAR.boundaries(GRACE) is graced  # worked out once per schedule and grace


def test_part_problems_are_the_one_home_of_the_schedules_rules() -> None:
    def part(name: str, start: str, end: str) -> Part:
        day = "2021-11-18T"
        return Part(name, t(day + start), t(day + end), streamed=True)

    one, two = part("I", "10:00", "12:45"), part("II", "12:45", "17:10")
    assert part_problems([two, one]) == []  # touching is not overlapping; order is free
    late = part("II", "12:44", "17:10")
    assert part_problems([one, late]) == [PartProblem("overlap", late, one)]
    backwards = part("III", "18:20", "17:10")
    assert part_problems([one, backwards]) == [PartProblem("backwards", backwards)]
    empty = part("IV", "19:00", "19:00")
    assert part_problems([empty]) == [PartProblem("backwards", empty)]
