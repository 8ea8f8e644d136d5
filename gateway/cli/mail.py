"""`mail send-links`: the personal link to every registrant, with progress, resumable."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection

from rich.progress import Progress

from gateway.cli.common import Context, Parser, Subparsers, command, with_context
from gateway.mail.queue import send_links
from gateway.settings import Settings


async def bulk_send(
    ctx: Context, *, unsent_only: bool, lang: str, only: Collection[str] | None = None
) -> int:
    """Send (to the registrants in `only`, when given), show progress on stderr, report;
    exit 0 only when nothing is left to send."""
    with Progress(transient=False, console=None) as progress:
        task = progress.add_task("Sending links", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = await send_links(
            ctx.mailer, unsent_only=unsent_only, lang=lang, progress=step, only=only
        )
    print(
        f"{report.sent} sent, {report.failed} failed, {report.left} left to send, "
        f"{report.skipped} skipped (already sent or revoked)."
    )
    if report.unreachable:
        again = (  # (--all again would mail those this run reached once more)
            "run the same command again to send the rest"
            if unsent_only
            else "`gateway mail send-links` (without --all) sends the rest"
        )
        print(f"gateway: the mail server could not be reached; {again}", file=sys.stderr)
    return 0 if not report.left and not report.failed else 1


def _send_links(settings: Settings, args: argparse.Namespace) -> int:
    if args.all and not args.yes and not _confirmed():
        return 1
    return with_context(
        settings, lambda ctx: bulk_send(ctx, unsent_only=not args.all, lang=args.lang)
    )


def _confirmed() -> bool:
    """Ask before mailing everyone again; without a terminal to ask, refuse (use --yes)."""
    if not sys.stdin.isatty():
        print("gateway: --all mails every registrant again: add --yes to confirm", file=sys.stderr)
        return False
    answer = input("Mail every registrant their link again, also those already sent? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def add(group: str, sub: Subparsers[Parser]) -> None:
    send = command(
        sub,
        "send-links",
        "mail each registrant whose current link was not sent yet (a re-run sends the rest)",
        _send_links,
    )
    send.add_argument(
        "--unsent-only",
        action="store_true",
        help="the default, kept for scripts that say it",
    )
    send.add_argument("--all", action="store_true", help="mail everyone again (asks first)")
    send.add_argument("--yes", action="store_true", help="with --all: do not ask")
    send.add_argument(
        "--lang", choices=("en", "fi", "sv"), default="en", help="language of the mail (default en)"
    )
