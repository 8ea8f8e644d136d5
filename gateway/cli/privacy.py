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
from gateway.mail.compose import OutboxTransport
from gateway.settings import Settings


def _purge(settings: Settings, args: argparse.Namespace) -> int:
    said = args.before.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", said):  # a date alone: from its first moment
        said += " 00:00"
    before = parse_time(said, settings.event.timezone)

    async def work(ctx: Context) -> int:
        addresses = {r.id: r.email for r in await ctx.store.registrants() if r.email}
        purged = await ctx.store.purge_registrants(before)
        await ctx.store.delete_value(IP_KEY)
        # mail written to the outbox (no SMTP server) names them too, with a working link
        mails = OutboxTransport(settings.mail.outbox).erase(
            [addresses[rid] for rid in purged if rid in addresses]
        )
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
            f"{said}; the key behind the audit's address hashes is destroyed; {mails} mail "
            "file(s) to them deleted from the outbox."
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
