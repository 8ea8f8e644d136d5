"""Writing the audit log: the one place events are appended.

Events name registrants by opaque id only, and client addresses by a keyed
hash (HMAC-SHA256 under a key kept in the store, outside the log, so that
purging the key later leaves the chain verifiable but the addresses
unlinkable). Sealing and the hash chain live in `gateway.core.chain`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import re
import secrets
from typing import Any

from gateway.audit.spool import Spool
from gateway.core.chain import Draft, Event
from gateway.core.clock import Clock
from gateway.core.errors import StoreUnavailable
from gateway.core.times import iso
from gateway.store import Store

TYPES = frozenset(
    {
        "registration.created",
        "registration.refused",
        "registration.purged",
        "link.issued",
        "link.sent",
        "mail.failed",
        "link.opened",
        "link.refused",
        "link.revoked",
        "session.created",
        "session.evicted",
        "session.sharing_suspected",
        "access.refused",
        "schedule.changed",
        "live.stopped",
        "live.resumed",
        "admin.login",
        "admin.refused",
        "captions.overdue",
        "audit.checkpoint",
        "origin.stalled",
        "origin.recovered",
        "link.shown",
        "link.reinstated",
        "names.shown",
        "ingest.started",
        "ingest.refused",
        "ingest.stopped",
        "recording.built",
        "preview.opened",
    }
)
IP_KEY = "audit.ip_key"


IP_KEY_REFRESH = dt.timedelta(minutes=1)  # a purge destroys the key: replicas notice


class AuditLog:
    """Appends events; while the store is down they wait in `spool`, in order."""

    def __init__(self, store: Store, clock: Clock, spool: Spool | None = None) -> None:
        self.store = store
        self.clock = clock
        self.spool = spool
        self._ip_key: tuple[bytes, dt.datetime] | None = None
        self._lock = asyncio.Lock()

    async def record(
        self,
        type: str,
        *,
        registrant: str | None = None,
        actor: str = "system",
        ip: str | None = None,
        **detail: Any,
    ) -> Event | None:
        """Append one event now, or spool it when the store is down (then None).

        Raises StoreUnavailable only when the event cannot be kept at all: a
        grant that depends on it must then not be made.
        """
        if type not in TYPES:
            raise ValueError(f"unknown audit event type {type!r}")
        try:
            ip_hash = await self.hash_ip(ip) if ip else None
        except StoreUnavailable:
            ip_hash, detail = None, {**detail, "ip": "unavailable"}  # never the raw address
        draft = Draft(
            ts=iso(self.clock()).replace("+00:00", "Z"),
            type=type,
            registrant=registrant,
            actor=actor,
            ip=ip_hash,
            detail=detail,
        )
        async with self._lock:
            try:
                await self._flush()
                return await self.store.append_audit(draft)
            except StoreUnavailable:
                if self.spool is None:
                    raise
                self.spool.add(draft)
                return None

    async def flush(self) -> int:
        """Store spooled events in order; how many. StoreUnavailable if still down."""
        async with self._lock:
            return await self._flush()

    async def _flush(self) -> int:
        if self.spool is None or not self.spool.pending():
            return 0
        count = 0
        for draft in self.spool.drain():
            await self.store.append_audit(draft)
            count += 1
        return count

    async def flush_forever(self, interval: float = 5.0) -> None:
        """The background task that empties the spool once the store is back."""
        while True:
            with contextlib.suppress(StoreUnavailable):
                await self.flush()
            await asyncio.sleep(interval)

    async def record_once(self, key: str, type: str, **fields: Any) -> bool:
        """Record unless an event with this de-duplication `key` was recorded before."""
        if not await self.store.mark_once(key):
            return False
        await self.record(type, **fields)
        return True

    async def hash_ip(self, ip: str) -> str:
        """A keyed hash of a client address (or of anything else the log must not hold, as
        the identity of someone refused the console); the key lives in the store, not the
        log, and purge destroys it."""
        now = self.clock()
        if self._ip_key is None or now - self._ip_key[1] > IP_KEY_REFRESH:
            stored = await self.store.setdefault_value(IP_KEY, secrets.token_hex(32))
            self._ip_key = (bytes.fromhex(stored), now)
        return hmac.new(self._ip_key[0], ip.encode(), hashlib.sha256).hexdigest()[:16]


REASON_MAX = 200  # characters of a free-text reason an event keeps
_ADDRESS = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
REASON_NAMES_ADDRESS = (
    "a reason is kept in the audit log for good (purge does not erase it): "
    "name no email address in it"
)


def reason_text(raw: str | None) -> str | None:
    """A free-text reason as an event keeps it: on one line, at most REASON_MAX characters,
    None if empty. ValueError (REASON_NAMES_ADDRESS) if it names an email address: the
    chain is never rewritten, so what a reason says outlives any purge."""
    text = " ".join((raw or "").split())[:REASON_MAX]
    if _ADDRESS.search(text):
        raise ValueError(REASON_NAMES_ADDRESS)
    return text or None
