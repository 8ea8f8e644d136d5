"""`serve`, `demo` and `schedule`: running the gateway and reading its day."""

from __future__ import annotations

import argparse

from gateway.cli.common import Context, Parser, Subparsers, command, with_context
from gateway.clock import system_clock
from gateway.control import ControlState
from gateway.errors import StoreUnavailable
from gateway.schedule_report import report
from gateway.settings import Settings
from gateway.times import parse_time


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.server import serve

    return serve(settings, host=args.host, port=args.port)


def _schedule(settings: Settings, args: argparse.Namespace) -> int:
    at = parse_time(args.at, settings.event.timezone) if args.at else system_clock()

    async def work(ctx: Context) -> int:
        notices: list[str] = []
        controls = None
        try:
            controls = await ControlState(
                settings.schedule, ctx.store, ctx.audit, system_clock
            ).current()
        except StoreUnavailable:
            notices.append("(the store is not reachable: ops' changes, if any, are not shown)")
        print("\n".join(report(settings, at, controls=controls, notices=notices)))
        return 0

    return with_context(settings, work)


def add(commands: Subparsers[Parser]) -> None:
    serve = command(commands, "serve", "run the gateway", _serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    demo = commands.add_parser(
        "demo",
        help="rehearse on embedded defaults: a local test stream, the day shifted to "
        "now, a demo registrant",
    )
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--data", default="demo-data", help="data folder (reused by a second run)")
    schedule = command(
        commands, "schedule", "print the parts and what is served at a moment", _schedule
    )
    schedule.add_argument("--at", help="a date and time (default: now)")
