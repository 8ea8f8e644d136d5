"""The access journal orders link changes by revision, so a replica replaying its own
journal puts back what the store lost, and never undoes a later change made elsewhere."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from gateway.audit.journal import AccessJournal
from gateway.core.records import Registrant
from gateway.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2021, 11, 1, 9, tzinfo=dt.UTC)


async def test_a_reinstatement_made_through_another_replica_is_not_undone(
    tmp_path: Path,
) -> None:
    store = SqliteStore(str(tmp_path / "gateway.db"))
    here, there = AccessJournal(tmp_path / "a.jsonl"), AccessJournal(tmp_path / "b.jsonl")
    try:
        await store.add_registrant(Registrant("r1", "r@example.org", "R", "", T0))
        here.add(await store.set_revoked("r1", revoked=True))  # replica A revokes
        there.add(await store.set_revoked("r1", revoked=False))  # replica B reinstates

        assert await here.replay(store) == 0  # A's older revision changes nothing
        found = await store.registrant("r1")
        assert found is not None and not found.revoked
        assert await there.replay(store) == 0
    finally:
        await store.close()


async def test_entries_written_before_revisions_count_their_version(tmp_path: Path) -> None:
    journal = AccessJournal(tmp_path / "journal.jsonl")
    lines = [
        {"id": "r1", "version": 2, "revoked": True},
        {"id": "r1", "version": 3, "revoked": False, "revision": 3},
        {"id": "r2", "version": 1, "revoked": True, "revision": 1},
    ]
    journal.path.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"id": "r3')
    assert journal.latest() == {"r1": (3, 3, False), "r2": (1, 1, True)}  # torn line skipped
