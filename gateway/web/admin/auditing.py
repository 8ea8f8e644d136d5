"""For auditors: browsing and exporting the audit log, verifying it, and attendance.

Read-only: nothing here changes state, so every route is a GET, but one: an
auditor asking to see names in attendance (a POST, recorded as `names.shown`). The log is
listed newest first, 100 events a page, with `before=`/`after=` seq cursors;
filters are the export's (`gateway.audit.export.Filter`), and a download
applies the same ones. Ops see registrants' names beside their ids (in the log
and in attendance); auditors see ids only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.audit.attendance import PartStats, Presence, concurrent, day_span, report
from gateway.audit.chart import viewers_chart
from gateway.audit.export import FORMATS, Filter, chunks, csv_text
from gateway.audit.log import TYPES
from gateway.audit.verify import verify
from gateway.core.chain import Event
from gateway.core.schedule import Schedule
from gateway.core.times import in_zone, parse_time
from gateway.store import Store
from gateway.web.admin.auth import Staff, posted, staff, staff_reason
from gateway.web.admin.people import page
from gateway.web.services import services

PER_PAGE = 100
WINDOW = 500  # events read per store call while paging
MAX_TEXT = 200
FIELDS = ("type", "registrant", "actor", "since", "until")
# Each event type in words, as the log page says it (the type itself is shown too).
WORDS = {
    "registration.created": "Registered",
    "registration.refused": "Registration refused",
    "registration.purged": "Personal data purged",
    "link.issued": "Link issued",
    "link.sent": "Link mailed",
    "mail.failed": "Mail failed",
    "link.opened": "Link opened",
    "link.refused": "Link refused",
    "link.revoked": "Access revoked",
    "link.reinstated": "Access reinstated",
    "link.shown": "Link shown to staff",
    "names.shown": "Names shown to an auditor",
    "session.created": "Signed in on a device",
    "session.evicted": "Device signed out (too many devices)",
    "session.sharing_suspected": "Link sharing suspected",
    "access.refused": "Stream refused",
    "schedule.changed": "Schedule changed",
    "live.stopped": "Live serving stopped",
    "live.resumed": "Live serving resumed",
    "admin.login": "Staff signed in",
    "admin.refused": "Staff action refused",
    "captions.overdue": "Captions overdue",
    "audit.checkpoint": "Audit log checkpoint signed",
    "origin.stalled": "Live origin in trouble",
    "origin.recovered": "Live origin recovered",
    "ingest.started": "Encoder connected",
    "ingest.refused": "Encoder refused",
    "ingest.stopped": "Encoder disconnected",
    "recording.built": "Recording written",
    "preview.opened": "Live preview opened by staff",
}
ACTORS = {"system": "the gateway (system)", "cli": "command line (cli)"}
CSV = "text/csv; charset=utf-8"


class BadInput(Exception):
    """A filter or cursor that cannot be used: `field` and why (answered 400)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class Shown:
    """One event as a table row."""

    seq: int
    time: str
    type: str
    words: str
    registrant: str
    name: str  # the registrant's name, for ops only ("" for auditors)
    actor: str
    detail: str
    hash: str


def raw_filters(request: Request) -> dict[str, str]:
    """The filter fields as typed (to refill the form and carry into links)."""
    return {f: request.query_params.get(f, "").strip()[:MAX_TEXT] for f in FIELDS}


def read_filter(request: Request, raw: dict[str, str]) -> Filter:
    """The filters `raw` asks for; BadInput names the first field that is wrong."""
    tz = services(request).settings.schedule.timezone
    if raw["type"] and raw["type"] not in TYPES:
        raise BadInput("type", f"{raw['type']!r} is not a known event type")
    times: dict[str, dt.datetime | None] = {}
    for field in ("since", "until"):
        try:
            times[field] = parse_time(raw[field], tz) if raw[field] else None
        except ValueError as exc:
            raise BadInput(field, str(exc)) from None
    return Filter(
        times["since"],
        times["until"],
        raw["type"] or None,
        raw["registrant"] or None,
        raw["actor"] or None,
    )


def cursor(request: Request, name: str) -> int | None:
    value = request.query_params.get(name, "")
    if not value:
        return None
    if not value.isdigit() or len(value) > 12:
        raise BadInput(name, "must be an event number (seq)")
    return int(value)


async def last_seq(store: Store) -> int:
    """The highest seq in the log (0 when empty), in O(log n) one-event reads.

    The store lists events only forwards from a seq, so this gallops up to a seq
    with nothing after it, then bisects: "is there an event after x" is true
    exactly for x below the last seq.
    """

    async def after(seq: int) -> bool:
        return bool(await store.audit_events(after_seq=seq, limit=1))

    if not await after(0):
        return 0
    low, high = 0, 1
    while await after(high):
        low, high = high, high * 2
    while high - low > 1:  # an event after `low`, none after `high`
        middle = (low + high) // 2
        low, high = (middle, high) if await after(middle) else (low, middle)
    return high


async def newest_first(
    store: Store, keep: Filter, *, before: int | None, after: int | None
) -> tuple[list[Event], int | None, int | None]:
    """Up to PER_PAGE matching events, newest first: the ones just above `after`, or
    below `before`, or the newest. Returns (events, older cursor, newer cursor)."""
    found: list[Event] = []
    if after is not None:  # reading forwards from the cursor
        start = after
        while len(found) <= PER_PAGE:
            batch = await store.audit_events(after_seq=start, limit=WINDOW)
            if not batch:
                break
            found += [e for e in batch if keep.keep(e)]
            start = batch[-1].seq
        picked = found[:PER_PAGE][::-1]
        newer = picked[0].seq if len(found) > PER_PAGE else None
        return picked, picked[-1].seq if picked else after + 1, newer
    top = before if before is not None else await last_seq(store) + 1
    while top > 1 and len(found) <= PER_PAGE:  # windows of seq below `top`, going down
        low = max(0, top - 1 - WINDOW)
        batch = await store.audit_events(after_seq=low, limit=top - 1 - low)
        found += [e for e in reversed(batch) if e.seq < top and keep.keep(e)]
        top = low + 1
    picked = found[:PER_PAGE]
    older = picked[-1].seq if len(found) > PER_PAGE else None
    if before is None:
        return picked, older, None
    return picked, older, picked[0].seq if picked else before - 1


def shown(event: Event, request: Request, names: dict[str, str]) -> Shown:
    tz = services(request).settings.schedule.timezone
    try:
        time = in_zone(dt.datetime.fromisoformat(event.ts), tz, seconds=True)
    except ValueError:
        time = event.ts
    detail = " · ".join(
        f"{key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
        for key, value in sorted(event.detail.items())
    )
    return Shown(
        event.seq,
        time,
        event.type,
        WORDS.get(event.type, event.type),
        event.registrant or "",
        names.get(event.registrant or "", ""),
        ACTORS.get(event.actor, event.actor),
        detail,
        event.hash[:12],
    )


async def names_for(who: Staff, store: Store, events: list[Event]) -> dict[str, str]:
    """The names of the registrants on a page, for ops (auditors see ids only): one read
    per registrant shown, never the whole list."""
    if not who.can("ops"):
        return {}
    names: dict[str, str] = {}
    for rid in {e.registrant for e in events if e.registrant}:
        found = await store.registrant(rid)
        names[rid] = (found.name if found else "") or "(purged)"
    return names


async def audit_page(request: Request) -> Response:
    who = await staff(request, "auditor")
    store = services(request).store
    raw = raw_filters(request)
    context: dict[str, Any] = {"types": [(t, WORDS.get(t, t)) for t in sorted(TYPES)], "form": raw}
    try:
        keep = read_filter(request, raw)
        before, after = cursor(request, "before"), cursor(request, "after")
    except BadInput as bad:
        return page(request, who, "admin/audit.html", "audit", 400, error=bad, events=[], **context)
    events, older, newer = await newest_first(store, keep, before=before, after=after)
    names = await names_for(who, store, events)
    query = {k: v for k, v in raw.items() if v}

    def link(**more: int | str) -> str:
        return "?" + urlencode({**query, **more})

    return page(
        request,
        who,
        "admin/audit.html",
        "audit",
        error=None,
        events=[shown(e, request, names) for e in events],
        older=link(before=older) if older else None,
        newer=link(after=newer) if newer is not None else None,
        newest=link() if before is not None or after is not None else None,
        downloads=[(fmt, "/admin/audit/export" + link(format=fmt)) for fmt in FORMATS],
        **context,
    )


def download(body: str | AsyncIterator[str], name: str, media: str) -> Response:
    """A file to save, never to show inline: text, or text streamed a page at a time."""
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    if isinstance(body, str):
        return Response(body, media_type=media, headers=headers)
    return StreamingResponse(body, media_type=media, headers=headers)


async def audit_export(request: Request) -> Response:
    who = await staff(request, "auditor")
    svc = services(request)
    fmt = request.query_params.get("format", "csv")
    raw = raw_filters(request)
    try:
        if fmt not in FORMATS:
            raise BadInput("format", "must be csv or jsonl")
        keep = read_filter(request, raw)
    except BadInput as bad:
        context: dict[str, Any] = {
            "types": [(t, WORDS.get(t, t)) for t in sorted(TYPES)],
            "form": raw,
        }
        return page(request, who, "admin/audit.html", "audit", 400, error=bad, events=[], **context)
    stamp = f"{svc.clock():%Y%m%dT%H%M%SZ}"
    media = CSV if fmt == "csv" else "application/x-ndjson"
    return download(chunks(svc.store, fmt, keep), f"audit-{stamp}.{fmt}", media)


async def verify_page(request: Request) -> Response:
    who = await staff(request, "auditor")
    svc = services(request)
    audit = svc.settings.audit
    result = await verify(
        svc.store, checkpoint_dir=audit.checkpoint_dir, verify_key=audit.verify_key
    )
    checked = in_zone(svc.clock(), svc.settings.schedule.timezone, seconds=True)
    return page(request, who, "admin/audit_verify.html", "audit", report=result, checked=checked)


@dataclass(frozen=True)
class Seen:
    """The attendance report as the console shows and downloads it."""

    who: Staff
    schedule: Schedule
    watched: dict[str, list[dt.datetime]]
    totals: list[PartStats]
    presence: list[Presence]
    registered: int
    names: dict[str, str]  # by registrant id: for ops, or an auditor who asked; else empty


async def _attendance(request: Request, *, names_asked: bool = False) -> Seen:
    """Who asks, and the report; names for ops, or for an auditor who asked
    (`attendance_names`)."""
    who = await staff(request, "auditor")
    svc = services(request)
    await svc.attendance.flush()  # this replica's last seconds too
    schedule = (await svc.gatekeeper.controls.current()).schedule
    watched = await svc.store.attendance()
    totals, presence = report(schedule, watched)
    everyone = await svc.store.registrants()
    named = who.can("ops") or names_asked
    names = {r.id: r.name or "(purged)" for r in everyone} if named else {}
    return Seen(who, schedule, watched, totals, presence, len(everyone), names)


def _stamp(request: Request) -> str:
    return f"{services(request).clock():%Y%m%dT%H%M%SZ}"


async def attendance(request: Request, *, names_asked: bool = False) -> Response:
    seen = await _attendance(request, names_asked=names_asked)
    if request.query_params.get("format") == "csv":  # both tables in one file (as before)
        body = csv_text([*_part_rows(seen), [], *_presence_rows(seen)])
        return download(body, f"attendance-{_stamp(request)}.csv", CSV)
    tz = seen.schedule.timezone
    rows = [(p, in_zone(p.first, tz), in_zone(p.last, tz)) for p in seen.presence]
    per_minute = concurrent(seen.watched, *day_span(seen.schedule))
    return page(
        request,
        seen.who,
        "admin/attendance.html",
        "attendance",
        totals=seen.totals,
        rows=rows,
        registered=seen.registered,
        names=seen.names,
        chart=viewers_chart(per_minute, tz, until_now=False),
        names_asked=names_asked,
    )


async def attendance_names(request: Request) -> Response:
    """An auditor asks to see names beside the ids, giving a reason: shown once, on this
    answer, and recorded as `names.shown` (ops see names anyway)."""
    who = await staff(request, "auditor")
    svc = services(request)
    fields = await posted(request, svc, max_fields=10)
    reason = staff_reason(fields)
    if not reason:
        raise HTTPException(400, "Say why you need the names: the reason is kept in the audit log.")
    await svc.audit.record("names.shown", actor=who.identity, page="attendance", reason=reason)
    return await attendance(request, names_asked=True)


def _part_rows(seen: Seen) -> list[list[object]]:
    head: list[object] = [
        "part", "registered", "unique_viewers", "no_shows", "peak_concurrent",
        "viewing_hours", "mean_minutes", "median_minutes",
    ]  # fmt: skip
    return [
        head,
        *(
            [t.part, seen.registered, t.viewers, seen.registered - t.viewers, t.peak,
             t.hours, t.mean_minutes, t.median_minutes]
            for t in seen.totals
        ),
    ]  # fmt: skip


def _presence_rows(seen: Seen) -> list[list[object]]:
    names = seen.names
    head = ["registrant", *(["name"] if names else []), "part", "first_seen", "last_seen"]
    return [
        [*head, "minutes"],
        *(
            [p.registrant, *([names.get(p.registrant, "")] if names else []), p.part,
             p.first.isoformat(), p.last.isoformat(), p.minutes]
            for p in seen.presence
        ),
    ]  # fmt: skip


async def attendance_parts(request: Request) -> Response:
    seen = await _attendance(request)
    return download(csv_text(_part_rows(seen)), f"attendance-parts-{_stamp(request)}.csv", CSV)


async def attendance_registrants(request: Request) -> Response:
    """Per registrant and part; with names for ops, ids only for auditors."""
    seen = await _attendance(request)
    name = f"attendance-registrants-{_stamp(request)}.csv"
    return download(csv_text(_presence_rows(seen)), name, CSV)


routes = [
    Route("/admin/audit", audit_page, methods=["GET"]),
    Route("/admin/audit/export", audit_export, methods=["GET"]),
    Route("/admin/audit/verify", verify_page, methods=["GET"]),
    Route("/admin/attendance", attendance, methods=["GET"]),
    Route("/admin/attendance/names", attendance_names, methods=["POST"]),
    Route("/admin/attendance/parts.csv", attendance_parts, methods=["GET"]),
    Route("/admin/attendance/registrants.csv", attendance_registrants, methods=["GET"]),
]
