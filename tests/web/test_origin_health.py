"""A dead encoder is seen: the newest segment's age and the origin's state, while a streamed
part runs, in `/api/status`, `/metrics`, the audit log and the dashboard (issue 16)."""

from __future__ import annotations

import datetime as dt
import re

from tests.conftest import helsinki
from tests.web.conftest import Gateway, encoder
from tests.web.test_admin_pages import ADMIN, ops


def _look(gw: Gateway) -> str:
    health = gw.call(gw.services.live.look)
    return str(health.state)


def _events(gw: Gateway, type: str) -> list[dict[str, object]]:
    return [e.detail for e in gw.call(gw.services.store.audit_events) if e.type == type]


def _metric(gw: Gateway, name: str) -> str:
    text = gw.client.get("/metrics").text
    return "\n".join(line for line in text.splitlines() if line.startswith(name))


def test_an_encoder_that_stops_is_stalled_then_recovers(make_gateway: object) -> None:
    gw = make_gateway(extra=ADMIN)  # type: ignore[operator]
    encoder(gw.tmp, "2021-11-18T10:29:40", 5)  # 4 s segments, the newest from 10:29:56
    gw.clock.now = helsinki("2021-11-18T10:30:00")
    assert _look(gw) == "ok"
    assert gw.client.get("/api/status").json()["origin"] == "ok"
    assert 'gateway_origin_state{state="ok"} 1.0' in _metric(gw, "gateway_origin_state")
    gw.clock.now = helsinki("2021-11-18T10:30:13")  # 13 s without a new one: > 3 x 4 s
    assert _look(gw) == "stalled" and _look(gw) == "stalled"
    assert gw.client.get("/api/status").json()["origin"] == "stalled"
    age = _metric(gw, "gateway_origin_last_segment_age_seconds")
    assert re.search(r"gateway_origin_last_segment_age_seconds 13(\.0)?$", age), age
    assert 'gateway_origin_state{state="stalled"} 1.0' in _metric(gw, "gateway_origin_state")
    assert [e["state"] for e in _events(gw, "origin.stalled")] == ["stalled"]  # once
    page = ops(gw).get("/admin/").text
    assert "No new video for 13 s" in page and "check the encoder" in page
    encoder(gw.tmp, "2021-11-18T10:29:40", 9)  # it runs again
    gw.clock.now = helsinki("2021-11-18T10:30:14")
    assert _look(gw) == "ok"
    assert len(_events(gw, "origin.recovered")) == 1
    assert gw.client.get("/api/status").json()["origin"] == "ok"


def test_ended_missing_and_outside_a_streamed_part(make_gateway: object) -> None:
    gw = make_gateway()  # type: ignore[operator]
    encoder(gw.tmp, "2021-11-18T10:29:40", 5)
    gw.clock.now = helsinki("2021-11-18T10:30:00")
    playlist = gw.tmp / "live" / "index.m3u8"
    playlist.write_text(playlist.read_text() + "#EXT-X-ENDLIST\n")
    assert _look(gw) == "ended"
    assert gw.client.get("/api/status").json()["origin"] == "ended"
    playlist.unlink()
    gw.clock.now += dt.timedelta(seconds=2)  # past the playlist cache
    assert _look(gw) == "missing"
    assert gw.client.get("/api/status").json()["origin"] == "missing"
    assert [e["state"] for e in _events(gw, "origin.stalled")] == ["ended", "missing"]
    gw.clock.now = helsinki("2021-11-18T13:00")  # Part II: not streamed, nothing to watch
    assert "origin" not in gw.client.get("/api/status").json()


def test_an_origin_not_there_yet_at_start_is_no_alarm_until_it_stays_so(
    make_gateway: object, caplog: object
) -> None:
    import logging

    import pytest

    log: pytest.LogCaptureFixture = caplog  # type: ignore[assignment]
    gw = make_gateway()  # type: ignore[operator]
    gw.clock.now = helsinki("2021-11-18T09:58:00")  # the server starts before Part I
    with log.at_level(logging.INFO, logger="gateway.stream.live"):
        _look(gw)  # the encoder has not written its first playlist yet
        first = [(r.levelname, r.getMessage()) for r in log.records]
        assert first and all(level == "INFO" for level, _ in first), first
        assert "waiting for the encoder" in first[0][1]
        log.clear()
        gw.clock.now += dt.timedelta(seconds=30)
        _look(gw)
        assert not [r for r in log.records if r.levelno >= logging.WARNING]
        gw.clock.now += dt.timedelta(seconds=31)  # still nothing after a minute: say so
        _look(gw)
        assert [r.levelname for r in log.records if "not readable" in r.getMessage()] == ["WARNING"]
