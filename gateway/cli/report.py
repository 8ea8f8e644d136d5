"""`report attendance`: viewers per part, and per registrant (by id unless --with-names);
with --chart, viewers through the day as an SVG or PNG file."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from pathlib import Path

from gateway.audit.attendance import concurrent, day_span, report
from gateway.audit.chart import chart_png, chart_svg, viewers_chart
from gateway.audit.export import formula_safe
from gateway.cli.common import Context, Parser, Subparsers, command, with_context
from gateway.core.errors import UsageError
from gateway.core.schedule import Schedule
from gateway.core.times import in_zone
from gateway.settings import Settings


def _attendance(settings: Settings, args: argparse.Namespace) -> int:
    chart_to = _chart_path(args.chart) if args.chart is not None else None

    async def work(ctx: Context) -> int:
        schedule = (await ctx.controls().current()).schedule  # with ops' changes
        tz = schedule.timezone
        watched = await ctx.store.attendance()
        totals, presence = report(schedule, watched)
        if chart_to is not None:
            _write_chart(chart_to, settings, schedule, watched)
            print(f"Chart of viewers through the day written to {chart_to}", file=sys.stderr)
        names: dict[str, tuple[str, str]] = {}
        if args.with_names:
            names = {r.id: (r.name, r.email) for r in await ctx.store.registrants()}
        if args.format == "csv":
            out = csv.writer(sys.stdout, lineterminator="\n")
            out.writerow(
                ["part", "unique_viewers", "peak_concurrent", "viewing_hours", "mean_minutes",
                 "median_minutes"]
            )  # fmt: skip
            out.writerows(
                [t.part, t.viewers, t.peak, t.hours, t.mean_minutes, t.median_minutes]
                for t in totals
            )
            out.writerow([])
            head = [
                "registrant",
                *(["name", "email"] if args.with_names else []),
                "part",
                "first_seen",
                "last_seen",
                "minutes",
            ]
            out.writerow(head)
            for p in presence:
                who = (
                    [formula_safe(v) for v in names.get(p.registrant, ("", ""))]
                    if args.with_names
                    else []
                )
                out.writerow(
                    [p.registrant, *who, p.part, p.first.isoformat(), p.last.isoformat(), p.minutes]
                )
            return 0
        print(f"{'part':<12} {'viewers':>8} {'peak':>6} {'hours':>8} {'mean min':>9} {'median':>7}")
        for t in totals:
            print(
                f"{t.part:<12} {t.viewers:>8} {t.peak:>6} {t.hours:>8.2f} "
                f"{t.mean_minutes:>9.1f} {t.median_minutes:>7.1f}"
            )
        print()
        for p in presence:
            label = " ".join(names.get(p.registrant, ())) if args.with_names else ""
            print(
                f"{p.registrant} {label} {p.part}: {in_zone(p.first, tz)} – "
                f"{p.last.astimezone(tz):%H:%M}, {p.minutes} min".replace("  ", " ")
            )
        return 0

    return with_context(settings, work, reads=True)


def _chart_path(value: str) -> Path:
    path = Path(value)
    if path.suffix.lower() not in (".svg", ".png"):
        raise UsageError(f"{value}: the chart is written as .svg or .png")
    if not path.parent.is_dir():
        raise UsageError(f"{value}: no such folder {str(path.parent)!r}")
    return path


def _write_chart(
    path: Path, settings: Settings, schedule: Schedule, watched: dict[str, list[dt.datetime]]
) -> None:
    tz = schedule.timezone
    per_minute = concurrent(watched, *day_span(schedule))
    chart = viewers_chart(per_minute, tz, until_now=False)
    title = f"{settings.event.title}: viewers per minute"
    try:
        if path.suffix.lower() == ".svg":
            path.write_text(chart_svg(chart, per_minute, tz, title), encoding="utf-8")
        else:
            path.write_bytes(chart_png(chart, per_minute, tz, title))
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the chart ({exc.strerror})") from None


def add(group: str, sub: Subparsers[Parser]) -> None:
    attendance = command(
        sub, "attendance", "who watched which part, counted in minutes", _attendance
    )
    attendance.add_argument(
        "--format", choices=("table", "csv"), default="table", help="output format (default table)"
    )
    attendance.add_argument(
        "--with-names",
        action="store_true",
        help="add names and emails (personal data: handle with care)",
    )
    attendance.add_argument(
        "--chart",
        metavar="FILE",
        help="also write viewers through the day as a chart: FILE ending .svg or .png",
    )
