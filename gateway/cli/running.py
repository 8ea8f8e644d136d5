"""`serve`, `demo` and `schedule`: running the gateway and reading its day."""

from __future__ import annotations

import argparse
import asyncio
import sys

from gateway.cli import ops
from gateway.cli.common import (
    Context,
    Parser,
    Subparsers,
    cannot_listen,
    command,
    port,
    proxies,
    with_context,
)
from gateway.cli.schedule_report import report
from gateway.core.clock import system_clock
from gateway.core.errors import ConfigError, StoreUnavailable
from gateway.settings import Settings
from gateway.stream.captions import Found, MalformedCaptions, captions_status, inspect
from gateway.stream.origins import make_origin


def captions_found(settings: Settings, *, refuse: bool = True) -> Found:
    """The recording origin's captions, looked up now (a file, or over HTTP).

    A malformed caption file is a configuration error (exit 2) when `refuse`,
    else a note: `serve` refuses it, `schedule` reports it.
    """

    async def look() -> Found:
        origin = make_origin(settings.origin.recording, timeout=settings.origin.timeout_seconds)
        try:
            return await inspect(origin, settings.captions.path)
        finally:
            await origin.close()

    try:
        return asyncio.run(look())
    except MalformedCaptions as exc:
        if not refuse:
            note = f"{exc}; `gateway serve` refuses to start with it"
            return Found(False, note=note, configured=settings.captions.path)
        key = "recording.captions" if settings.captions.path else "origin.recording"
        raise ConfigError(str(settings.source), [f"{key}: {exc}"]) from None


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.web.server import serve

    captions_found(settings)  # a malformed caption file stops here, before anything listens
    why = cannot_listen(args.host, args.port)
    if why is not None:
        print(f"gateway: {why}", file=sys.stderr)
        return 2
    return serve(settings, host=args.host, port=args.port, trusted_proxies=args.trusted_proxies)


def _schedule(settings: Settings, args: argparse.Namespace) -> int:
    at = ops.event_time(args.at, settings) if args.at else system_clock()
    found = captions_found(settings, refuse=False)

    async def work(ctx: Context) -> int:
        notices = []
        controls = None
        try:
            controls = await ctx.controls().current()
        except StoreUnavailable:
            notices.append("(the store is not reachable: ops' changes, if any, are not shown)")
        opens = (controls.schedule if controls else settings.schedule).recording_from
        captions = captions_status(at, opens, settings.captions.due_days, found.present)
        notices.insert(0, captions.line(settings.event.timezone, found))
        print("\n".join(report(settings, at, controls=controls, notices=notices)))
        return 0

    return with_context(settings, work)


def add(commands: Subparsers[Parser]) -> None:
    serve = command(commands, "serve", "run the gateway", _serve)
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=port, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--trusted-proxies",
        type=proxies,
        default="127.0.0.1",
        metavar="ADDRESSES",
        help="proxies whose X-Forwarded-For is believed (comma-separated "
        "addresses or CIDRs; default 127.0.0.1)",
    )
    demo = commands.add_parser(
        "demo",
        help="rehearse on embedded defaults: a local test stream, the day shifted to "
        "now, a demo registrant",
    )
    demo.add_argument("--port", type=port, default=8000, help="port (default 8000)")
    demo.add_argument("--data", default="demo-data", help="data folder (reused by a second run)")
    schedule = command(
        commands, "schedule", "print the parts and what is served at a moment", _schedule
    )
    schedule.add_argument(
        "--at", help="a date and time, or a time of day on the event's day (default: now)"
    )
    ops.add_schedule_set(schedule)
