"""The console's day view: dashboard, schedule change with preview, kill switch, by role."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from tests.conftest import helsinki
from tests.web.conftest import Gateway, encoder
from tests.web.test_admin_pages import ADMIN, auditor, ops, signed_in, token


@pytest.fixture
def gw(make_gateway: Callable[..., Gateway]) -> Gateway:
    return make_gateway(extra=ADMIN)


def _preview(browser: TestClient, part: str, start: str, end: str, streamed: bool = True) -> str:
    fields = {"csrf": token(browser, "/admin/schedule"), "part": part, "start": start, "end": end}
    if streamed:
        fields["streamed"] = "yes"
    answer = browser.post("/admin/schedule/preview", data=fields)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_ops_moves_the_end_of_the_running_part_and_viewers_are_cut_off_then(gw: Gateway) -> None:
    encoder(gw.tmp, "2021-11-18T12:29:40", 3)
    gw.clock.now = helsinki("2021-11-18T12:30")
    viewer = gw.login()
    browser = ops(gw)
    text = _preview(browser, "Part I", "2021-11-18T10:00", "2021-11-18T12:35")
    assert "Viewers of Part I will be cut off at 12:35 (was 12:45)." in text
    assert viewer.get("/live/index.m3u8").status_code == 200  # nothing changed yet
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', text))
    done = browser.post("/admin/schedule/apply", data=hidden, follow_redirects=False)
    assert done.status_code == 303
    gw.clock.now = helsinki("2021-11-18T12:34:59")
    assert viewer.get("/live/index.m3u8").status_code == 200
    gw.clock.now = helsinki("2021-11-18T12:36:01")  # past the new end and its 60 s grace
    assert viewer.get("/live/index.m3u8").status_code == 403
    [change] = [e for e in gw.call(gw.services.store.audit_events) if e.type == "schedule.changed"]
    assert change.actor == "ops@example.org"
    assert (change.detail["before"]["end"], change.detail["after"]["end"]) == (
        "2021-11-18T12:45:00+02:00",
        "2021-11-18T12:35:00+02:00",
    )
    page = browser.get("/admin/schedule").text
    assert "(changed by ops)" in page


def test_impossible_or_ambiguous_times_are_refused_with_the_reason(gw: Gateway) -> None:
    browser = ops(gw)
    fields = {
        "csrf": token(browser, "/admin/schedule"),
        "part": "Part II",
        "start": "2021-11-18T12:30",  # into the part before: nothing to offer
        "end": "2021-11-18T17:10",
    }
    overlap = browser.post("/admin/schedule/preview", data=fields)
    assert overlap.status_code == 400 and "overlap" in overlap.text
    same = {**fields, "part": "Part III", "start": "2021-11-18T17:10", "end": "2021-11-18T18:20"}
    unchanged = browser.post("/admin/schedule/preview", data={**same, "streamed": "yes"})
    assert (
        unchanged.status_code == 400
        and "nothing to change: Part III is so already" in unchanged.text
    )
    ambiguous = browser.post(
        "/admin/schedule/preview",
        data={**fields, "start": "2021-10-31T03:30", "end": "2021-10-31T05:00"},
    )
    assert ambiguous.status_code == 400 and "happens twice" in ambiguous.text


def test_the_kill_switch_and_the_dashboard(gw: Gateway) -> None:
    encoder(gw.tmp, "2021-11-18T10:29:40", 3)
    viewer = gw.login()
    browser = ops(gw)
    page = browser.get("/admin/")
    assert page.status_code == 200 and "Part I" in page.text and "Stop live serving" in page.text
    assert viewer.get("/live/index.m3u8").status_code == 200
    gw.call(gw.services.attendance.flush)  # what the dashboard counts as watching
    asked = browser.post("/admin/live/stop", data={"csrf": token(browser, "/admin/")})
    assert asked.status_code == 200 and "Stop live serving now?" in asked.text
    assert "1 viewer watched in the last minute" in asked.text
    assert viewer.get("/live/index.m3u8").status_code == 200  # nothing stopped yet
    confirmed = {"csrf": token(browser, "/admin/"), "confirmed": "yes", "reason": "Part II early"}
    stop = browser.post("/admin/live/stop", data=confirmed, follow_redirects=False)
    assert stop.status_code == 303
    assert viewer.get("/live/index.m3u8").json()["error"] == "stopped_by_ops"
    assert "STOPPED" in browser.get("/admin/").text
    # A second stop (a double submit, a stale page, a colleague): nothing changes, nothing
    # is audited, and the first stop's reason stands (it was overwritten by an empty one).
    again = {"csrf": token(browser, "/admin/"), "confirmed": "yes", "reason": ""}
    repeat = browser.post("/admin/live/stop", data=again)
    assert repeat.status_code == 200 and "already stopped" in repeat.text
    assert "Part II early" in browser.get("/admin/").text
    browser.post("/admin/live/resume", data={"csrf": token(browser, "/admin/")})
    assert viewer.get("/live/index.m3u8").status_code == 200
    resumed = browser.post("/admin/live/resume", data={"csrf": token(browser, "/admin/")})
    assert "already being served" in resumed.text
    events = gw.call(gw.services.store.audit_events)
    [stopped] = [e for e in events if e.type == "live.stopped"]
    assert stopped.detail == {"reason": "Part II early"}
    assert [e.type for e in events].count("live.resumed") == 1


def test_a_reason_naming_an_address_is_refused_and_nothing_done(gw: Gateway) -> None:
    browser = ops(gw)
    named = {"confirmed": "yes", "reason": "complaint from Matti <matti@example.com>"}
    refused = browser.post("/admin/live/stop", data={"csrf": token(browser, "/admin/"), **named})
    assert refused.status_code == 400 and "name no email address" in refused.text
    assert not gw.call(gw.services.gatekeeper.controls.current).stopped
    assert "matti@" not in str(gw.call(gw.services.store.audit_events))


def test_a_stale_resume_does_not_lift_a_newer_stop(gw: Gateway) -> None:
    """Resume from a page loaded during an earlier stop lifted a colleague's newer stop,
    made since for another reason (a second stop from a stale page already changed
    nothing)."""
    browser = ops(gw)
    stop = {"confirmed": "yes", "reason": "stop one"}
    browser.post("/admin/live/stop", data={"csrf": token(browser, "/admin/"), **stop})
    stale = browser.get("/admin/").text
    seen = re.search(r'name="stop_seen" value="([^"]+)"', stale)
    assert seen is not None
    csrf = token(browser, "/admin/")
    browser.post("/admin/live/resume", data={"csrf": csrf, "stop_seen": seen[1]})
    gw.clock.advance(seconds=60)
    stop = {"confirmed": "yes", "reason": "stop two: Part II on the encoder"}
    browser.post("/admin/live/stop", data={"csrf": token(browser, "/admin/"), **stop})
    lifted = browser.post("/admin/live/resume", data={"csrf": csrf, "stop_seen": seen[1]})
    assert (
        lifted.status_code == 200 and "Not resumed: live serving was stopped again" in lifted.text
    )
    assert "stop two: Part II on the encoder" in lifted.text
    assert gw.call(gw.services.gatekeeper.controls.current).stopped
    events = [e.type for e in gw.call(gw.services.store.audit_events)]
    assert events.count("live.resumed") == 1


def test_an_auditor_sees_but_cannot_change(gw: Gateway) -> None:
    browser = auditor(gw)
    assert browser.get("/admin/").status_code == 200
    assert "Stop live serving" not in browser.get("/admin/").text
    csrf = token(browser, "/admin/schedule")
    for path in ("/admin/live/stop", "/admin/schedule/preview", "/admin/schedule/apply"):
        assert browser.post(path, data={"csrf": csrf}).status_code == 403, path
    assert not (gw.call(gw.services.gatekeeper.controls.current)).stopped


def test_a_cross_site_post_without_a_token_is_refused(gw: Gateway) -> None:
    browser = ops(gw)
    browser.get("/admin/")
    assert browser.post("/admin/live/stop", data={}).status_code == 403
    assert not (gw.call(gw.services.gatekeeper.controls.current)).stopped


def test_without_a_session_the_console_asks_to_sign_in(gw: Gateway) -> None:
    answer = gw.browser().get("/admin/schedule", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/admin/login?next=")


def test_a_change_made_since_the_preview_is_refused_naming_who_and_when(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway(
        extra=ADMIN.replace(
            'ops = ["ops@example.org"]', 'ops = ["ops@example.org", "ops2@example.org"]'
        )
    )
    gw.clock.now = helsinki("2021-11-18T12:30")
    first, second = ops(gw), signed_in(gw, "ops2@example.org")
    mine = _preview(first, "Part I", "2021-11-18T10:00", "2021-11-18T12:35")
    theirs = _preview(second, "Part I", "2021-11-18T10:00", "2021-11-18T12:40")
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', theirs))
    gw.clock.now = helsinki("2021-11-18T12:44")
    assert (
        second.post("/admin/schedule/apply", data=hidden, follow_redirects=False).status_code == 303
    )
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', mine))
    late = first.post("/admin/schedule/apply", data=hidden)
    assert late.status_code == 400
    assert "changed by ops2@example.org at 12:44" in late.text and "review" in late.text
    [change] = [e for e in gw.call(gw.services.store.audit_events) if e.type == "schedule.changed"]
    assert change.actor == "ops2@example.org"  # theirs stands; mine was not written over it


def test_an_apply_without_its_preview_says_so_not_that_someone_changed_it(gw: Gateway) -> None:
    """Found by a black-box pass: with the preview's `seen` missing or garbled the
    answer blamed "someone at ?" for a change nobody made."""
    browser = ops(gw)
    text = _preview(browser, "Part I", "2021-11-18T10:00", "2021-11-18T12:35")
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', text))
    for seen in ("", "garbled"):
        answer = browser.post("/admin/schedule/apply", data={**hidden, "seen": seen})
        assert answer.status_code == 400 and "someone" not in answer.text
        assert "preview" in answer.text and "review" in answer.text
    assert "schedule.changed" not in [e.type for e in gw.call(gw.services.store.audit_events)]


def test_a_confirmation_applies_the_change_it_previewed_or_none(gw: Gateway) -> None:
    """The confirm form was tied to its preview only by the schedule's version: its part,
    times or streaming altered (by hand, or another preview's fields) were applied as they
    came, unpreviewed; Part II made streamed so was never said in red."""
    browser = ops(gw)
    text = _preview(browser, "Part III", "2021-11-18T17:10", "2021-11-18T18:30")
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', text))
    for altered in (
        {"end": "2021-11-18T18:05"},
        {"part": "Part II", "start": "2021-11-18T12:45", "end": "2021-11-18T17:10"},
        {"streamed": ""},
    ):
        answer = browser.post("/admin/schedule/apply", data={**hidden, **altered})
        assert answer.status_code == 400 and "does not match its preview" in answer.text
    assert "schedule.changed" not in [e.type for e in gw.call(gw.services.store.audit_events)]
    done = browser.post("/admin/schedule/apply", data=hidden, follow_redirects=False)
    assert done.status_code == 303


def test_the_preview_says_in_red_what_happens_at_once_and_who_watches(gw: Gateway) -> None:
    encoder(gw.tmp, "2021-11-18T12:29:40", 3)
    gw.clock.now = helsinki("2021-11-18T12:30")
    viewer = gw.login()
    assert viewer.get("/live/index.m3u8").status_code == 200
    gw.call(gw.services.attendance.flush)
    text = _preview(ops(gw), "Part I", "2021-11-18T10:00", "2021-11-18T12:20")
    assert '<li class="warning" role="alert">At once: Viewers of Part I are cut off' in text
    assert "the gap this change leaves before Part II" in text
    assert "1 viewer watched in the last minute." in text


def test_extending_a_part_into_the_next_offers_to_move_its_start_in_one_change(
    gw: Gateway,
) -> None:
    encoder(gw.tmp, "2021-11-18T12:29:40", 3)
    gw.clock.now = helsinki("2021-11-18T12:40")  # Part I runs late
    viewer = gw.login()
    browser = ops(gw)
    text = _preview(browser, "Part I", "2021-11-18T10:00", "2021-11-18T13:05")
    assert "Part I would run into Part II, which starts at 12:45." in text
    assert "moves Part II&#39;s start to 13:05" in text and "Confirm both changes" in text
    assert "Viewers of Part I keep watching until 13:05 (was 12:45)." in text
    assert "Part II will start at 13:05 (was 12:45)." in text
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', text))
    assert hidden["move_next"] == "yes"
    done = browser.post("/admin/schedule/apply", data=hidden, follow_redirects=False)
    assert done.status_code == 303
    gw.clock.now = helsinki("2021-11-18T13:00")
    assert viewer.get("/live/index.m3u8").status_code == 200  # still Part I
    changes = [e for e in gw.call(gw.services.store.audit_events) if e.type == "schedule.changed"]
    assert [(e.detail["part"], e.actor) for e in changes] == [
        ("Part I", "ops@example.org"),
        ("Part II", "ops@example.org"),
    ]
    fields = {"part": "Part I", "start": "2021-11-18T10:00", "end": "2021-11-18T17:30"}
    past = browser.post(
        "/admin/schedule/preview",
        data={**fields, "csrf": token(browser, "/admin/schedule"), "streamed": "yes"},
    )
    assert past.status_code == 400 and "past the end of Part II" in past.text


def test_a_field_over_the_console_s_limit_is_the_console_s_page_and_changes_nothing(
    gw: Gateway,
) -> None:
    """Found by a black-box pass: a reason or a name over 4 KB got the participants'
    generic 400 page ("Programme and registration"), naming no field."""
    browser = ops(gw)
    reason = {"csrf": token(browser, "/admin/"), "confirmed": "yes", "reason": "x" * 5000}
    answer = browser.post("/admin/live/stop", data=reason)
    assert answer.status_code == 400
    assert "Too long" in answer.text and "4 KB" in answer.text and "Programme" not in answer.text
    assert "live.stopped" not in [e.type for e in gw.call(gw.services.store.audit_events)]
