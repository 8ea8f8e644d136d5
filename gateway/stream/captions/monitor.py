"""The captions monitor: the start-up line, the periodic check, the overdue audit event."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

from gateway.audit.log import AuditLog
from gateway.core.clock import Clock
from gateway.core.errors import (
    StoreUnavailable,
)
from gateway.core.times import iso
from gateway.stream.captions.deadline import CaptionsStatus, captions_status
from gateway.stream.captions.find import Found, inspect
from gateway.stream.captions.vtt import MalformedCaptions
from gateway.stream.origins import Origin

log = logging.getLogger(__name__)


class CaptionsMonitor:
    """The app's view of the recording's captions: checked at start, then every few minutes.

    At start a malformed caption file stops the gateway (MalformedCaptions);
    found later, it only makes captions count as missing (and `CheckedOrigin`
    refuses to serve it). Past the deadline without captions: a warning in the
    log at every start and a `captions.overdue` audit event, once.
    """

    def __init__(
        self,
        origin: Origin,
        configured: str | None,
        available_from: dt.datetime,
        days: int,
        tz: ZoneInfo,
        audit: AuditLog,
        clock: Clock,
        opens: Callable[[dt.datetime], dt.datetime | None] | None = None,
    ) -> None:
        self.origin, self.configured = origin, configured
        self.available_from, self.days, self.tz = available_from, days, tz
        # When the recording opens in the schedule in force (ops move the last part, and
        # the recording with it): None while not known, then `available_from` (the config's)
        self.opens = opens
        self.audit, self.clock = audit, clock
        self.found = Found(False, note="not checked yet", configured=configured)
        self._event_recorded = False

    def status(self, now: dt.datetime | None = None) -> CaptionsStatus:
        moment = self.clock() if now is None else now
        opens = (self.opens(moment) if self.opens else None) or self.available_from
        return captions_status(moment, opens, self.days, self.found.present)

    def line(self, now: dt.datetime | None = None) -> str:
        return self.status(now).line(self.tz, self.found)

    async def check(self, *, at_start: bool = False) -> Found:
        try:
            found = await inspect(self.origin, self.configured)
        except MalformedCaptions as exc:
            if at_start:
                raise
            found = Found(False, note=str(exc), configured=self.configured)
        self.found = found
        return found

    async def start(self) -> None:
        """Check, say so in the log (a warning when overdue), record the overdue event once."""
        await self.check(at_start=True)
        now = self.clock()
        (log.warning if self.status(now).overdue else log.info)("%s", self.line(now))
        await self.record_overdue(now)

    async def record_overdue(self, now: dt.datetime | None = None) -> None:
        """The `captions.overdue` audit event, once per deadline (de-duplicated in the store)."""
        status = self.status(now)
        if not status.overdue or self._event_recorded:
            return
        try:
            await self.audit.record_once(
                f"captions.overdue:{iso(status.due)}",
                "captions.overdue",
                due=iso(status.due, self.tz),
                days=status.days,
                note=self.found.note,
            )
        except StoreUnavailable:
            return  # tried again at the next check
        self._event_recorded = True

    async def watch(self, interval: float = 300.0) -> None:
        """Re-check every `interval` seconds: captions uploaded later count, a deadline passes."""
        while True:
            await asyncio.sleep(interval)
            before = self.found
            try:
                await self.check()
            except Exception:  # a background check must never end the task
                log.exception("checking the recording's captions failed")
                continue
            if self.found != before:
                now = self.clock()
                (log.warning if self.status(now).overdue else log.info)("%s", self.line(now))
            await self.record_overdue()
