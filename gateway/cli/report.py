"""`report attendance`: viewers per part, and per registrant (by id unless --with-names)."""

from __future__ import annotations

import argparse
import csv
import sys

from gateway.audit.attendance import report
from gateway.audit.export import formula_safe
from gateway.cli.common import Context, Parser, Subparsers, command, with_context
from gateway.core.times import in_zone
from gateway.settings import Settings


def _attendance(settings: Settings, args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        tz = settings.schedule.timezone
        totals, presence = report(settings.schedule, await ctx.store.attendance())
        names: dict[str, tuple[str, str]] = {}
        if args.with_names:
            names = {r.id: (r.name, r.email) for r in await ctx.store.registrants()}
        if args.format == "csv":
            out = csv.writer(sys.stdout, lineterminator="\n")
            out.writerow(["part", "unique_viewers", "peak_concurrent", "viewing_hours"])
            out.writerows([t.part, t.viewers, t.peak, t.hours] for t in totals)
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
        print(f"{'part':<12} {'viewers':>8} {'peak':>6} {'hours':>8}")
        for t in totals:
            print(f"{t.part:<12} {t.viewers:>8} {t.peak:>6} {t.hours:>8.2f}")
        print()
        for p in presence:
            label = " ".join(names.get(p.registrant, ())) if args.with_names else ""
            print(
                f"{p.registrant} {label} {p.part}: {in_zone(p.first, tz)} – "
                f"{p.last.astimezone(tz):%H:%M}, {p.minutes} min".replace("  ", " ")
            )
        return 0

    return with_context(settings, work)


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
