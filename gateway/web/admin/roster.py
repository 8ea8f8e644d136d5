"""The registrant list from the console (ops only): add one, import a CSV, export it,
send the links not sent yet and watch them go.

Adding and importing go through `Registry` and the CLI's importer, so the rules
are the CLI's: every bad row of a file is listed and nothing is imported while
any is bad. Mail is only queued here; the server's mail worker sends it, and
`/admin/mail` shows how far it got. Nothing here reads the audit log.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.audit.export import formula_safe
from gateway.core.errors import UsageError
from gateway.core.times import in_zone
from gateway.i18n.translator import LANGUAGES
from gateway.mail.importer import problems, rows
from gateway.mail.queue import current_link_mail, mail_progress, queue_unsent
from gateway.web import csrf
from gateway.web.admin.auth import FormExpired, Staff, posted, staff
from gateway.web.admin.people import page
from gateway.web.services import services

MAX_UPLOAD = 1024 * 1024 - 16 * 1024  # under the server's body limit, with the form around it


def _new(request: Request, who: Staff, status_code: int = 200, **context: Any) -> Response:
    """The page with the two forms (one person, a CSV file) and what went wrong, if anything."""
    defaults: dict[str, Any] = {"errors": [], "values": {}, "import_errors": [], "langs": LANGUAGES}
    return page(
        request, who, "admin/registrants_new.html", "registrants", status_code,
        **{**defaults, **context},
    )  # fmt: skip


async def new(request: Request) -> Response:
    return _new(request, await staff(request, "ops"))


async def add(request: Request) -> Response:
    """Add one registrant (the CLI's rules); optionally queue their link at once."""
    who = await staff(request, "ops")
    svc = services(request)
    fields = await posted(request, svc, max_fields=20)
    values = {k: fields.get(k, "") for k in ("name", "email", "organisation")}
    try:
        registrant, created = await svc.registry.add(
            email=values["email"],
            name=values["name"],
            organisation=values["organisation"],
            now=svc.clock(),
            actor=who.identity,
        )
    except UsageError as exc:
        return _new(request, who, 400, errors=[str(exc)], values=values)
    if not created:
        return _new(
            request, who, 400,
            errors=[f"{registrant.email} is already registered: find them in the list."],
            values=values,
        )  # fmt: skip
    done = "added"
    if fields.get("send") == "yes":
        lang = fields.get("lang", "en")
        lang = lang if lang in LANGUAGES else "en"
        await svc.mailer.enqueue(registrant, lang)
        done = "added_sent"
    return RedirectResponse(f"/admin/registrants?done={done}&q={registrant.id}", status_code=303)


async def upload(request: Request) -> Response:
    """Import a CSV file: checked whole first (every bad row listed, nothing imported on any
    error), then each row added as by `gateway registrants import`."""
    who = await staff(request, "ops")
    svc = services(request)
    if int(request.headers.get("content-length") or 0) > MAX_UPLOAD + 16 * 1024:
        return _new(request, who, 413, import_errors=[_too_big()])
    async with request.form(max_files=1, max_fields=10, max_part_size=4096) as form:
        try:
            csrf.verify(request, str(form.get(csrf.FIELD, "")), svc.csrf_signer,
                        svc.settings.event.public_url)  # fmt: skip
        except csrf.CsrfFailed:
            raise FormExpired() from None
        file = form.get("file")
        send, lang = form.get("send") == "yes", str(form.get("lang", "en"))
        if not isinstance(file, UploadFile) or not file.filename:
            return _new(request, who, 400, import_errors=["Choose a CSV file to import."])
        data = await file.read(MAX_UPLOAD + 1)
        label = Path(file.filename).name[:100] or "the file"
    if len(data) > MAX_UPLOAD:
        return _new(request, who, 413, import_errors=[_too_big()])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload.csv"
        path.write_bytes(data)
        try:
            bad = problems(path, label)
        except UsageError as exc:
            return _new(request, who, 400, import_errors=[str(exc)])
        if bad:
            said = [f"{label}: {line}" for line in bad]
            said.append(f"Nothing imported: {len(bad)} bad row{'s' if len(bad) != 1 else ''}.")
            return _new(request, who, 400, import_errors=said)
        added = existing = 0
        for row in rows(path, label):
            registrant, created = await svc.registry.add(
                email=row.email,
                name=row.name,
                organisation=row.organisation,
                now=svc.clock(),
                actor=who.identity,
            )
            added += created
            existing += not created
            if created and send:
                await svc.mailer.enqueue(registrant, lang if lang in LANGUAGES else "en")
    return _new(
        request,
        who,
        imported=f"Imported {added} registrant{'s' if added != 1 else ''} from {label}; "
        f"{existing} already registered, left as they were"
        + ("; their links are queued for mailing." if send and added else "."),
        sent_too=send and added > 0,
    )


def _too_big() -> str:
    return (
        f"The file is over {MAX_UPLOAD // 1024} KB. Split it, or import it on the server "
        "with `gateway registrants import`."
    )


async def export(request: Request) -> Response:
    """Every registrant as CSV (no links: those are shown one at a time, audited)."""
    await staff(request, "ops")
    svc = services(request)
    tz = svc.settings.schedule.timezone
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        ["id", "name", "email", "organisation", "registered", "status", "link_version", "mail"]
    )
    for registrant, latest in (await current_link_mail(svc.store)).items():
        writer.writerow(
            [
                registrant.id,
                formula_safe(registrant.name),
                formula_safe(registrant.email),
                formula_safe(registrant.organisation),
                in_zone(registrant.created_at, tz),
                "revoked" if registrant.revoked else "active",
                registrant.link_version,
                "not queued" if latest is None else latest.state,
            ]
        )
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM: spreadsheets then read the names as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="registrants.csv"',
            "Cache-Control": "no-store",
        },
    )


async def send_unsent(request: Request) -> Response:
    """Queue the link of everyone not sent yet, once confirmed; then on to the progress."""
    who = await staff(request, "ops")
    svc = services(request)
    fields = await posted(request, svc, max_fields=10)
    if fields.get("confirmed") != "yes":
        progress = await mail_progress(svc.store)
        return page(request, who, "admin/send_confirm.html", "registrants", progress=progress)
    await queue_unsent(svc.mailer)
    return RedirectResponse("/admin/mail", status_code=303)


async def mail(request: Request) -> Response:
    """How far the mail of the current links got; `?format=json` for the page's refresh."""
    who = await staff(request, "ops")
    svc = services(request)
    progress = await mail_progress(svc.store)
    if request.query_params.get("format") == "json":
        body = {
            "registrants": progress.registrants,
            "sent": progress.sent,
            "queued": progress.queued,
            "failed": progress.failed,
            "not_queued": progress.not_queued,
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})
    return page(request, who, "admin/mail.html", "registrants", progress=progress)


routes = [
    Route("/admin/registrants/new", new, methods=["GET"]),
    Route("/admin/registrants/add", add, methods=["POST"]),
    Route("/admin/registrants/import", upload, methods=["POST"]),
    Route("/admin/registrants/export.csv", export, methods=["GET"]),
    Route("/admin/registrants/send-unsent", send_unsent, methods=["POST"]),
    Route("/admin/mail", mail, methods=["GET"]),
]
