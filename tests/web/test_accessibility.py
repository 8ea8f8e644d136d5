"""Captions through the gateway (access rules, ops' view, the player page) and the statement."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from gateway import teststream
from gateway.core.clock import FrozenClock
from gateway.i18n.translator import catalog
from gateway.settings import CaptionSettings, Settings
from tests.conftest import helsinki
from tests.support.hls import write_vod
from tests.web.conftest import Gateway
from tests.web.test_admin_pages import ADMIN, ops

CUE = b"WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nWelcome.\n"
STATEMENT = """
[accessibility]
organisation = "Ministry of Examples"
contact = "saavutettavuus@example.org"
last_checked = "2021-11-01"
known_gaps = ["The slides shown in Part I are not available as text."]
"""


def captioned(tmp: Path) -> None:
    write_vod(tmp / "recording")
    teststream.write_captions(tmp / "recording", 12.0)


# The .vtt goes through the recording's access rules


def test_captions_are_served_like_the_recording(
    make_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    captioned(tmp_path)
    gw = make_gateway(clock=FrozenClock(helsinki("2021-11-18T10:30")))
    viewer = gw.login()
    paths = ("/recording/subs/en.vtt", "/recording/subs/en.m3u8", "/recording/index.m3u8")
    for path in paths:  # before available_from: 403, like the video
        assert viewer.get(path).status_code == 403, path
    gw.clock.now = helsinki("2021-11-18T19:00")  # the recording is open
    for path in paths:
        assert gw.client.get(path).status_code == 401, path  # no session
        assert gw.browser().get(path).status_code == 401, path
    vtt = viewer.get("/recording/subs/en.vtt")
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.content == (gw.tmp / "recording" / "subs" / "en.vtt").read_bytes()
    assert "subs/en.m3u8" in viewer.get("/recording/index.m3u8").text
    gw.clock.now = helsinki("2021-12-18T23:59:58")
    viewer = gw.login()
    gw.clock.now = helsinki("2021-12-18T23:59:59")  # available_until: from this instant, 410
    for path in paths:
        assert viewer.get(path).status_code == 410, path
    gw.clock.now = helsinki("2021-12-18T12:00")
    for bad in ("/recording/subs/..%2f..%2fevent.toml", "/recording/%2e%2e/event.toml"):
        assert viewer.get(bad).status_code in (400, 404), bad


def test_a_malformed_vtt_uploaded_later_is_never_served(gateway: Gateway) -> None:
    (gateway.tmp / "recording").mkdir(exist_ok=True)
    (gateway.tmp / "recording" / "late.vtt").write_text(
        "WEBVTT\n\n00:00:09.000 --> 00:00:01.000\nx\n"
    )
    gateway.clock.now = helsinki("2021-11-19T10:00")
    answer = gateway.login().get("/recording/late.vtt")
    assert answer.status_code == 502 and answer.json()["error"] == "origin_unavailable"


def test_the_player_page_names_a_configured_caption_file(
    make_gateway: Callable[..., Gateway], make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    write_vod(tmp_path / "recording")
    (tmp_path / "recording" / "en.vtt").write_bytes(CUE)
    settings = replace(make_settings(), captions=CaptionSettings("en.vtt", 14))
    gw = make_gateway(settings=settings)
    html = gw.login().get("/watch").text
    assert 'data-captions="/recording/en.vtt" data-captions-lang="en"' in html
    assert 'data-captions-label="English"' in html
    assert 'id="captions" type="button" hidden aria-pressed="true"' in html
    (tmp_path / "recording" / "en.vtt").write_text("garbage")  # never named once broken
    gw.call(gw.services.captions.check)  # type: ignore[union-attr]
    assert "data-captions" not in gw.login().get("/watch").text


# Ops see the deadline: dashboard, startup log, one audit event


def test_the_dashboard_shows_the_due_date_then_overdue_and_audits_it_once(
    make_gateway: Callable[..., Gateway], caplog: pytest.LogCaptureFixture
) -> None:
    ten_days = helsinki("2021-11-28T18:20")  # the recording opened at 18:20 on 18 Nov
    with caplog.at_level(logging.INFO, logger="gateway.stream.captions"):
        gw = make_gateway(extra=ADMIN, clock=FrozenClock(ten_days))
    assert any(
        r.levelno == logging.INFO and "due by 2021-12-02 18:20 EET" in r.getMessage()
        for r in caplog.records
    )
    browser = ops(gw)
    page = browser.get("/admin/").text
    assert "Captions: missing on the recording" in page
    assert "due by 2021-12-02 18:20 EET (+02:00)" in page and "OVERDUE" not in page
    gw.clock.now = helsinki("2021-12-03T18:20")  # fifteen days
    browser = ops(gw)  # a new staff session: the last one has long expired
    for _ in range(2):
        page = browser.get("/admin/").text
        assert '<p class="warning" role="alert" id="captions-status">Captions: OVERDUE' in page
    overdue = [e for e in gw.call(gw.services.store.audit_events) if e.type == "captions.overdue"]
    assert len(overdue) == 1 and overdue[0].actor == "system" and overdue[0].registrant is None
    assert overdue[0].detail["due"] == "2021-12-02T18:20:00+02:00"


def test_an_overdue_start_warns_and_audits_once_across_restarts(
    make_gateway: Callable[..., Gateway], caplog: pytest.LogCaptureFixture
) -> None:
    fifteen_days = FrozenClock(helsinki("2021-12-03T18:20"))
    with caplog.at_level(logging.INFO, logger="gateway.stream.captions"):
        first = make_gateway(clock=fifteen_days)
        make_gateway(clock=fifteen_days)  # a second start on the same store
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("Captions: OVERDUE" in r.getMessage() for r in warnings)
    events = first.call(first.services.store.audit_events)
    assert [e.type for e in events].count("captions.overdue") == 1


def test_present_captions_are_shown_as_present(
    make_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    captioned(tmp_path)
    gw = make_gateway(extra=ADMIN, clock=FrozenClock(helsinki("2021-12-10T10:00")))
    page = ops(gw).get("/admin/").text
    assert "Captions: present on the recording: subs/en.m3u8 (English)." in page
    assert not [e for e in gw.call(gw.services.store.audit_events) if e.type == "captions.overdue"]


# The accessibility statement


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "en",
            (
                "Accessibility statement",
                "Regional State Administrative Agency for Southern Finland",
                "1 November 2021",
            ),
        ),
        (
            "fi",
            ("Saavutettavuusseloste", "Etelä-Suomen aluehallintovirasto", "1. marraskuuta 2021"),
        ),
        (
            "sv",
            (
                "Tillgänglighetsutlåtande",
                "Regionförvaltningsverket i Södra Finland",
                "1 november 2021",
            ),
        ),
    ],
)
def test_the_statement_is_generated_from_config_in_every_language(
    make_gateway: Callable[..., Gateway], lang: str, words: tuple[str, ...]
) -> None:
    gw = make_gateway(extra=STATEMENT)
    answer = gw.client.get(f"/accessibility?lang={lang}")
    assert answer.status_code == 200
    html = answer.text
    assert f'<html lang="{lang}">' in html
    for word in (*words, "Ministry of Examples", "saavutettavuusvaatimukset.fi"):
        assert word in html, word
    assert '<a href="mailto:saavutettavuus@example.org">saavutettavuus@example.org</a>' in html
    assert "The slides shown in Part I are not available as text." in html
    assert catalog(lang)["a11y_status_partial"] in html
    # the recording has no captions yet: a known gap, with the date they are due
    due = catalog(lang)["a11y_captions_missing"].split("{")[0]
    moment = {
        "en": "2 December 2021, 18:20 Helsinki time (EET, UTC+2)",
        "fi": "2. joulukuuta 2021 klo 18:20 Helsingin aikaa (EET, UTC+2)",
        "sv": "2 december 2021 kl. 18:20 Helsingforstid (EET, UTC+2)",
    }[lang]
    assert due in html and moment in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no external requests


def test_every_page_links_the_statement(gateway: Gateway) -> None:
    viewer = gateway.login()
    pages = {
        "/": gateway.client,
        "/register": gateway.client,
        "/watch": viewer,
        "/nowhere": gateway.client,
        "/w/garbage": gateway.client,
        "/accessibility": gateway.client,
    }
    for path, browser in pages.items():
        html = browser.get(path).text
        assert '<a href="/accessibility">' in html, path
