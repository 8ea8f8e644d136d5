"""Appending audit events: keyed address hashes, de-duplication, and the spool during outages."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from gateway.audit.log import AuditLog
from gateway.audit.spool import Spool
from gateway.core.chain import Draft, first_break
from gateway.core.clock import FrozenClock
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SqliteStore
from tests.conftest import OwnRedis

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(dt.datetime(2021, 11, 18, 10, tzinfo=dt.UTC))


async def test_addresses_are_keyed_hashes_never_the_address(
    tmp_path: Path, clock: FrozenClock
) -> None:
    store = SqliteStore(str(tmp_path / "a.db"))
    try:
        log = AuditLog(store, clock)
        event = await log.record("link.opened", registrant="r1", ip="192.0.2.7")
        assert event is not None and event.ip and "192.0.2.7" not in event.to_json()
        again = await log.record("link.opened", registrant="r1", ip="192.0.2.7")
        assert again is not None and again.ip == event.ip
        other = AuditLog(SqliteStore(str(tmp_path / "b.db")), clock)
        assert await other.hash_ip("192.0.2.7") != event.ip  # another key, another hash
        await other.store.close()
        with pytest.raises(ValueError):
            await log.record("link.clicked")
    finally:
        await store.close()


async def test_events_during_an_outage_are_spooled_and_stored_in_order_after(
    tmp_path: Path, clock: FrozenClock, own_redis: OwnRedis
) -> None:
    store = RedisStore(own_redis.url, timeout=0.3)
    log = AuditLog(store, clock, Spool(tmp_path / "spool.jsonl"))
    try:
        for i in range(5):
            await log.record("access.refused", registrant=f"before{i}", reason="outside_window")
        await log.hash_ip("198.51.100.1")
        own_redis.stop()
        for i in range(7):
            clock.advance(seconds=1)
            stored = await log.record(
                "access.refused",
                registrant=f"during{i}",
                ip="198.51.100.1",
                reason="outside_window",
            )
            assert stored is None
        assert (tmp_path / "spool.jsonl").read_text().count("\n") == 7
        own_redis.start()  # no persistence: the first five are gone with the old server
        after = await log.record("link.opened", registrant="after")
        assert after is not None and after.seq == 8
        events = await store.audit_events()
        assert [e.registrant for e in events] == [f"during{i}" for i in range(7)] + ["after"]
        assert first_break(events) is None
        assert all(e.ip for e in events[:7])  # the key was known: addresses still hashed
        assert not Spool(tmp_path / "spool.jsonl").pending()
    finally:
        await store.close()


async def test_the_spool_is_flushed_by_itself_once_the_store_is_back(
    tmp_path: Path, clock: FrozenClock, own_redis: OwnRedis
) -> None:
    store = RedisStore(own_redis.url, timeout=0.3)
    log = AuditLog(store, clock, Spool(tmp_path / "spool.jsonl"))
    try:
        own_redis.stop()
        await log.record("mail.failed", registrant="r", code=None)
        own_redis.start()
        flusher = asyncio.create_task(log.flush_forever(interval=0.05))
        for _ in range(100):
            if await store.audit_events():
                break
            await asyncio.sleep(0.05)
        flusher.cancel()
        assert [e.type for e in await store.audit_events()] == ["mail.failed"]
    finally:
        await store.close()


async def test_without_a_spool_an_outage_is_raised(clock: FrozenClock, own_redis: OwnRedis) -> None:
    from gateway.core.errors import StoreUnavailable

    store = RedisStore(own_redis.url, timeout=0.3)
    try:
        own_redis.stop()
        with pytest.raises(StoreUnavailable):
            await AuditLog(store, clock).record("link.opened")
    finally:
        await store.close()


def _draft(n: int) -> Draft:
    return Draft(f"2021-11-18T10:00:{n:02d}Z", "link.opened", f"r{n}", "system", None, {})


def test_a_flush_cut_short_goes_on_where_it_stopped_without_rewriting_the_spool(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    for n in range(6):
        spool.add(_draft(n))
    inode = (tmp_path / "spool.jsonl").stat().st_ino
    stored: list[str | None] = []
    for draft in spool.drain():
        if len(stored) == 3:
            break  # the store went away again while storing the fourth
        stored.append(draft.registrant)
        assert (tmp_path / "spool.jsonl").stat().st_ino == inode  # no rewrite per event
    spool.add(_draft(6))  # spooled meanwhile, after the others
    stored += [draft.registrant for draft in spool.drain()]
    assert stored == [f"r{n}" for n in range(7)]  # each once, in order
    assert not spool.pending() and not (tmp_path / "spool.jsonl.done").exists()
    spool.add(_draft(7))
    assert [d.registrant for d in spool.drain()] == ["r7"]  # a new spool, counted afresh


def test_a_cursor_left_from_another_spool_file_is_not_applied(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    for n in range(3):
        spool.add(_draft(n))
    inode = (tmp_path / "spool.jsonl").stat().st_ino
    (tmp_path / "spool.jsonl.done").write_text(f"{inode + 1} 2\n")  # a crash's leftover
    assert [d.registrant for d in spool.drain()] == ["r0", "r1", "r2"]
