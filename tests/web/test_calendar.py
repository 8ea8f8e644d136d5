"""`/calendar.ics` (issue 17): "Add to calendar" on the player page, the schedule in force
with stable UIDs, a SEQUENCE that rises with every schedule change, a reminder alarm,
the personal link, and only the parts not yet over."""

from __future__ import annotations

from collections.abc import Callable

import icalendar
import pytest

from tests.conftest import helsinki
from tests.web.conftest import Gateway
from tests.web.test_admin_pages import ADMIN


@pytest.fixture
def gateway(make_gateway: Callable[..., Gateway]) -> Gateway:
    gw = make_gateway(extra=ADMIN)
    gw.clock.now = helsinki("2021-11-18T09:00")
    return gw


def _events(body: str) -> list[icalendar.Component]:
    return list(icalendar.Calendar.from_ical(body).walk("VEVENT"))


def _sequence(event: icalendar.Component) -> int:
    return int(str(event["sequence"]))


def test_the_calendar_follows_the_schedule_in_force_with_a_rising_sequence(
    gateway: Gateway,
) -> None:
    maija = gateway.register()
    viewer = gateway.login(maija)
    assert 'href="/calendar.ics"' in viewer.get("/watch").text
    first = viewer.get("/calendar.ics")
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/calendar")
    assert "attachment" in first.headers["content-disposition"]
    before = _events(first.text)
    assert [str(e["summary"]).split(" — ")[1] for e in before] == ["Part I", "Part III"]
    link = gateway.registry.link(maija)
    assert all(str(e["url"]) == link and str(e["location"]) == link for e in before)
    alarms = [a for e in before for a in e.walk("VALARM")]
    assert len(alarms) == 2
    assert all(a["trigger"].to_ical() == b"-PT15M" for a in alarms)
    assert {_sequence(e) for e in before} == {0}
    gateway.call(
        gateway.services.gatekeeper.controls.change_part,
        "Part III",
        start=helsinki("2021-11-18T17:20"),
        end=helsinki("2021-11-18T18:30"),
        streamed=True,
        actor="ops@example.org",
    )
    after = _events(viewer.get("/calendar.ics").text)
    assert [e["uid"] for e in after] == [e["uid"] for e in before]  # updates, not new entries
    assert {_sequence(e) for e in after} == {1}
    assert after[1].decoded("dtstart") == helsinki("2021-11-18T17:20")
    gateway.clock.now = helsinki("2021-11-18T13:00")  # Part I is over: only Part III left
    later = _events(viewer.get("/calendar.ics").text)
    assert [str(e["summary"]).split(" — ")[1] for e in later] == ["Part III"]


def test_without_a_session_there_is_no_calendar(gateway: Gateway) -> None:
    assert gateway.browser().get("/calendar.ics").status_code == 401
