"""Attendance over HTTP: stream requests become minute buckets; shared links are flagged."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from tests.conftest import helsinki
from tests.test_attendance import minutes
from tests.web.conftest import Gateway, encoder, recording


def test_stream_requests_are_counted_once_per_minute(gateway: Gateway) -> None:
    encoder(gateway.tmp, "2021-11-18T10:29:40", 3)
    recording(gateway.tmp)
    registrant = gateway.register()
    viewer = gateway.login(registrant)
    for second in range(0, 120, 4):  # a player refreshing every 4 s for two minutes
        gateway.clock.now = helsinki("2021-11-18T10:30") + dt.timedelta(seconds=second)
        assert viewer.get("/live/index.m3u8").status_code == 200
    gateway.call(gateway.services.attendance.flush)
    stored = gateway.call(gateway.services.store.attendance)
    assert stored == {registrant.id: minutes("2021-11-18T10:30", 2)}


def test_a_link_opened_from_many_addresses_is_flagged_once(
    make_gateway: Callable[..., Gateway],
) -> None:
    gateway = make_gateway(sessions="max_devices = 2\nsharing_threshold = 3")
    registrant = gateway.register()
    for i in range(6):
        browser = gateway.browser(ip=f"203.0.113.{i}")
        assert browser.get(gateway.link_path(registrant), follow_redirects=False).status_code == 303
    events = gateway.call(gateway.services.store.audit_events)
    [flagged] = [e for e in events if e.type == "session.sharing_suspected"]
    assert flagged.registrant == registrant.id and flagged.detail["addresses"] == 3
    assert "203.0.113" not in str([e.to_json() for e in events])
