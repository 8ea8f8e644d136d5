"""Reading the audit log out: JSON lines or CSV with formula-safe cells.

`Filter` decides which events an export or a listing keeps; `chunks` yields an
export a page at a time, for a file (`export`) or an HTTP download alike.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import TextIO

from gateway.core.chain import Event
from gateway.store import AuditStore

COLUMNS = ("seq", "ts", "type", "registrant", "actor", "ip", "detail", "prev", "hash")
PAGE = 1000
FORMATS = ("csv", "jsonl")


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


@dataclass(frozen=True)
class Filter:
    """Which events to keep. Filters combine: `since` inclusive, `until` exclusive
    (half-open, like every window), `type`, `registrant` (an opaque id) and `actor`
    (`system`, `cli` or a staff identity) exact."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    type: str | None = None
    registrant: str | None = None
    actor: str | None = None

    def keep(self, event: Event) -> bool:
        if self.type and event.type != self.type:
            return False
        if self.registrant and event.registrant != self.registrant:
            return False
        if self.actor and event.actor != self.actor:
            return False
        if self.since is None and self.until is None:
            return True
        at = dt.datetime.fromisoformat(event.ts)
        return (self.since is None or at >= self.since) and (self.until is None or at < self.until)


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """Rows as CSV text, every cell formula-safe."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([formula_safe(v) for v in r] for r in rows)
    return out.getvalue()


def lines(events: Iterable[Event], fmt: str) -> str:
    """Events as CSV rows (no header) or JSON lines."""
    if fmt == "csv":
        return csv_text([getattr(e, c) for c in COLUMNS] for e in events)
    return "".join(e.to_json() + "\n" for e in events)


async def chunks(store: AuditStore, fmt: str, keep: Filter) -> AsyncIterator[str]:
    """The export in `fmt` ("csv" with a header row, or "jsonl"), one page of events
    at a time in seq order: memory stays bounded however long the log is."""
    if fmt == "csv":
        yield csv_text([COLUMNS])
    after = 0
    while batch := await store.audit_events(after_seq=after, limit=PAGE):
        text = lines((e for e in batch if keep.keep(e)), fmt)
        if text:
            yield text
        after = batch[-1].seq


async def export(
    store: AuditStore,
    out: TextIO,
    *,
    fmt: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    type: str | None = None,
    registrant: str | None = None,
    actor: str | None = None,
) -> int:
    """Write matching events (see `Filter`) to `out` in seq order. Returns 0."""
    async for text in chunks(store, fmt, Filter(since, until, type, registrant, actor)):
        out.write(text)
    return 0
