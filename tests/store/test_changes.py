"""The store contract for access changes: the epoch and log every replica's session cache polls.

Every change that can end (or give back) a running session's access (a reissue via
`bump_link`, a revocation set or lifted via `set_revoked`, an eviction beyond
max_devices, `end_sessions`) adds 1 to the epoch
and names its registrant, atomically with the change; nothing else does. Where
the epoch starts is the store's business (Redis starts it at its clock), so the
tests count from the first answer. Two instances on one backend stand for two
replicas (or a CLI beside the server).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from gateway.core.errors import StoreUnavailable
from gateway.core.records import Registrant, Session
from gateway.store import ACCESS_LOG_SIZE, AccessChanges, Store
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SCHEMA_VERSION, SqliteStore
from tests.conftest import REDIS_URL
from tests.store.conftest import MakeStore
from tests.support.ports import free_port

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2021, 11, 18, 8, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def person(n: int) -> Registrant:
    return Registrant(f"r{n}", f"person{n}@example.org", f"Person {n}", "", T0)


def visit(sid: str, registrant: str = "r1", *, minute: int = 0) -> Session:
    at = T0 + dt.timedelta(minutes=minute)
    return Session(sid, registrant, 1, at, at + HOUR)


async def registered(store: Store, *numbers: int) -> int:
    """Add these registrants; the epoch to count from."""
    for n in numbers:
        await store.add_registrant(person(n))
    return (await store.access_changes(-1)).epoch


def changed(epoch: int, *registrants: str) -> AccessChanges:
    return AccessChanges(epoch, frozenset(registrants))


async def test_a_new_store_has_nothing_to_name(store: Store) -> None:
    first = await store.access_changes(-1)
    assert first.registrants is None  # no baseline given: nothing can be named
    e0 = first.epoch
    assert await store.access_epoch() == e0
    assert await store.access_changes(e0) == changed(e0)
    assert await store.access_changes(e0 + 3) == AccessChanges(e0, None)  # ahead: a reset
    assert store.local_access_changes() == 0


async def test_revoke_and_reissue_bump_the_epoch_and_name_the_registrant(store: Store) -> None:
    e0 = await registered(store, 1, 2)
    await store.bump_link("r1", revoked=True)
    assert await store.access_epoch() == e0 + 1
    assert await store.access_changes(e0) == changed(e0 + 1, "r1")
    await store.bump_link("r2", revoked=False)
    await store.bump_link("r1", revoked=False)
    assert await store.access_changes(e0) == changed(e0 + 3, "r1", "r2")
    assert await store.access_changes(e0 + 1) == changed(e0 + 3, "r1", "r2")
    assert await store.access_changes(e0 + 2) == changed(e0 + 3, "r1")
    assert await store.access_changes(e0 + 3) == changed(e0 + 3)
    assert store.local_access_changes() == 3


async def test_revoke_and_reinstate_of_the_same_link_are_access_changes(store: Store) -> None:
    e0 = await registered(store, 1, 2)
    await store.set_revoked("r1", revoked=True)
    await store.set_revoked("r1", revoked=False)  # a cached "revoked" must be forgotten too
    assert await store.access_changes(e0) == changed(e0 + 2, "r1")
    assert await store.access_changes(e0 + 1) == changed(e0 + 2, "r1")
    assert store.local_access_changes() == 2


async def test_registering_and_purging_are_no_access_change(store: Store) -> None:
    e0 = await registered(store, 1)
    await store.add_registrant(person(2))
    await store.purge_registrants(T0 + HOUR)
    assert await store.access_changes(e0) == changed(e0)


async def test_an_unknown_registrant_changes_nothing(store: Store) -> None:
    e0 = await registered(store)
    with pytest.raises(KeyError):
        await store.bump_link("nobody", revoked=True)
    assert await store.access_changes(e0) == changed(e0)
    assert store.local_access_changes() == 0


async def test_an_eviction_beyond_max_devices_is_an_access_change(store: Store) -> None:
    e0 = await registered(store, 1, 2)
    assert await store.create_session(visit("s1"), max_devices=2, now=T0) == []
    assert await store.create_session(visit("s2", minute=1), max_devices=2, now=T0) == []
    assert await store.create_session(visit("t1", "r2"), max_devices=2, now=T0) == []
    assert await store.access_changes(e0) == changed(e0)  # new sessions take nobody's access
    evicted = await store.create_session(visit("s3", minute=2), max_devices=2, now=T0)
    assert evicted == ["s1"]
    assert await store.access_changes(e0) == changed(e0 + 1, "r1")
    assert store.local_access_changes() == 1


async def test_ending_sessions_is_an_access_change_only_when_some_ended(store: Store) -> None:
    e0 = await registered(store, 1)
    assert await store.end_sessions("r1") == []
    assert await store.access_changes(e0) == changed(e0)
    await store.create_session(visit("s1"), max_devices=3, now=T0)
    assert await store.end_sessions("r1") == ["s1"]
    assert await store.access_changes(e0) == changed(e0 + 1, "r1")


async def test_another_instance_sees_the_changes_but_counts_only_its_own(
    make_store: MakeStore,
) -> None:
    server, cli = make_store(), make_store()
    e0 = await registered(server, 1)
    await cli.bump_link("r1", revoked=True)
    assert await server.access_changes(e0) == changed(e0 + 1, "r1")
    assert (server.local_access_changes(), cli.local_access_changes()) == (0, 1)


async def test_the_first_change_of_a_new_store_counts_from_where_it_starts(
    store: Store,
) -> None:
    await store.add_registrant(person(1))
    await store.bump_link("r1", revoked=True)  # before anyone asked for the epoch
    e1 = await store.access_epoch()
    assert await store.access_changes(e1 - 1) == changed(e1, "r1")


async def test_the_log_names_only_the_last_changes(store: Store) -> None:
    e0 = await registered(store, 1, 2)
    for n in range(ACCESS_LOG_SIZE + 1):
        await store.bump_link("r1" if n else "r2", revoked=False)  # r2 is the first change
    last = e0 + ACCESS_LOG_SIZE + 1
    assert await store.access_changes(e0) == AccessChanges(last, None)  # beyond the log
    assert await store.access_changes(e0 + 1) == changed(last, "r1")
    assert await store.access_changes(last - 1) == changed(last, "r1")


async def test_a_log_that_lost_entries_names_nobody(store: Store) -> None:
    e0 = await registered(store, 1)
    await store.bump_link("r1", revoked=True)
    await store.bump_link("r1", revoked=False)
    if isinstance(store, RedisStore):  # a failover to a replica that missed a write
        await store._redis.lpop(store._key("access-log"))  # noqa: SLF001
    else:
        assert isinstance(store, SqliteStore)
        conn = sqlite3.connect(store.path)  # a hand edit
        conn.execute("DELETE FROM access_log WHERE epoch = ?", (e0 + 1,))
        conn.commit()
        conn.close()
    assert await store.access_changes(e0) == AccessChanges(e0 + 2, None)
    assert await store.access_changes(e0 + 2) == changed(e0 + 2)


@pytest.mark.redis
async def test_a_redis_that_lost_its_data_is_told_apart(redis_prefix: str) -> None:
    store = RedisStore(REDIS_URL, prefix=redis_prefix)
    try:
        e0 = (await store.access_changes(-1)).epoch
        assert e0 > ACCESS_LOG_SIZE  # started at the server's clock
        await store._redis.delete(store._key("access-epoch"))  # noqa: SLF001 - a restart
        # without persistence (or a FLUSHALL): nothing changed that a replica could name
        after = await store.access_changes(e0)
        assert after.registrants is None and after.epoch != e0
        assert await store.access_changes(after.epoch) == changed(after.epoch)
    finally:
        await store.close()


async def test_redis_unreachable_raises_store_unavailable() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.3)
    try:
        with pytest.raises(StoreUnavailable):
            await store.access_epoch()
        with pytest.raises(StoreUnavailable):
            await store.access_changes(0)
    finally:
        await store.close()


async def test_sqlite_unreachable_raises_store_unavailable(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("not a folder")
    store = SqliteStore(str(tmp_path / "plain-file" / "gateway.db"))
    try:
        with pytest.raises(StoreUnavailable):
            await store.access_changes(0)
    finally:
        await store.close()


async def test_sqlite_version_3_file_gains_the_access_log_and_keeps_its_data(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "gateway.db")
    old = SqliteStore(path)
    await registered(old, 1)
    await old.close()
    conn = sqlite3.connect(path)  # back to what a version-3 gateway left behind
    conn.execute("DROP TABLE access_log")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()

    store = SqliteStore(path)
    try:
        assert await store.registrants() == [person(1)]
        assert await store.access_epoch() == 0
        await store.bump_link("r1", revoked=True)
        assert await store.access_changes(0) == changed(1, "r1")
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    finally:
        conn.close()


async def test_sqlite_version_5_file_gains_revisions_counted_from_the_link_version(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "gateway.db")
    old = SqliteStore(path)
    await registered(old, 1)
    await old.bump_link("r1", revoked=False)
    await old.close()
    conn = sqlite3.connect(path)  # back to what a version-5 gateway left behind
    conn.execute("ALTER TABLE registrants DROP COLUMN revision")
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()

    store = SqliteStore(path)
    try:
        found = await store.registrant("r1")
        assert found is not None and (found.link_version, found.revision) == (2, 2)
        assert (await store.set_revoked("r1", revoked=True)).revision == 3
    finally:
        await store.close()
