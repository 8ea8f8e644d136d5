"""The access journal: revocations, reinstatements and reissues, also kept on local disk
and replayed.

Redis with `appendfsync everysec` can lose the last second of writes in a
crash; a revocation must not be one of them. So every link change is also
appended (fsync'd) to a local journal, and the gateway replays it at start and
every few seconds: a registrant whose stored revision (`Registrant.revision`,
counting every link change) is behind the journal's is put back to the
journal's revision, link version and revocation state. The replay only ever
moves revisions forward, so it is idempotent and harmless when nothing was
lost, and a change made later through another replica is never undone. (On
several machines, put the journal on a volume the replicas share, or accept
that each replays the changes made through it.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path

from gateway.core.errors import StoreUnavailable
from gateway.core.records import Registrant
from gateway.store import RegistrantStore

log = logging.getLogger(__name__)


class AccessJournal:
    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, registrant: Registrant) -> None:
        """Record the registrant's link version and revocation, durably."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "id": registrant.id,
            "version": registrant.link_version,
            "revoked": registrant.revoked,
            "revision": registrant.revision,
        }
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")
            file.flush()
            os.fsync(file.fileno())

    def latest(self) -> dict[str, tuple[int, int, bool]]:
        """The newest (revision, version, revoked) per registrant id. An entry written
        before revisions counts its version (each change then bumped it)."""
        newest: dict[str, tuple[int, int, bool]] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return newest
        for line in lines:
            try:
                entry = json.loads(line)
                version, revoked = int(entry["version"]), bool(entry["revoked"])
                revision = int(entry.get("revision", version))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a torn last line after a crash
            if revision >= newest.get(entry["id"], (0, 0, False))[0]:
                newest[entry["id"]] = (revision, version, revoked)
        return newest

    async def replay(self, store: RegistrantStore) -> int:
        """Put back what the store lost; how many registrants were restored."""
        restored = 0
        for registrant_id, (revision, version, revoked) in self.latest().items():
            changed = await store.restore_link(
                registrant_id, revision=revision, version=version, revoked=revoked
            )
            if changed:
                restored += 1
        if restored:
            log.warning(
                "access journal: restored %d link change(s) the store had lost",
                restored,
            )
        return restored

    async def replay_forever(self, store: RegistrantStore, interval: float = 5.0) -> None:
        while True:
            with contextlib.suppress(StoreUnavailable):
                await self.replay(store)
            await asyncio.sleep(interval)
