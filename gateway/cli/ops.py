"""The break-glass command line: `live stop|resume` and `schedule set`, what the console
does, for a shell on the server when nobody can sign in. Audited with actor `cli`."""

from __future__ import annotations

import argparse
import datetime as dt
import re

from gateway.cli.common import Context, Parser, Subparsers, command, reason, with_context
from gateway.core.clock import system_clock
from gateway.core.errors import UsageError
from gateway.core.schedule import Part
from gateway.core.times import in_zone, parse_time
from gateway.sessions.controls import NothingToChange, consequences, plan_change
from gateway.settings import Settings

ACTOR = "cli"
_TIME_OF_DAY = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")


def event_time(text: str, settings: Settings) -> dt.datetime:
    """A date and time, or a time of day (`18:20`) on the event's day, in its zone."""
    tz = settings.event.timezone
    if _TIME_OF_DAY.match(text.strip()):
        day = settings.schedule.parts[0].start.astimezone(tz).date()
        text = f"{day.isoformat()}T{text.strip()}"
    return parse_time(text, tz)


def _live(settings: Settings, args: argparse.Namespace) -> int:
    stop = args.action == "stop"

    async def work(ctx: Context) -> int:
        if not await ctx.controls().set_stopped(stop, actor=ACTOR, reason=args.reason or None):
            print(
                "live serving was already stopped: nothing changed"
                if stop
                else "live is already being served: nothing changed"
            )
            return 0
        print(
            "live serving stopped: every replica refuses live within 2 s (the recording is not"
            " affected)"
            if stop
            else "live serving resumed"
        )
        return 0

    return with_context(settings, work)


def _schedule_set(settings: Settings, args: argparse.Namespace) -> int:
    tz = settings.event.timezone

    async def work(ctx: Context) -> int:
        controls = ctx.controls()
        seen = await controls.version()
        current = (await controls.current()).schedule
        old = next((p for p in current.parts if p.name == args.part), None)
        if old is None:
            names = ", ".join(p.name for p in current.parts)
            raise UsageError(f"there is no part named {args.part!r} (parts: {names})")
        new = Part(
            old.name,
            event_time(args.start, settings) if args.start else old.start,
            event_time(args.end, settings) if args.end else old.end,
            old.streamed if args.streamed is None else args.streamed == "true",
        )
        # As the console offers it: a part extended into the next one moves that one's
        # start with it, shown in the preview and applied by the same --yes.
        try:
            planned, moved = plan_change(controls.config, current, new, move_next=True)
        except NothingToChange:
            print(f"Nothing to change: {old.name} is so already.")
            return 0
        print(
            f"{old.name}: {in_zone(old.start, tz)} – {in_zone(old.end, tz)}"
            f"{'' if old.streamed else ' (not streamed)'}"
        )
        print(
            f"  becomes {in_zone(new.start, tz)} – {in_zone(new.end, tz)}"
            f"{'' if new.streamed else ' (not streamed)'}"
        )
        if moved is not None:
            print(
                f"{old.name} would run into {moved.name}: {moved.name} moves with it, "
                f"starting at {in_zone(moved.start, tz)} (its end stays)"
            )
        for line in consequences(current, planned, system_clock()):
            print(f"  {line}")
        if not args.yes:
            print("Nothing changed yet: run the same command with --yes to apply it.")
            return 0
        await controls.change_part(
            old.name,
            start=new.start,
            end=new.end,
            streamed=new.streamed,
            actor=ACTOR,
            expected=seen,  # as previewed above, or refused naming who changed it
            move_next=True,
        )
        print("Applied: every replica follows within 2 s.")
        return 0

    return with_context(settings, work)


def add_live(commands: Subparsers[Parser]) -> None:
    live = commands.add_parser(
        "live", help="stop or resume live serving (the kill switch)", description="the kill switch"
    )
    sub = live.add_subparsers(dest="action", required=True, parser_class=Parser)
    for action, help in (
        ("stop", "stop live serving on every replica now"),
        ("resume", "resume live serving"),
    ):
        one = command(sub, action, help, _live)
        one.add_argument("--reason", type=reason, help="why, kept in the audit event")


def add_schedule_set(schedule: argparse.ArgumentParser) -> None:
    sub = schedule.add_subparsers(dest="schedule_action", parser_class=Parser)
    change = command(sub, "set", "move a part or change whether it is streamed", _schedule_set)
    change.add_argument("--part", required=True, help="the part's name, as in the config")
    change.add_argument("--start", help="new start: a time of day (18:20) or date and time")
    change.add_argument("--end", help="new end: a time of day (18:20) or date and time")
    change.add_argument("--streamed", choices=("true", "false"), help="stream the part or not")
    change.add_argument("--yes", action="store_true", help="apply (without it: a preview only)")
