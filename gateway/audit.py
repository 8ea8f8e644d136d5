"""Writing the audit log: the one place events are appended.

Events name registrants by opaque id only, and client addresses by a keyed
hash (HMAC-SHA256 under a key kept in the store, outside the log, so that
purging the key later leaves the chain verifiable but the addresses
unlinkable). Sealing and the hash chain live in `gateway.chain`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from gateway.chain import Draft, Event
from gateway.clock import Clock
from gateway.store import Store
from gateway.times import iso

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
    }
)
IP_KEY = "audit.ip_key"


class AuditLog:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._ip_key: bytes | None = None

    async def record(
        self,
        type: str,
        *,
        registrant: str | None = None,
        actor: str = "system",
        ip: str | None = None,
        **detail: Any,
    ) -> Event:
        """Append one event now. Raises StoreUnavailable when it cannot be stored."""
        if type not in TYPES:
            raise ValueError(f"unknown audit event type {type!r}")
        draft = Draft(
            ts=iso(self.clock()).replace("+00:00", "Z"),
            type=type,
            registrant=registrant,
            actor=actor,
            ip=await self.hash_ip(ip) if ip else None,
            detail=detail,
        )
        return await self.store.append_audit(draft)

    async def record_once(self, key: str, type: str, **fields: Any) -> bool:
        """Record unless an event with this de-duplication `key` was recorded before."""
        if not await self.store.mark_once(key):
            return False
        await self.record(type, **fields)
        return True

    async def hash_ip(self, ip: str) -> str:
        if self._ip_key is None:
            stored = await self.store.setdefault_value(IP_KEY, secrets.token_hex(32))
            self._ip_key = bytes.fromhex(stored)
        return hmac.new(self._ip_key, ip.encode(), hashlib.sha256).hexdigest()[:16]
