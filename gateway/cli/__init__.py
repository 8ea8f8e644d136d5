"""The `gateway` command line: the edge where config is loaded and the clock is read.

Each command group lives in its own module and registers its subcommands with
a handler `(settings, args) -> exit code`. Every failure is one line on stderr
and a non-zero exit (2 for configuration and usage, 1 for anything else);
never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from gateway.cli import audit, mail, ops, privacy, recording, registrants, report, running
from gateway.cli.common import Parser, command
from gateway.core.errors import ConfigError, GatewayError, StoreUnavailable, UsageError
from gateway.settings import load_settings


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="gateway", description="Livestream access gateway.")
    top.add_argument("--version", action="version", version=f"gateway {_version()}")
    commands = top.add_subparsers(dest="command", parser_class=Parser)
    running.add(commands)
    ops.add_live(commands)
    for module, name, help in (
        (registrants, "registrants", "add, import and list registrants"),
        (registrants, "links", "revoke or reissue personal links"),
        (mail, "mail", "send personal links by email"),
        (audit, "audit", "the audit log"),
        (report, "report", "reports on the event"),
        (privacy, "privacy", "personal data retention"),
        (recording, "recording", "the recording made from the archive"),
    ):
        group = commands.add_parser(name, help=help, description=help)
        sub = group.add_subparsers(dest="action", required=True, parser_class=Parser)
        module.add(name, sub)
    return top


def _version() -> str:
    try:
        return metadata.version("stream-gateway")
    except metadata.PackageNotFoundError:  # run from a source tree without installing
        return "unknown"


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from gateway.cli.demo import run

        return run(Path(args.data), args.port)
    if args.command == "audit" and args.action == "keygen":  # makes keys; reads no config
        return audit.run_keygen()
    if not args.config:
        raise UsageError("no config: give --config FILE or set GATEWAY_CONFIG")
    code: int = args.handler(load_settings(args.config), args)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    top = parser()
    args = top.parse_args(argv)
    if args.command is None:  # bare `gateway`: what it can do
        top.print_help()
        return 0
    try:
        code = _run(args)
        sys.stdout.flush()  # here, so that a reader gone (below) is caught here too
        return code
    except BrokenPipeError:  # `gateway audit export | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to say
        return 1
    except ConfigError as exc:  # one problem per line, each line whole on its own
        for problem in exc.problems or [""]:
            print(f"gateway: config error: {exc.path}: {problem}".rstrip(": "), file=sys.stderr)
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
    except GatewayError as exc:  # its message is for people; the class only when it has none
        print(f"gateway: {str(exc) or type(exc).__name__}", file=sys.stderr)
        return 1
    except RuntimeError as exc:  # e.g. the demo without its optional extra
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


__all__ = ["command", "main", "parser"]
