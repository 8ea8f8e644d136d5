"""The `gateway` command line: the edge where config is loaded and the clock is read.

Every failure is one line on stderr and a non-zero exit (2 for configuration
and usage, 1 for anything else); never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import NoReturn

from gateway.audit import AuditLog
from gateway.audit_export import export
from gateway.clock import system_clock
from gateway.errors import ConfigError, GatewayError, StoreUnavailable, UsageError
from gateway.registrants import Registry
from gateway.schedule_report import report
from gateway.settings import Settings, load_settings
from gateway.store import Store, open_store
from gateway.times import parse_time


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def _parser() -> argparse.ArgumentParser:
    top = _Parser(prog="gateway", description="Livestream access gateway.")
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(
        name: str,
        help: str,
        sub: argparse._SubParsersAction[_Parser] = commands,
    ) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help, description=help)
        parser.add_argument(
            "--config",
            default=os.environ.get("GATEWAY_CONFIG"),
            help="the event's TOML file (or env GATEWAY_CONFIG)",
        )
        return parser

    serve = command("serve", "run the gateway")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    demo = commands.add_parser(
        "demo",
        help="rehearse on embedded defaults: a local test "
        "stream, the day shifted to now, a demo registrant",
    )
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--data", default="demo-data", help="data folder (reused by a second run)")

    schedule = command("schedule", "print the parts and what is served at a moment")
    schedule.add_argument("--at", help="a date and time (default: now)")

    group = commands.add_parser("registrants", help="manage registrants")
    sub = group.add_subparsers(dest="action", required=True, parser_class=_Parser)
    add = command("add", "add a registrant and print their personal link", sub)
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--organisation", default="")

    group = commands.add_parser("links", help="revoke or reissue personal links")
    sub = group.add_subparsers(dest="action", required=True, parser_class=_Parser)
    command("revoke", "stop a registrant's links and sessions", sub).add_argument("email")
    command("reissue", "issue a new link; older links stop working", sub).add_argument("email")

    group = commands.add_parser("audit", help="the audit log")
    sub = group.add_subparsers(dest="action", required=True, parser_class=_Parser)
    exp = command("export", "print audit events", sub)
    exp.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    exp.add_argument("--since", help="only events at or after this time")
    exp.add_argument("--type", help="only events of this type")
    return top


def _with_store(settings: Settings, work: Callable[[Store], Awaitable[int]]) -> int:
    async def run() -> int:
        store = open_store(settings.store_url)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _registry(settings: Settings, store: Store) -> Registry:
    if not settings.secrets.secret_keys:
        raise ValueError("set GATEWAY_SECRET_KEYS: links are signed with its first key")
    return Registry(settings, store, AuditLog(store, system_clock))


async def _add(settings: Settings, store: Store, args: argparse.Namespace) -> int:
    registry = _registry(settings, store)
    registrant, created = await registry.add(
        email=args.email,
        name=args.name,
        organisation=args.organisation,
        now=system_clock(),
        actor="cli",
    )
    if created:
        print(f"Added {registrant.name} <{registrant.email}> (id {registrant.id}).")
    else:
        print(
            f"{registrant.email} is already registered (id {registrant.id}); "
            "this is their current link."
        )
        if registrant.revoked:
            print(
                "Note: their access is revoked; `gateway links reissue` gives it back.",
                file=sys.stderr,
            )
    print(registry.link(registrant))
    return 0


async def _revoke(settings: Settings, store: Store, args: argparse.Namespace) -> int:
    registrant = await _registry(settings, store).revoke(args.email, actor="cli")
    print(
        f"Revoked {registrant.email} (id {registrant.id}): their links and sessions no longer work."
    )
    return 0


async def _reissue(settings: Settings, store: Store, args: argparse.Namespace) -> int:
    registry = _registry(settings, store)
    registrant = await registry.reissue(args.email, actor="cli")
    print(f"New link for {registrant.email} (id {registrant.id}); older links no longer work.")
    print(registry.link(registrant))
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from gateway.demo import run

        return run(Path(args.data), args.port)
    if not args.config:
        raise UsageError("no config: give --config FILE or set GATEWAY_CONFIG")
    settings = load_settings(args.config)
    now = system_clock()
    match args.command, getattr(args, "action", None):
        case "serve", _:
            from gateway.server import serve

            return serve(settings, host=args.host, port=args.port)
        case "schedule", _:
            at = parse_time(args.at, settings.event.timezone) if args.at else now
            print("\n".join(report(settings, at)))
            return 0
        case "registrants", "add":
            return _with_store(settings, lambda store: _add(settings, store, args))
        case "links", "revoke":
            return _with_store(settings, lambda store: _revoke(settings, store, args))
        case "links", "reissue":
            return _with_store(settings, lambda store: _reissue(settings, store, args))
        case "audit", "export":
            since = parse_time(args.since, settings.event.timezone) if args.since else None
            return _with_store(
                settings,
                lambda store: export(
                    store, sys.stdout, fmt=args.format, since=since, type=args.type
                ),
            )
    raise UsageError(f"unknown command {args.command}")


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except ConfigError as exc:
        print(f"gateway: config error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a bad --at/--since value or a missing secret key
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2 if str(exc).startswith("no config") else 1
    except StoreUnavailable as exc:
        print(f"gateway: the store is not reachable ({exc})", file=sys.stderr)
        return 1
    except GatewayError as exc:
        print(f"gateway: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:  # e.g. the demo without its optional extra
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
