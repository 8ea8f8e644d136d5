"""Reading the audit log out: JSON lines or CSV with formula-safe cells."""

from __future__ import annotations

import csv
import datetime as dt
import json
from typing import TextIO

from gateway.chain import Event
from gateway.store import Store

COLUMNS = ("seq", "ts", "type", "registrant", "actor", "ip", "detail", "prev", "hash")
PAGE = 1000


def formula_safe(value: object) -> str:
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False)
        if isinstance(value, dict)
        else ""
        if value is None
        else str(value)
    )
    # A cell starting with = + - @ (or a tab/CR) is a formula to spreadsheets.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _keep(
    event: Event,
    since: dt.datetime | None,
    until: dt.datetime | None,
    type: str | None,
    registrant: str | None,
) -> bool:
    if type and event.type != type:
        return False
    if registrant and event.registrant != registrant:
        return False
    if since is None and until is None:
        return True
    at = dt.datetime.fromisoformat(event.ts)
    return (since is None or at >= since) and (until is None or at < until)


async def export(
    store: Store,
    out: TextIO,
    *,
    fmt: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    type: str | None = None,
    registrant: str | None = None,
) -> int:
    """Write matching events to `out` in seq order, a page at a time. Returns 0.

    Filters combine: `since` inclusive, `until` exclusive (half-open, like every
    window), `type` and `registrant` (an opaque id) exact."""
    writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
    if writer:
        writer.writerow(COLUMNS)
    after = 0
    while batch := await store.audit_events(after_seq=after, limit=PAGE):
        for event in batch:
            if not _keep(event, since, until, type, registrant):
                continue
            if writer:
                writer.writerow([formula_safe(getattr(event, c)) for c in COLUMNS])
            else:
                out.write(event.to_json() + "\n")
        after = batch[-1].seq
    return 0
