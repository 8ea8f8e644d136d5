"""`mail send-links`: the personal link to every registrant, with progress, resumable."""

from __future__ import annotations

import argparse
import sys

from rich.progress import Progress

from gateway.cli.common import Context, Parser, Subparsers, command, with_context
from gateway.mail.queue import send_links
from gateway.settings import Settings


async def bulk_send(ctx: Context, *, unsent_only: bool, lang: str) -> int:
    """Send, show progress on stderr, report; exit 0 only when nothing is left to send."""
    with Progress(transient=False, console=None) as progress:
        task = progress.add_task("Sending links", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = await send_links(ctx.mailer, unsent_only=unsent_only, lang=lang, progress=step)
    print(
        f"{report.sent} sent, {report.failed} failed, {report.left} left to send, "
        f"{report.skipped} skipped (already sent or revoked)."
    )
    if report.unreachable:
        print(
            "gateway: the mail server could not be reached; run the same command again "
            "to send the rest",
            file=sys.stderr,
        )
    return 0 if not report.left and not report.failed else 1


def _send_links(settings: Settings, args: argparse.Namespace) -> int:
    return with_context(
        settings, lambda ctx: bulk_send(ctx, unsent_only=args.unsent_only, lang=args.lang)
    )


def add(group: str, sub: Subparsers[Parser]) -> None:
    send = command(sub, "send-links", "mail every registrant their personal link", _send_links)
    send.add_argument(
        "--unsent-only",
        action="store_true",
        help="only those whose current link was not mailed yet",
    )
    send.add_argument("--lang", choices=("en", "fi", "sv"), default="en")
