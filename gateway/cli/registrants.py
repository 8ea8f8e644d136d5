"""`registrants add|import|list` and `links revoke|reissue`."""

from __future__ import annotations

import argparse
import csv
import sys

from gateway.audit.export import formula_safe
from gateway.cli.common import Context, Parser, Subparsers, command, reason, with_context
from gateway.core.clock import system_clock
from gateway.core.records import Registrant
from gateway.mail.importer import problems, rows
from gateway.settings import Settings


async def _send_now(ctx: Context, registrant: Registrant, lang: str) -> None:
    """Queue the link mail and try it at once; what fails stays queued for the worker."""
    await ctx.mailer.enqueue(registrant, lang)
    jobs = await ctx.store.mail_jobs(registrant_id=registrant.id, state="pending")
    for job in jobs[-1:]:
        outcome = await ctx.mailer.send_next(job.id)
        if outcome is not None and outcome.sent:
            print(f"Mailed the link to {registrant.email}.", file=sys.stderr)
        else:
            print(f"Not mailed yet to {registrant.email}: queued for retry.", file=sys.stderr)


def _add(settings: Settings, args: argparse.Namespace) -> int:
    lang = args.lang or "en"

    async def work(ctx: Context) -> int:
        registrant, created = await ctx.registry.add(
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
        elif args.send:
            await _send_now(ctx, registrant, lang)
        print(ctx.registry.link(registrant))
        _unsent(args)
        return 0

    return with_context(settings, work)


def _import(settings: Settings, args: argparse.Namespace) -> int:
    bad = problems(args.file)
    if bad:
        for line in bad:
            print(f"gateway: {args.file}: {line}", file=sys.stderr)
        print(f"gateway: nothing imported: {len(bad)} bad row(s)", file=sys.stderr)
        return 1
    lang = args.lang or "en"

    async def work(ctx: Context) -> int:
        added: list[str] = []  # ids: --send mails these and nobody else
        existing = 0
        for row in rows(args.file):
            registrant, created = await ctx.registry.add(
                email=row.email,
                name=row.name,
                organisation=row.organisation,
                now=system_clock(),
                actor="cli",
            )
            if created:
                added.append(registrant.id)
                if args.send:
                    await ctx.mailer.enqueue(registrant, lang)
            else:
                existing += 1
                print(f"line {row.line}: {row.email} is already registered; left as it is")
        print(f"Imported {len(added)} registrant(s); {existing} already registered.")
        _unsent(args)
        if args.send and added:
            from gateway.cli.mail import bulk_send

            return await bulk_send(ctx, unsent_only=True, lang=lang, only=set(added))
        return 0

    return with_context(settings, work)


def _list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        sent = {(j.registrant_id, j.link_version) for j in await ctx.store.mail_jobs(state="sent")}
        writer = csv.writer(
            sys.stdout, lineterminator="\n", delimiter="," if args.format == "csv" else "\t"
        )
        writer.writerow(
            ["id", "name", "email", "organisation", "registered", "status", "link_mailed"]
        )
        for r in await ctx.store.registrants():
            status = "revoked" if r.revoked else "active"
            mailed = "yes" if (r.id, r.link_version) in sent else "no"
            writer.writerow(
                [
                    formula_safe(v)
                    for v in (
                        r.id,
                        r.name,
                        r.email,
                        r.organisation,
                        r.created_at.isoformat(timespec="seconds"),
                        status,
                        mailed,
                    )
                ]
            )
        return 0

    return with_context(settings, work)


def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        if (await ctx.registry.find(args.email)).revoked:
            print(f"{args.email.strip()} was already revoked: nothing changed.")
            return 0
        registrant = await ctx.registry.revoke(args.email, actor="cli")
        print(
            f"Revoked {registrant.email} (id {registrant.id}): their links and sessions "
            "no longer work."
        )
        return 0

    return with_context(settings, work)


def _reinstate(settings: Settings, args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        found = await ctx.registry.find(args.email)
        if not found.revoked:
            print(f"{found.email} was not revoked: nothing changed.")
            return 0
        registrant = await ctx.registry.reinstate(
            found.email, actor="cli", reason=args.reason or None
        )
        print(
            f"Reinstated {registrant.email} (id {registrant.id}): the same link, and the "
            "devices signed in with it, work again."
        )
        return 0

    return with_context(settings, work)


def _show(settings: Settings, args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        print(await ctx.registry.show(args.email, actor="cli"))
        if (await ctx.registry.find(args.email)).revoked:  # (as the console says it)
            print(
                "Note: their access is revoked: this link opens nothing until "
                "`gateway links reinstate` gives it back.",
                file=sys.stderr,
            )
        return 0

    return with_context(settings, work)


def _reissue(settings: Settings, args: argparse.Namespace) -> int:
    lang = args.lang or "en"

    async def work(ctx: Context) -> int:
        registrant = await ctx.registry.reissue(args.email, actor="cli")
        print(f"New link for {registrant.email} (id {registrant.id}); older links no longer work.")
        if args.send:
            await _send_now(ctx, registrant, lang)
        print(ctx.registry.link(registrant))
        _unsent(args)
        return 0

    return with_context(settings, work)


def _mail_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--send", action="store_true", help="mail the personal link")
    parser.add_argument(
        "--lang", choices=("en", "fi", "sv"), help="language of the mail --send sends (default en)"
    )


def _unsent(args: argparse.Namespace) -> None:
    """Once done: a language given without --send mailed nothing, and is kept nowhere
    (`mail send-links --lang` gives it when the link is mailed)."""
    if args.lang and not args.send:
        print(
            "Note: nothing was mailed (no --send); "
            f"`gateway mail send-links --lang {args.lang}` mails the link in that language.",
            file=sys.stderr,
        )


def add(group: str, sub: Subparsers[Parser]) -> None:
    if group == "links":
        command(sub, "revoke", "stop a registrant's links and sessions", _revoke).add_argument(
            "email", help="the registrant's address"
        )
        reinstate = command(
            sub, "reinstate", "lift a revocation: the same link works again", _reinstate
        )
        reinstate.add_argument("email", help="the registrant's address")
        reinstate.add_argument("--reason", type=reason, help="why, kept in the audit event")
        command(
            sub, "show", "print a registrant's current link (audited as link.shown)", _show
        ).add_argument("email", help="the registrant's address")
        reissue = command(sub, "reissue", "issue a new link; older links stop working", _reissue)
        reissue.add_argument("email", help="the registrant's address")
        _mail_options(reissue)
        return
    one = command(sub, "add", "add a registrant and print their personal link", _add)
    one.add_argument("--email", required=True, help="their address (also how they are found)")
    one.add_argument("--name", required=True, help="their name, as the mail greets them")
    one.add_argument("--organisation", default="", help="optional")
    _mail_options(one)
    many = command(
        sub, "import", "import registrants from CSV (name,email[,organisation])", _import
    )
    many.add_argument("file", type=_path, help="the CSV file (name,email[,organisation])")
    _mail_options(many)
    listing = command(sub, "list", "list registrants", _list)
    listing.add_argument(
        "--format", choices=("table", "csv"), default="table", help="output format (default table)"
    )


def _path(value: str) -> object:
    from pathlib import Path

    path = Path(value)
    if not path.is_file():  # argparse's own error: one line, exit 2
        raise argparse.ArgumentTypeError(
            f"{value}: {'a folder, not a file' if path.is_dir() else 'no such file'}"
        )
    return path
