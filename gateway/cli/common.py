"""What every command shares: the parser class, the --config option, a store for one run."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from gateway.audit.log import AuditLog, reason_text
from gateway.audit.spool import Spool
from gateway.core.clock import system_clock
from gateway.mail.compose import transport_for
from gateway.mail.queue import Mailer
from gateway.mail.registrants import Registry
from gateway.sessions.controls import ControlState
from gateway.settings import Settings
from gateway.store import Store, open_store, sqlite_path

Subparsers = argparse._SubParsersAction  # noqa: SLF001 - argparse names no public type for it


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def reason(value: str) -> str:
    """`--reason`: as the audit event keeps it, on one line, cut to 200 characters (an
    argparse type: one naming an email address is a usage error, exit 2)."""
    try:
        return reason_text(value) or ""
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def port(value: str) -> int:
    """`--port`: a TCP port (an argparse type: a bad one is a usage error, exit 2)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (1-65535)")
    return number


def proxies(value: str) -> str:
    """`--trusted-proxies`: comma-separated addresses or CIDRs, or `*` (an argparse type)."""
    for item in filter(None, (part.strip() for part in value.split(","))):
        if item != "*":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{item!r} is not an address or CIDR") from None
    return value


def cannot_listen(host: str, port: int) -> str | None:
    """Why nothing could listen on host:port now (tried by binding, then letting go, as
    uvicorn binds), or None: said in one line before anything starts."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror}"
    family, kind, proto, _, address = found[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


def command(
    sub: Subparsers[Parser],
    name: str,
    help: str,
    handler: Callable[[Settings, argparse.Namespace], int],
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help)
    parser.add_argument(
        "--config",
        default=os.environ.get("GATEWAY_CONFIG"),
        help="the event's TOML file (or env GATEWAY_CONFIG)",
    )
    parser.set_defaults(handler=handler)
    return parser


@dataclass
class Context:
    settings: Settings
    store: Store
    audit: AuditLog
    registry: Registry
    mailer: Mailer

    def controls(self) -> ControlState:
        """Ops' changes to the day and the kill switch, over the config's schedule."""
        return ControlState(self.settings.schedule, self.store, self.audit, system_clock)


def with_context(
    settings: Settings, work: Callable[[Context], Awaitable[int]], *, reads: bool = False
) -> int:
    """Run `work` with a store opened for this command (and closed after it). A command
    that only `reads` is refused a SQLite file that is not there: opening it would make an
    empty store, and the command report nothing as if the log or the list were empty."""
    path = sqlite_path(settings.store_url)
    if reads and path is not None and not Path(path).is_file():
        print(
            f"gateway: no store at {path}: nothing to read (is store.url right?)", file=sys.stderr
        )
        return 1

    async def run() -> int:
        store = open_store(settings.store_url)
        try:
            audit = AuditLog(store, system_clock, Spool(settings.audit.spool_file))
            registry = Registry(settings, store, audit)
            controls = ControlState(settings.schedule, store, audit, system_clock)
            mailer = Mailer(
                store,
                audit,
                registry,
                transport_for(settings),
                system_clock,
                worker="cli",
                day=controls.day,
            )
            return await work(Context(settings, store, audit, registry, mailer))
        finally:
            await store.close()

    return asyncio.run(run())
