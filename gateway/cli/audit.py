"""`audit export | verify | checkpoint | keygen`: reading, verifying and checkpointing the log.

`verify` exits 0 only when the chain and every checkpoint are intact, else 1
with one line on stderr naming the first bad event; `checkpoint` signs the
current head (run it from cron, writing to another volume); `keygen` makes the
Ed25519 key pair and needs no config.
"""

from __future__ import annotations

import argparse
import sys

from gateway.audit.checkpoints import keygen
from gateway.audit.export import export
from gateway.audit.log import TYPES
from gateway.audit.verify import ChainBroken, checkpoint, verify
from gateway.cli.common import Context, Parser, Subparsers, command, with_context
from gateway.core.clock import system_clock
from gateway.core.times import parse_time
from gateway.settings import Settings


def _export(settings: Settings, args: argparse.Namespace) -> int:
    tz = settings.event.timezone
    since = parse_time(args.since, tz) if args.since else None
    until = parse_time(args.until, tz) if args.until else None
    if args.type and args.type not in TYPES:  # (an empty export read as "no such event")
        print(
            f"gateway: no event type {args.type!r} (types: {', '.join(sorted(TYPES))})",
            file=sys.stderr,
        )
        return 2
    if since is not None and until is not None and since >= until:
        print(
            "gateway: --since is not before --until: no event can be between them", file=sys.stderr
        )
        return 2
    return with_context(
        settings,
        lambda ctx: export(
            ctx.store,
            sys.stdout,
            fmt=args.format,
            since=since,
            until=until,
            type=args.type,
            registrant=args.registrant,
            actor=args.actor,
        ),
        reads=True,
    )


def _verify(settings: Settings, args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        audit = ctx.settings.audit
        report = await verify(
            ctx.store, checkpoint_dir=audit.checkpoint_dir, verify_key=audit.verify_key
        )
        counts = f"{report.events_valid} events valid, {report.checkpoints_valid} checkpoints valid"
        print(counts + (f" ({report.note})" if report.note else ""))
        if report.ok:
            return 0
        if report.first_failure is not None:
            where = f"audit log broken at seq {report.first_failure}"
        else:
            where = "audit log not verified"
        print(f"gateway: {where}: {report.reason}", file=sys.stderr)
        return 1

    return with_context(settings, work, reads=True)


def _checkpoint(settings: Settings, args: argparse.Namespace) -> int:
    key, folder = settings.secrets.audit_signing_key, settings.audit.checkpoint_dir
    if not key or folder is None:
        missing = "GATEWAY_AUDIT_SIGNING_KEY" if not key else "audit.checkpoint_dir"
        print(f"gateway: audit checkpoint needs {missing}", file=sys.stderr)
        return 2

    async def work(ctx: Context) -> int:
        try:
            doc = await checkpoint(ctx.store, folder, key.reveal(), system_clock)
        except ChainBroken as exc:
            print(f"gateway: not checkpointed: {exc}", file=sys.stderr)
            return 1
        if doc is None:
            print("the audit log is empty: nothing to checkpoint")
        else:
            print(f"checkpoint at seq {doc['seq']} ({doc['head']}) written to {folder}")
        return 0

    return with_context(settings, work)


def run_keygen() -> int:
    """Print a new key pair: the private key as an environment line, the public as TOML."""
    private, public = keygen()
    print("# the signing key: environment only, never the config (used by `audit checkpoint`)")
    print(f"GATEWAY_AUDIT_SIGNING_KEY={private}")
    print("# the [audit] table of the config (used by `audit verify`)")
    print(f'verify_key = "{public}"')
    return 0


def add(group: str, sub: Subparsers[Parser]) -> None:
    exp = command(sub, "export", "print audit events", _export)
    exp.add_argument(
        "--format", choices=("jsonl", "csv"), default="jsonl", help="output format (default jsonl)"
    )
    exp.add_argument("--since", help="only events at or after this time")
    exp.add_argument("--until", help="only events before this time")
    exp.add_argument("--type", help="only events of this type")
    exp.add_argument("--registrant", help="only events about this registrant id")
    exp.add_argument("--actor", help="only events by this actor (system, cli or a staff identity)")
    command(sub, "verify", "check the hash chain and the signed checkpoints", _verify)
    command(sub, "checkpoint", "sign the log's current head into audit.checkpoint_dir", _checkpoint)
    sub.add_parser(
        "keygen",
        help="make an Ed25519 key pair for checkpoints",
        description="make an Ed25519 key pair for checkpoints (needs no config)",
    )
