"""Viewers per minute as a picture: column geometry for the console's inline SVG, and the
same chart as a file (SVG, or PNG drawn with Pillow) for `gateway report attendance
--chart`. Pure but for the PNG's drawing; no charting library.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from html import escape
from zoneinfo import ZoneInfo

WIDTH = 1000  # the viewBox width the columns are placed in
HEIGHT = 100  # the chart's drawing height in the viewBox


def duration_words(span: dt.timedelta) -> str:
    """`under a minute`, `12 min`, `1 h 05 min`, `2 days 3 h`."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h"


@dataclass(frozen=True)
class Column:
    x: float
    height: float
    label: str  # "11:12: 5 viewers"


@dataclass(frozen=True)
class Chart:
    columns: tuple[Column, ...]
    width: float  # of a column, leaving a gap between them
    peak: int
    peak_at: str
    now: int
    top: int  # the count the chart's full height stands for
    summary: str


def viewers_chart(
    per_minute: dict[dt.datetime, int], tz: ZoneInfo, *, until_now: bool = True
) -> Chart:
    """Viewers per minute as columns: the last minutes until now (the last one, still
    filling, included), or with `until_now` False a whole span such as the day."""
    minutes = sorted(per_minute)
    counts = [per_minute[m] for m in minutes]
    peak = max(counts, default=0)
    top = max(peak, 1)
    width = WIDTH / max(len(minutes), 1)
    peak_at = next((f"{m.astimezone(tz):%H:%M}" for m in minutes if per_minute[m] == peak), "")
    columns = tuple(
        Column(
            round(n * width, 1),
            round(count / top * HEIGHT, 1),
            f"{m.astimezone(tz):%H:%M}: {count} viewer{'s' if count != 1 else ''}",
        )
        for n, (m, count) in enumerate(zip(minutes, counts, strict=True))
        if count
    )
    now = counts[-1] if counts else 0
    peak_said = f", peak {peak} at {peak_at}." if peak else ", nobody watched."
    if until_now:
        span = duration_words(dt.timedelta(minutes=len(minutes)))
        summary = f"Viewers per minute over the last {span}: now {now}{peak_said}"
    elif minutes:
        end = minutes[-1] + dt.timedelta(minutes=1)
        summary = (
            f"Viewers per minute from {minutes[0].astimezone(tz):%H:%M} to "
            f"{end.astimezone(tz):%H:%M}{peak_said}"
        )
    else:
        summary = "Viewers per minute: nothing to show."
    return Chart(columns, round(width * 0.85, 2), peak, peak_at, now, top, summary)


# A file's layout, in pixels: the columns' box drawn PLOT_HEIGHT tall on a BASE line.
MARGIN_LEFT, MARGIN_TOP, PLOT_HEIGHT = 60, 50, 300
FILE_WIDTH, FILE_HEIGHT = MARGIN_LEFT + WIDTH + 20, MARGIN_TOP + PLOT_HEIGHT + 60
SCALE, BASE = PLOT_HEIGHT / HEIGHT, MARGIN_TOP + PLOT_HEIGHT


def _axis_labels(per_minute: dict[dt.datetime, int], tz: ZoneInfo) -> list[tuple[float, str]]:
    """Hour marks under the columns: (x in the 0..WIDTH box, "10:00")."""
    minutes = sorted(per_minute)
    if not minutes:
        return []
    step = WIDTH / len(minutes)
    every = 60 if len(minutes) <= 14 * 60 else 120
    return [
        (n * step, f"{m.astimezone(tz):%H:%M}")
        for n, m in enumerate(minutes)
        if m.astimezone(tz).minute == 0 and (m.astimezone(tz).hour * 60) % every == 0
    ]


def chart_svg(chart: Chart, per_minute: dict[dt.datetime, int], tz: ZoneInfo, title: str) -> str:
    """A standalone SVG document: title, columns, hour marks, the peak said."""
    width, height, scale, base = FILE_WIDTH, FILE_HEIGHT, SCALE, BASE
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="t d" '
        'font-family="sans-serif" font-size="14">',
        f'<title id="t">{escape(title)}</title><desc id="d">{escape(chart.summary)}</desc>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{MARGIN_LEFT}" y="28" font-size="18" fill="#1a1a1a">{escape(title)}</text>',
        f'<line x1="{MARGIN_LEFT}" y1="{base}" x2="{MARGIN_LEFT + WIDTH}" y2="{base}" '
        'stroke="#767676"/>',
        f'<text x="{MARGIN_LEFT - 8}" y="{MARGIN_TOP + 5}" text-anchor="end" '
        f'fill="#1a1a1a">{chart.top}</text>',
        f'<text x="{MARGIN_LEFT - 8}" y="{base}" text-anchor="end" fill="#1a1a1a">0</text>',
    ]
    for column in chart.columns:
        h = column.height * scale
        parts.append(
            f'<rect x="{MARGIN_LEFT + column.x}" y="{base - h:.1f}" width="{chart.width}" '
            f'height="{h:.1f}" fill="#1d4ed8"><title>{escape(column.label)}</title></rect>'
        )
    for x, label in _axis_labels(per_minute, tz):
        parts.append(
            f'<text x="{MARGIN_LEFT + x:.1f}" y="{base + 20}" text-anchor="middle" '
            f'fill="#1a1a1a">{label}</text>'
        )
    parts.append(
        f'<text x="{MARGIN_LEFT}" y="{base + 48}" fill="#1a1a1a">{escape(chart.summary)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def chart_png(chart: Chart, per_minute: dict[dt.datetime, int], tz: ZoneInfo, title: str) -> bytes:
    """The same chart as a PNG (Pillow, its built-in font)."""
    from PIL import Image, ImageDraw, ImageFont

    width, height, scale, base = FILE_WIDTH, FILE_HEIGHT, SCALE, BASE
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    draw.text((MARGIN_LEFT, 12), title, fill="#1a1a1a", font=ImageFont.load_default(size=18))
    draw.line((MARGIN_LEFT, base, MARGIN_LEFT + WIDTH, base), fill="#767676")
    draw.text((MARGIN_LEFT - 8, MARGIN_TOP), str(chart.top), fill="#1a1a1a", font=font, anchor="rm")
    draw.text((MARGIN_LEFT - 8, base), "0", fill="#1a1a1a", font=font, anchor="rm")
    for column in chart.columns:
        left = MARGIN_LEFT + column.x
        draw.rectangle(
            (left, base - column.height * scale, left + max(chart.width, 1), base), fill="#1d4ed8"
        )
    for x, label in _axis_labels(per_minute, tz):
        draw.text((MARGIN_LEFT + x, base + 14), label, fill="#1a1a1a", font=font, anchor="mm")
    draw.text((MARGIN_LEFT, base + 40), chart.summary, fill="#1a1a1a", font=font)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
