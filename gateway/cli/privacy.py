"""`privacy purge`: erase registrants' names and emails, and the key behind address hashes.

What stays is pseudonymous: registrant ids, the audit chain (still verifiable)
and attendance by id. Each purge is recorded as `registration.purged`.
"""

from __future__ import annotations

import argparse
import re

from gateway.audit.log import IP_KEY
from gateway.cli.common import Context, Parser, Subparsers, command, with_context
from gateway.core.times import parse_time
from gateway.settings import Settings


def _purge(settings: Settings, args: argparse.Namespace) -> int:
    said = args.before.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", said):  # a date alone: from its first moment
        said += " 00:00"
    before = parse_time(said.replace(" ", "T", 1), settings.event.timezone)

    async def work(ctx: Context) -> int:
        purged = await ctx.store.purge_registrants(before)
        await ctx.store.delete_value(IP_KEY)
        for registrant in purged:
            await ctx.audit.record(
                "registration.purged",
                registrant=registrant,
                actor="cli",
                before=said,
                ip_key_destroyed=True,
            )
        if not purged:
            await ctx.audit.record(
                "registration.purged",
                actor="cli",
                before=said,
                registrants=0,
                ip_key_destroyed=True,
            )
        print(
            f"Erased the names and emails of {len(purged)} registrant(s) registered before "
            f"{said}; the key behind the audit's address hashes is destroyed."
        )
        return 0

    return with_context(settings, work)


def add(group: str, sub: Subparsers[Parser]) -> None:
    purge = command(
        sub, "purge", "erase personal data of registrants registered before DATE", _purge
    )
    purge.add_argument(
        "--before",
        required=True,
        help="a date (from its first moment) or a date and time, event time: 2022-01-01",
    )
