"""The in-process session cache: hits without the store, changes seen within a poll, outages.

A real store on each backend, counted by `CountingStore`; a second store object on
the same backend stands for another replica (or the CLI); a frozen clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gateway.core.clock import FrozenClock
from gateway.core.errors import StoreUnavailable
from gateway.core.records import Registrant, Session
from gateway.sessions.cache import MAX_AGE, POLL, STALE_GRACE, Lookup, SessionCache
from gateway.store import ACCESS_LOG_SIZE, Store
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SqliteStore
from tests.conftest import REDIS_URL
from tests.support.counting import CountingStore

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2021, 11, 18, 8, 30, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def make_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[[], Store]]:
    """Store objects on one backend: each one a replica (or a CLI) of its own."""
    opened: list[Store] = []

    def make() -> Store:
        if request.param == "sqlite":
            opened.append(SqliteStore(str(tmp_path / "gateway.db")))
        else:
            opened.append(RedisStore(REDIS_URL, prefix=request.getfixturevalue("redis_prefix")))
        return opened[-1]

    yield make
    for store in opened:
        await store.close()


class World:
    """One replica's cache over a counted store, another replica's store, two viewers."""

    def __init__(self, make_store: Callable[[], Store], *, max_entries: int = 100) -> None:
        self.here = make_store()
        self.counted = CountingStore(self.here)
        self.elsewhere = make_store()
        self.clock = FrozenClock(T0)
        self.cache = SessionCache(self.counted, self.clock, max_entries=max_entries)

    async def setup(self) -> None:
        for n in (1, 2):
            await self.here.add_registrant(Registrant(f"r{n}", f"p{n}@example.org", "P", "", T0))
            await self.session(f"s{n}", f"r{n}")

    async def session(self, sid: str, registrant: str, *, max_devices: int = 3) -> list[str]:
        at = self.clock()
        session = Session(sid, registrant, 1, at, at + dt.timedelta(hours=12))
        return await self.here.create_session(session, max_devices=max_devices, now=at)

    async def revoked(self, sid: str) -> bool | None:
        found = await self.cache.get(sid)
        return None if found.registrant is None else found.registrant.revoked


@pytest.fixture
async def world(make_store: Callable[[], Store]) -> World:
    world = World(make_store)
    await world.setup()
    return world


async def test_a_warm_cache_answers_without_the_store(world: World) -> None:
    first = await world.cache.get("s1")
    assert first.session is not None and first.registrant is not None
    assert world.counted.session_calls() == 2
    world.counted.reset()
    for _ in range(40):  # ten seconds of requests, four a second
        found = await world.cache.get("s1")
        assert found == Lookup(first.session, first.registrant, found.verified_at)
        world.clock.advance(seconds=0.25)
    assert world.counted.session_calls() == 0
    assert world.counted.calls["access_changes"] == 9  # one poll a second (t = 1 … 9 s)
    assert world.cache.stats.hits == 40


async def test_kept_fresh_in_the_background_a_request_never_waits_for_a_poll(
    world: World,
) -> None:
    await world.cache.get("s1")
    await world.cache.get("s2")
    keeping = asyncio.create_task(world.cache.keep_fresh(interval=0.01))
    try:
        await world.elsewhere.bump_link("r1", revoked=True)
        world.clock.advance(seconds=1)  # a poll is due: the background one comes first
        await asyncio.sleep(0.1)
        polls = world.counted.calls["access_changes"]
        assert polls >= 1
        assert world.cache.hit("s2", world.clock()) is not None  # current: a plain hit
        assert world.cache.hit("s1", world.clock()) is None  # r1 changed: read again
        assert await world.revoked("s1") is True
        assert world.counted.calls["access_changes"] - polls <= 1  # (another tick, at most)
    finally:
        keeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeping


async def test_a_session_the_store_does_not_know_is_remembered_too(world: World) -> None:
    assert (await world.cache.get("forged")).session is None
    assert (await world.cache.get("forged")).session is None
    assert world.counted.calls["session"] == 1


async def test_a_revocation_on_another_replica_is_seen_within_a_poll(world: World) -> None:
    assert await world.revoked("s1") is False
    await world.elsewhere.bump_link("r1", revoked=True)
    world.clock.advance(seconds=0.5)
    assert await world.revoked("s1") is False  # the bound: at most POLL stale
    world.clock.advance(seconds=0.5)
    assert await world.revoked("s1") is True
    assert POLL <= dt.timedelta(seconds=2)


async def test_only_the_changed_registrants_sessions_are_read_again(world: World) -> None:
    await world.cache.get("s1")
    await world.cache.get("s2")
    await world.elsewhere.bump_link("r1", revoked=True)
    world.clock.advance(seconds=1)
    world.counted.reset()
    assert await world.revoked("s2") is False
    assert world.counted.session_calls() == 0
    assert await world.revoked("s1") is True
    assert world.counted.session_calls() == 2


async def test_a_change_made_in_this_process_is_seen_at_once(world: World) -> None:
    assert await world.revoked("s1") is False
    await world.here.bump_link("r1", revoked=True)  # the store object the cache reads through
    assert await world.revoked("s1") is True  # same instant: no poll interval to wait for


async def test_an_eviction_on_another_replica_ends_the_session_within_a_poll(
    world: World,
) -> None:
    assert (await world.cache.get("s1")).session is not None
    at = world.clock()
    newer = Session("s1b", "r1", 1, at + dt.timedelta(seconds=1), at + dt.timedelta(hours=1))
    assert await world.elsewhere.create_session(newer, max_devices=1, now=at) == ["s1"]
    world.clock.advance(seconds=1)
    assert (await world.cache.get("s1")).session is None


async def test_a_read_that_raced_a_change_is_not_kept(world: World) -> None:
    await world.cache.get("s2")  # the cache is polling

    async def meanwhile() -> None:  # s1's state is read; then r1 is revoked and noticed
        await world.elsewhere.bump_link("r1", revoked=True)
        world.clock.advance(seconds=1)
        await world.cache.get("s2")

    world.counted.after["registrant"] = meanwhile
    assert await world.revoked("s1") is False  # read before the revocation: fair
    assert await world.revoked("s1") is True  # but not kept past it


async def test_an_outage_keeps_a_verified_session_for_5_s_then_503(world: World) -> None:
    await world.cache.get("s1")
    world.counted.down = True
    world.counted.reset()
    world.clock.advance(seconds=1)
    for _ in range(10):  # the store is asked again at most once a second
        found = await world.cache.get("s1")
        assert found.stale and found.registrant is not None
    assert world.counted.calls["access_changes"] == 1
    assert world.counted.session_calls() == 0
    with pytest.raises(StoreUnavailable):
        await world.cache.get("s2")  # never verified here: 503
    world.clock.advance(seconds=4)
    assert (await world.cache.get("s1")).stale  # 5 s after it was last verified
    world.clock.advance(seconds=0.01)
    with pytest.raises(StoreUnavailable):
        await world.cache.get("s1")
    assert world.cache.stats.stale == 11
    world.counted.down = False
    world.clock.advance(seconds=1)
    found = await world.cache.get("s1")
    assert not found.stale and found.verified_at == world.clock()


async def test_a_poll_confirms_what_the_cache_holds(world: World) -> None:
    await world.cache.get("s1")
    world.clock.advance(seconds=3)
    assert (await world.cache.get("s1")).verified_at == world.clock()  # the poll just now
    world.counted.down = True
    world.clock.advance(seconds=STALE_GRACE.total_seconds())
    assert (await world.cache.get("s1")).stale  # 5 s after the poll, 8 s after the read


async def test_after_a_change_here_a_failed_poll_forgets_everything(world: World) -> None:
    await world.cache.get("s1")
    await world.cache.get("s2")
    await world.here.bump_link("r2", revoked=True)
    world.counted.down = True
    with pytest.raises(StoreUnavailable):  # changed, and the store cannot say what: 503
        await world.cache.get("s1")
    assert len(world.cache) == 0


async def test_memory_is_bounded_by_size_and_age(make_store: Callable[[], Store]) -> None:
    world = World(make_store, max_entries=3)
    await world.setup()
    for n in range(5):
        await world.cache.get(f"gone-{n}")
    assert len(world.cache) == 3
    await world.cache.get("s1")
    world.clock.advance(seconds=MAX_AGE.total_seconds() - 1)
    await world.cache.get("s2")  # the poll prunes what was read MAX_AGE ago
    world.clock.advance(seconds=1)
    await world.cache.get("s2")
    assert len(world.cache) == 1
    world.counted.reset()
    await world.cache.get("s1")  # read again after MAX_AGE, whatever the epoch says
    assert world.counted.session_calls() == 2


async def test_when_the_store_cannot_name_the_changes_everything_is_read_again(
    world: World,
) -> None:
    await world.cache.get("s1")
    await world.cache.get("s2")
    for _ in range(ACCESS_LOG_SIZE + 1):  # more changes than the store's log keeps
        await world.elsewhere.bump_link("r1", revoked=False)
    world.clock.advance(seconds=1)
    world.counted.reset()
    await world.cache.get("s2")
    assert world.counted.session_calls() == 2


async def test_a_clock_set_back_does_not_stop_the_polls(world: World) -> None:
    await world.cache.get("s1")
    world.clock.advance(hours=-1)  # the system clock stepped back
    await world.elsewhere.bump_link("r1", revoked=True)
    assert await world.revoked("s1") is True


async def test_cancelled_mid_poll_the_background_task_always_stops(world: World) -> None:
    """The hang issue 13 found: on Python 3.11, redis-py wrote each command under
    `asyncio.wait_for`, which returns the write's result and drops the cancellation when
    both land in the same loop iteration; `keep_fresh` then polled on forever and the
    test awaiting it never returned. Cancelled at every point of a poll, it stops."""
    rng = random.Random(13)
    for attempt in range(300):
        keeping = asyncio.create_task(
            world.cache.keep_fresh(interval=0.0 if attempt % 2 else 0.001)
        )
        await asyncio.sleep(rng.random() * 0.005)
        keeping.cancel()
        done, _ = await asyncio.wait({keeping}, timeout=2)
        if not done:  # the cancellation was lost: stop it for good, then fail
            while not keeping.done():
                keeping.cancel()
                await asyncio.wait({keeping}, timeout=0.1)
            pytest.fail(f"keep_fresh went on polling after cancel() (attempt {attempt})")
        assert keeping.cancelled()
