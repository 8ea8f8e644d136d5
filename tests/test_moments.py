"""Moments as participants read them (gateway/i18n/moments.py): one way of naming the zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gateway.i18n import moments
from gateway.i18n.translator import Translator

AT = dt.datetime(2021, 11, 18, 15, 10, tzinfo=dt.UTC)
HELSINKI = ZoneInfo("Europe/Helsinki")


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "18 November 2021, 17:10 Helsinki time (EET, UTC+2)"),
        ("fi", "18. marraskuuta 2021 klo 17:10 Helsingin aikaa (EET, UTC+2)"),
        ("sv", "18 november 2021 kl. 17:10 Helsingforstid (EET, UTC+2)"),
    ],
)
def test_a_moment_in_each_language(lang: str, expected: str) -> None:
    assert moments.moment(AT, HELSINKI, Translator(lang)) == expected


def test_today_leaves_the_date_out_in_the_event_zone() -> None:
    t = Translator("fi")
    assert moments.moment(AT, HELSINKI, t, today=dt.date(2021, 11, 18)) == (
        "klo 17:10 Helsingin aikaa (EET, UTC+2)"
    )
    # 23:30 UTC is already the 19th in Helsinki: dated, against "today" the 18th
    late = dt.datetime(2021, 11, 18, 23, 30, tzinfo=dt.UTC)
    assert moments.clock(late, HELSINKI, t, today=dt.date(2021, 11, 18)).startswith("19.")


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Europe/Helsinki", "Helsinki time (EEST, UTC+3)"),  # summer time: its own name
        ("Asia/Kolkata", "Kolkata time (IST, UTC+5:30)"),
        ("America/Sao_Paulo", "Sao Paulo time (UTC-3)"),  # tzdata has no abbreviation: "-03"
        ("UTC", "UTC time"),
        ("Etc/UTC", "UTC time"),
        ("Atlantic/Reykjavik", "Reykjavik time (GMT, UTC+0)"),
    ],
)
def test_the_zone_is_named_with_its_abbreviation_and_offset(zone: str, expected: str) -> None:
    summer = dt.datetime(2021, 6, 18, 12, 0, tzinfo=dt.UTC)
    assert moments.zone(summer, ZoneInfo(zone), Translator("en")) == expected


def test_a_part_ending_on_another_day_dates_its_end() -> None:
    t = Translator("en")
    start = dt.datetime(2021, 11, 18, 20, 0, tzinfo=dt.UTC)
    assert moments.end(start, start + dt.timedelta(hours=1), HELSINKI, t) == "23:00"
    assert moments.end(start, start + dt.timedelta(hours=2), HELSINKI, t) == (
        "19 November 2021, 00:00"
    )
