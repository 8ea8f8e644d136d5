"""Moments as participants read them, one way of naming the zone everywhere:
"18 November 2021, 17:10 Helsinki time (EET, UTC+2)", "18.11.2021 klo 17:10 Helsingin
aikaa (EET, UTC+2)", "18 november 2021 kl. 17:10 Helsingforstid (EET, UTC+2)".

Pages, the player and the mail use these; the staff console keeps `core.times.in_zone`.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from gateway.i18n.translator import Translator


def offset(local: dt.datetime) -> str:
    """`UTC+2`, `UTC+5:30`, `UTC-3`, `UTC+0`."""
    delta = local.utcoffset() or dt.timedelta(0)
    minutes = int(delta.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def zone(moment: dt.datetime, tz: ZoneInfo, t: Translator) -> str:
    """`Helsinki time (EET, UTC+2)`: the zone's name in the language, its abbreviation
    (when the zone has one) and its offset at `moment`."""
    local = moment.astimezone(tz)
    city = tz.key.rsplit("/", 1)[-1].replace("_", " ")
    name = t.messages.get(f"zone {tz.key}") or t("zone_city", city=city)
    abbreviation = local.tzname() or ""
    if abbreviation == "UTC":
        return name if city == "UTC" else f"{name} (UTC)"
    known = abbreviation[:1].isalpha()  # tzdata writes "+03" for a zone with no abbreviation
    return f"{name} ({abbreviation + ', ' if known else ''}{offset(local)})"


def date(day: dt.date, t: Translator) -> str:
    """`18 November 2021`, `18.11.2021`, `18 november 2021`."""
    month = t("months").split()[day.month - 1]
    return t("date_format", day=day.day, month=month, month_number=day.month, year=day.year)


def clock(moment: dt.datetime, tz: ZoneInfo, t: Translator, *, today: dt.date | None = None) -> str:
    """`18 November 2021, 17:10` (`klo 17:10`, ...), without the date when it is `today`
    in the event's zone."""
    local = moment.astimezone(tz)
    time = f"{local:%H:%M}"
    if local.date() == today:
        return t("at_time", time=time)
    return t("at_date_time", date=date(local.date(), t), time=time)


def end(start: dt.datetime, until: dt.datetime, tz: ZoneInfo, t: Translator) -> str:
    """A part's end after its start: `12:45`, or dated when it ends on another day."""
    local = until.astimezone(tz)
    if local.date() == start.astimezone(tz).date():
        return f"{local:%H:%M}"
    return clock(until, tz, t)


def moment(when: dt.datetime, tz: ZoneInfo, t: Translator, *, today: dt.date | None = None) -> str:
    """`18 November 2021, 17:10 Helsinki time (EET, UTC+2)`; the date left out when it is
    `today` in the event's zone."""
    return f"{clock(when, tz, t, today=today)} {zone(when, tz, t)}"
