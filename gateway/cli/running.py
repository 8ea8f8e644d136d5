"""`serve`, `demo` and `schedule`: running the gateway and reading its day."""

from __future__ import annotations

import argparse

from gateway.cli.common import Parser, Subparsers, command
from gateway.clock import system_clock
from gateway.schedule_report import report
from gateway.settings import Settings
from gateway.times import parse_time


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.server import serve

    return serve(settings, host=args.host, port=args.port)


def _schedule(settings: Settings, args: argparse.Namespace) -> int:
    at = parse_time(args.at, settings.event.timezone) if args.at else system_clock()
    print("\n".join(report(settings, at)))
    return 0


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
