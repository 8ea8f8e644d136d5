"""The dashboard at a glance (issue 16): the next change in words, the day as a timeline,
viewers per minute as a chart, trouble in the last minutes, who stopped live serving, and
the last verification of the audit log."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest

from gateway.audit.chart import duration_words, viewers_chart
from gateway.audit.checkpoints import keygen
from gateway.audit.verify import VERIFIED_KEY
from gateway.metrics import Recent
from gateway.settings import Settings
from gateway.web.admin.glance import next_change, timeline
from tests.conftest import helsinki
from tests.core.test_schedule import SEMINAR
from tests.web.conftest import Gateway, encoder
from tests.web.test_admin_pages import ADMIN, auditor, ops, token


@pytest.mark.parametrize(
    ("at", "said"),
    [
        ("2021-11-18T09:00", "Part I starts at 10:00 (in 1 h 00 min): live starts."),
        ("2021-11-18T12:33", "Part II starts at 12:45 (in 12 min): live stops."),
        ("2021-11-18T12:44:30", "Part II starts at 12:45 (in under a minute): live stops."),
        ("2021-11-18T17:00", "Part III starts at 17:10 (in 10 min): live starts."),
        (
            "2021-11-18T18:00",
            "Part III ends at 18:20 (in 20 min): live stops; the recording opens.",
        ),
        (
            "2021-11-18T19:00",
            "The recording closes at 18 Dec 23:59 (in 30 days 4 h): links stop working.",
        ),
        ("2021-12-19T00:00", "Nothing more changes: the day and the recording are over."),
    ],
)
def test_the_next_change_in_words(at: str, said: str) -> None:
    assert next_change(SEMINAR, helsinki(at)) == said


def test_durations_read_as_people_say_them() -> None:
    assert duration_words(dt.timedelta(seconds=59)) == "under a minute"
    assert duration_words(dt.timedelta(minutes=65)) == "1 h 05 min"


def test_the_timeline_places_the_parts_and_now() -> None:
    day = timeline(SEMINAR, helsinki("2021-11-18T12:33"))
    first, second, third = day.bars
    assert first.x < second.x < third.x and first.running and not second.running
    assert not second.streamed and "Part II 12:45–17:10, not streamed" in day.summary
    assert day.now_x is not None and first.x < day.now_x < second.x
    assert [t.label for t in day.ticks][:3] == ["10", "11", "12"]
    assert timeline(SEMINAR, helsinki("2021-11-19T12:00")).now_x is None


def test_the_chart_says_now_and_the_peak() -> None:
    base = dt.datetime(2021, 11, 18, 9, 0, tzinfo=dt.UTC)
    counts = {base + dt.timedelta(minutes=n): n % 7 for n in range(120)}
    chart = viewers_chart(counts, SEMINAR.timezone)
    assert chart.peak == 6 and chart.peak_at == "11:06" and chart.now == 119 % 7
    assert len(chart.columns) == len([n for n in counts.values() if n])
    assert max(c.height for c in chart.columns) == 100
    assert chart.summary.startswith("Viewers per minute over the last 2 h 00 min: now 0, peak 6")


def test_recent_counts_only_the_last_minutes() -> None:
    now = [0.0]
    recent = Recent(minutes=10, clock=lambda: now[0])
    recent.note("live outside_window")
    now[0] = 4 * 60
    recent.note("live outside_window")
    recent.note("link revoked")
    assert recent.last(5) == {"live outside_window": 2, "link revoked": 1}
    now[0] = 6 * 60
    assert recent.last(5) == {"live outside_window": 1, "link revoked": 1}
    now[0] = 60 * 60
    recent.note("x")
    assert recent.last(5) == {"x": 1} and len(recent.buckets) == 1


@pytest.fixture
def gw(make_gateway: Callable[..., Gateway]) -> Gateway:
    return make_gateway(extra=ADMIN)


def test_the_dashboard_shows_the_day_viewers_trouble_and_who_stopped(gw: Gateway) -> None:
    encoder(gw.tmp, "2021-11-18T12:29:40", 3)
    gw.clock.now = helsinki("2021-11-18T12:33")
    viewer = gw.login()
    assert viewer.get("/live/index.m3u8").status_code == 200
    gw.call(gw.services.attendance.flush)
    gw.browser().get("/live/index.m3u8")  # no session: refused, counted
    page = auditor(gw).get("/admin/").text
    assert "Part II starts at 12:45 (in 12 min): live stops." in page
    assert 'role="img" aria-labelledby="timeline-desc"' in page
    assert "Viewers per minute over the last 2 h 00 min: now 1, peak 1 at 12:33." in page
    assert "Peak today (in one minute)</dt><dd>1 at 12:33" in page
    assert "1 live no session" in page
    browser = ops(gw)
    browser.post(
        "/admin/live/stop",
        data={"csrf": token(browser, "/admin/"), "confirmed": "yes", "reason": "Part II early"},
    )
    stopped = auditor(gw).get("/admin/").text
    assert "Stopped by ops@example.org at 12:33: Part II early" in stopped


def test_a_failed_verification_of_the_audit_log_is_an_alert(
    gw: Gateway, make_gateway: Callable[..., Gateway], make_settings: Callable[..., Settings]
) -> None:
    assert "Not verified automatically" in auditor(gw).get("/admin/").text  # no folder set
    settings = make_settings(
        extra=ADMIN + '[audit]\ncheckpoint_dir = "checkpoints"\n',
        env={"GATEWAY_AUDIT_SIGNING_KEY": keygen()[0]},
    )
    checked = make_gateway(settings=settings)
    assert "Not verified yet" in auditor(checked).get("/admin/").text
    found = {"ok": True, "at": "2021-11-18T08:20:00+00:00", "reason": None}
    checked.call(checked.services.store.set_value, VERIFIED_KEY, json.dumps(found))
    assert "The audit log verified at" in auditor(checked).get("/admin/").text
    found = {"ok": False, "at": "2021-11-18T08:25:00+00:00", "reason": "seq 7 edited"}
    checked.call(checked.services.store.set_value, VERIFIED_KEY, json.dumps(found))
    page = auditor(checked).get("/admin/").text
    assert 'role="alert" id="audit-status">The audit log FAILED verification at' in page
    assert "seq 7 edited" in page
