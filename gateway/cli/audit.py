"""`audit export`: the audit log to stdout."""

from __future__ import annotations

import argparse
import sys

from gateway.audit_export import export
from gateway.cli.common import Parser, Subparsers, command, with_context
from gateway.settings import Settings
from gateway.times import parse_time


def _export(settings: Settings, args: argparse.Namespace) -> int:
    since = parse_time(args.since, settings.event.timezone) if args.since else None
    return with_context(
        settings,
        lambda ctx: export(ctx.store, sys.stdout, fmt=args.format, since=since, type=args.type),
    )


def add(group: str, sub: Subparsers[Parser]) -> None:
    exp = command(sub, "export", "print audit events", _export)
    exp.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    exp.add_argument("--since", help="only events at or after this time")
    exp.add_argument("--type", help="only events of this type")
