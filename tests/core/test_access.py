"""The pure access decision: every reason it gives and every edge it turns on.

No server, no store, no clock: the seminar's schedule, a session and a
registrant as values, and `now` chosen for each case.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gateway.core.access import AREAS, Grant, check_session, decide, next_change, shared_for
from gateway.core.errors import AccessRefused, NoSession, RecordingExpired, Revoked
from gateway.core.records import Registrant, Session
from gateway.core.schedule import LiveWindow, Part, Schedule

HELSINKI = ZoneInfo("Europe/Helsinki")
GRACE = dt.timedelta(seconds=30)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=HELSINKI)


SEMINAR = Schedule(
    HELSINKI,
    (
        Part("Part I", at("2021-11-18T10:00"), at("2021-11-18T12:45"), streamed=True),
        Part("Part II", at("2021-11-18T12:45"), at("2021-11-18T17:10"), streamed=False),
        Part("Part III", at("2021-11-18T17:10"), at("2021-11-18T18:20"), streamed=True),
    ),
    recording_from=at("2021-11-18T18:20"),
    recording_until=at("2021-12-19T00:00"),
)
PART_I = LiveWindow("Part I", at("2021-11-18T10:00"), at("2021-11-18T12:45"), ended=False)
PART_III = LiveWindow("Part III", at("2021-11-18T17:10"), at("2021-11-18T18:20"), ended=False)
REGISTRANT = Registrant("r1", "p@example.org", "P", "", at("2021-11-01T09:00"))
SESSION = Session("s1", "r1", 1, at("2021-11-18T09:00"), at("2021-12-19T09:00"))


def live(now: dt.datetime, **kwargs: object) -> Grant:
    state: dict[str, object] = {"session": SESSION, "registrant": REGISTRANT} | kwargs
    return decide("live", SEMINAR, now, grace=GRACE, **state)  # type: ignore[arg-type]


def recording(now: dt.datetime) -> Grant:
    return decide("recording", SEMINAR, now, session=SESSION, registrant=REGISTRANT, grace=GRACE)


# Live: the windows


@pytest.mark.parametrize(
    ("now", "window"),
    [
        ("2021-11-18T10:00", PART_I),  # the first instant of Part I
        ("2021-11-18T12:44:59.999999", PART_I),  # its last
        ("2021-11-18T17:10", PART_III),
        ("2021-11-18T18:19:59", PART_III),
    ],
)
def test_inside_a_streamed_part_the_grant_shows_that_part(now: str, window: LiveWindow) -> None:
    assert live(at(now)) == Grant("live", "r1", "s1", window)


def test_within_the_grace_after_a_part_the_window_is_that_part_ended() -> None:
    grant = live(at("2021-11-18T18:20:29"))
    assert grant.window == LiveWindow("Part III", PART_III.start, PART_III.end, ended=True)


def test_part_one_is_not_granted_past_its_grace_into_part_two() -> None:
    """Part II begins as Part I ends: the grace shows Part I's window (ended), never Part II."""
    grant = live(at("2021-11-18T12:45:29"))
    assert grant.window == LiveWindow("Part I", PART_I.start, PART_I.end, ended=True)
    assert not grant.window.holds(at("2021-11-18T12:45"))
    with pytest.raises(AccessRefused) as refused:
        live(at("2021-11-18T12:45:30"))  # the grace ends: Part II is running
    assert refused.value.reason == "part_not_streamed"
    assert refused.value.part == "Part II"
    assert refused.value.next_part == "Part III"
    assert refused.value.opens_at == at("2021-11-18T17:10")


@pytest.mark.parametrize(
    ("now", "reason", "part", "next_part"),
    [
        ("2021-11-18T09:59:59", "outside_window", None, "Part I"),  # before the day
        ("2021-11-18T15:00", "part_not_streamed", "Part II", "Part III"),
        ("2021-11-18T17:09:59", "part_not_streamed", "Part II", "Part III"),
        ("2021-11-18T18:20:30", "outside_window", None, None),  # after the last grace
        ("2021-11-25T12:00", "outside_window", None, None),
    ],
)
def test_outside_the_windows_live_is_refused_with_the_reason_and_what_comes_next(
    now: str, reason: str, part: str | None, next_part: str | None
) -> None:
    with pytest.raises(AccessRefused) as refused:
        live(at(now))
    assert (refused.value.reason, refused.value.part, refused.value.next_part) == (
        reason,
        part,
        next_part,
    )


def test_stopped_by_ops_refuses_live_inside_a_part_and_names_it() -> None:
    with pytest.raises(AccessRefused) as refused:
        live(at("2021-11-18T11:00"), stopped=True)
    assert (refused.value.reason, refused.value.part) == ("stopped_by_ops", "Part I")
    with pytest.raises(AccessRefused) as between:
        live(at("2021-11-18T18:20:10"), stopped=True)  # in the grace: no part running
    assert (between.value.reason, between.value.part) == ("stopped_by_ops", None)


def test_stopped_does_not_close_the_recording() -> None:
    grant = decide(
        "recording",
        SEMINAR,
        at("2021-11-19T12:00"),
        session=SESSION,
        registrant=REGISTRANT,
        grace=GRACE,
        stopped=True,
    )
    assert grant == Grant("recording", "r1", "s1", None)


# The recording


def test_the_recording_opens_as_the_last_part_ends_and_closes_at_the_end_of_18_dec() -> None:
    with pytest.raises(AccessRefused) as early:
        recording(at("2021-11-18T18:19:59"))
    assert early.value.reason == "recording_not_yet"
    assert early.value.opens_at == at("2021-11-18T18:20")
    assert recording(at("2021-11-18T18:20")).window is None
    assert recording(at("2021-12-18T23:59:59")).area == "recording"
    with pytest.raises(RecordingExpired) as late:
        recording(at("2021-12-19T00:00"))
    assert late.value.until == at("2021-12-19T00:00")
    assert late.value.reason == "recording_expired"


# The session


@pytest.mark.parametrize("area", AREAS)
@pytest.mark.parametrize(
    "state",
    [
        {"session": None},
        {"registrant": None},
        {"session": Session("s1", "r1", 1, SESSION.created_at, at("2021-11-18T11:00"))},  # ends now
        {"session": Session("s1", "r1", 1, SESSION.created_at, at("2021-11-18T10:59"))},
        {"registrant": Registrant("r1", "p@example.org", "P", "", REGISTRANT.created_at, 2)},
    ],
    ids=["no-session", "no-registrant", "expires-now", "expired", "link-reissued"],
)
def test_no_valid_session_is_refused_before_the_schedule_is_asked(
    area: str, state: dict[str, object]
) -> None:
    now = at("2021-11-18T11:00")
    merged: dict[str, object] = {"session": SESSION, "registrant": REGISTRANT} | state
    with pytest.raises(NoSession):
        decide(area, SEMINAR, now, grace=GRACE, **merged)  # type: ignore[arg-type]


@pytest.mark.parametrize("now", ["2021-11-18T11:00", "2021-11-18T15:00", "2021-11-20T12:00"])
def test_a_revoked_registrant_is_refused_whatever_the_schedule_says(now: str) -> None:
    revoked = Registrant("r1", "p@example.org", "P", "", REGISTRANT.created_at, revoked=True)
    for area in AREAS:
        with pytest.raises(Revoked) as refused:
            decide(area, SEMINAR, at(now), session=SESSION, registrant=revoked, grace=GRACE)
        assert refused.value.registrant == "r1"


def test_check_session_returns_both_when_valid() -> None:
    assert check_session(SESSION, REGISTRANT, at("2021-11-18T11:00")) == (SESSION, REGISTRANT)


# When a decision can next change


@pytest.mark.parametrize(
    ("now", "change"),
    [
        ("2021-11-18T08:00", "2021-11-18T10:00"),
        ("2021-11-18T10:00", "2021-11-18T12:45"),
        ("2021-11-18T12:45", "2021-11-18T12:45:30"),  # the end of Part I's grace
        ("2021-11-18T12:45:30", "2021-11-18T17:10"),
        ("2021-11-18T18:20", "2021-11-18T18:20:30"),
        ("2021-11-18T18:20:30", "2021-12-19T00:00"),
    ],
)
def test_next_change_is_the_first_boundary_after_now(now: str, change: str) -> None:
    assert next_change(SEMINAR, at(now), GRACE) == at(change)


def test_after_the_last_boundary_nothing_changes_again() -> None:
    assert next_change(SEMINAR, at("2022-01-01T00:00"), GRACE).year == dt.MAXYEAR


@pytest.mark.parametrize(
    ("at", "seconds"),
    [
        ("2021-11-18T11:00:00", 1),  # inside Part I: shared for a second
        ("2021-11-18T12:44:58.999", 1),  # a second before its end: still whole
        ("2021-11-18T12:44:59.5", 0),  # half a second before its end: never across it
        ("2021-11-18T12:45:59.5", 0),  # and before the end of its grace
        ("2021-11-18T13:00:00", 1),
    ],
)
def test_a_playlist_is_shared_for_a_second_never_across_an_edge(at: str, seconds: int) -> None:
    moment = dt.datetime.fromisoformat(at + "+02:00")
    assert shared_for(SEMINAR, moment, dt.timedelta(minutes=1)) == seconds
