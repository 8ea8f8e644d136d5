"""The store contract: every `Store` method, run against SqliteStore and RedisStore alike.

Times are frozen in November 2021 (stores never read the clock), so these also
show that Redis key lifetimes are durations, not absolute instants. Two instances
on one backend stand for two processes (a CLI beside the server) or two
replicas. The last tests check that an unreachable backend raises
`StoreUnavailable`, quickly, and never the library's own error.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import pytest

from gateway.core import chain
from gateway.core.dating import REFUSED, Dated
from gateway.core.errors import StoreUnavailable
from gateway.core.records import Registrant, Session
from gateway.store import Store, open_store
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SqliteStore
from tests.store.conftest import MakeStore
from tests.support.ports import free_port

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2021, 11, 18, 8, 0, 0, 123456, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def person(n: int, email: str | None = None) -> Registrant:
    return Registrant(
        id=f"r{n}",
        email=email or f"person{n}@example.org",
        name=f"Person {n}",
        organisation="Nordic Council",
        created_at=T0 + dt.timedelta(minutes=n),
    )


def visit(
    sid: str, registrant: str = "r1", *, at: dt.datetime = T0, ttl: dt.timedelta = HOUR
) -> Session:
    return Session(
        id=sid, registrant_id=registrant, link_version=1, created_at=at, expires_at=at + ttl
    )


def draft(n: int) -> chain.Draft:
    return chain.Draft(
        ts=(T0 + dt.timedelta(seconds=n)).isoformat(),
        type="link_opened",
        registrant="r1",
        actor="participant",
        ip="192.0.2.1",
        detail={"n": n, "text": "Ålesund ✓"},
    )


async def live_ids(store: Store, ids: list[str]) -> set[str]:
    return {sid for sid in ids if await store.session(sid) is not None}


# Health


async def test_ping_round_trips(store: Store) -> None:
    await store.ping()
    await store.ping()


# Registrants


async def test_add_registrant_stores_it_and_keeps_datetimes_exact_in_utc(store: Store) -> None:
    berlin = dt.datetime(2021, 11, 1, 9, 30, 15, 654321, tzinfo=ZoneInfo("Europe/Berlin"))
    new = Registrant("abc", "Anna@Example.org", "Anna", "NGO", berlin, link_version=3, revoked=True)

    stored, created = await store.add_registrant(new)

    assert created and stored == new
    for found in (
        await store.registrant("abc"),
        await store.registrant_by_email("anna@example.org"),
    ):
        assert found == new
        assert found is not None and found.created_at.tzinfo == dt.UTC
        assert found.created_at.microsecond == 654321 and found.email == "Anna@Example.org"


async def test_add_registrant_email_uniqueness_is_case_insensitive_and_returns_existing(
    store: Store,
) -> None:
    first, _ = await store.add_registrant(person(1, "Mia.Virtanen@Example.FI"))

    again, created = await store.add_registrant(person(2, "mia.virtanen@example.fi"))

    assert not created and again == first
    assert await store.registrant("r2") is None
    assert await store.registrants() == [first]
    assert await store.registrant_by_email("MIA.VIRTANEN@EXAMPLE.FI") == first


async def test_add_registrant_refuses_an_id_already_in_use(store: Store) -> None:
    await store.add_registrant(person(1))

    with pytest.raises(ValueError, match="already in use"):
        await store.add_registrant(person(1, "someone.else@example.org"))

    assert [r.email for r in await store.registrants()] == ["person1@example.org"]


async def test_registrant_lookups_of_unknown_return_none(store: Store) -> None:
    assert await store.registrant("nobody") is None
    assert await store.registrant_by_email("nobody@example.org") is None
    assert await store.registrants() == []


async def test_registrants_lists_all_in_creation_order(store: Store) -> None:
    people = [person(n) for n in (3, 1, 2)]  # creation order, not id or created_at order
    for one in people:
        await store.add_registrant(one)

    assert await store.registrants() == people


async def test_bump_link_increments_version_and_revokes_then_restores(store: Store) -> None:
    await store.add_registrant(person(1))

    revoked = await store.bump_link("r1", revoked=True)
    restored = await store.bump_link("r1", revoked=False)

    assert (revoked.link_version, revoked.revoked, revoked.revision) == (2, True, 1)
    assert (restored.link_version, restored.revoked, restored.revision) == (3, False, 2)
    assert await store.registrant("r1") == restored
    assert restored.email == "person1@example.org" and restored.created_at == person(1).created_at


async def test_set_revoked_keeps_the_link_version_and_counts_a_revision(store: Store) -> None:
    await store.add_registrant(person(1))

    revoked = await store.set_revoked("r1", revoked=True)
    reinstated = await store.set_revoked("r1", revoked=False)

    assert (revoked.link_version, revoked.revoked, revoked.revision) == (1, True, 1)
    assert (reinstated.link_version, reinstated.revoked, reinstated.revision) == (1, False, 2)
    assert await store.registrant("r1") == reinstated


@pytest.mark.parametrize("change", ["bump_link", "set_revoked"])
async def test_link_changes_raise_key_error_for_unknown_registrant(
    store: Store, change: str
) -> None:
    with pytest.raises(KeyError):
        await getattr(store, change)("nobody", revoked=True)


async def test_restore_link_moves_only_a_lower_revision_forward(store: Store) -> None:
    await store.add_registrant(person(1))
    await store.set_revoked("r1", revoked=True)  # revision 1
    await store.set_revoked("r1", revoked=False)  # revision 2, the same link works again

    assert not await store.restore_link("r1", revision=1, version=1, revoked=True)  # older
    assert not await store.restore_link("r1", revision=2, version=1, revoked=True)  # same
    assert not (await store.registrant("r1")).revoked  # type: ignore[union-attr]
    assert await store.restore_link("r1", revision=3, version=2, revoked=True)  # lost: put back
    found = await store.registrant("r1")
    assert found is not None and (found.revision, found.link_version, found.revoked) == (3, 2, True)
    assert not await store.restore_link("nobody", revision=9, version=9, revoked=True)


# Sessions


async def test_session_round_trips_and_unknown_is_none(store: Store) -> None:
    one = visit("s1", at=T0.astimezone(ZoneInfo("Europe/Helsinki")))

    assert await store.create_session(one, max_devices=3, now=T0) == []

    found = await store.session("s1")
    assert found == one and found is not None
    assert found.created_at.tzinfo == dt.UTC and found.expires_at.microsecond == 123456
    assert await store.session("nope") is None


async def test_create_session_evicts_oldest_beyond_max_devices_oldest_first(store: Store) -> None:
    ids = [f"s{i}" for i in range(5)]
    ended: list[str] = []
    for i, sid in enumerate(ids):
        at = T0 + dt.timedelta(minutes=i)
        ended += await store.create_session(visit(sid, at=at), max_devices=2, now=at)

    assert ended == ["s0", "s1", "s2"]
    assert await live_ids(store, ids) == {"s3", "s4"}

    other = visit("x", "r2", at=T0 + HOUR / 2)  # another registrant's devices are apart
    assert await store.create_session(other, max_devices=1, now=T0 + HOUR / 2) == []
    assert await store.create_session(visit("s5", at=T0), max_devices=3, now=T0) == []


async def test_create_session_eviction_orders_ties_by_insertion(store: Store) -> None:
    for sid in ("b", "a", "c"):  # same created_at: the first inserted is the oldest
        ended = await store.create_session(visit(sid), max_devices=2, now=T0)

    assert ended == ["b"]
    big = await store.create_session(visit("d"), max_devices=1, now=T0)
    assert big == ["a", "c"]


async def test_create_session_expired_sessions_do_not_count_toward_max(store: Store) -> None:
    await store.create_session(visit("old", ttl=dt.timedelta(minutes=10)), max_devices=2, now=T0)
    later = T0 + dt.timedelta(minutes=10)  # "old" expires exactly now
    await store.create_session(visit("s1", at=later), max_devices=2, now=later)

    assert await store.create_session(visit("s2", at=later), max_devices=2, now=later) == []
    assert await store.count_sessions(later) == 2


async def test_end_sessions_ends_every_session_of_that_registrant_only(store: Store) -> None:
    for i, sid in enumerate(["s2", "s1", "s3"]):
        await store.create_session(
            visit(sid, at=T0 + dt.timedelta(seconds=i)), max_devices=5, now=T0
        )
    await store.create_session(visit("x", "r2"), max_devices=5, now=T0)

    assert await store.end_sessions("r1") == ["s2", "s1", "s3"]  # oldest first

    assert await live_ids(store, ["s1", "s2", "s3", "x"]) == {"x"}
    assert await store.end_sessions("r1") == []
    assert await store.count_sessions(T0) == 1
    assert await store.create_session(visit("s4"), max_devices=1, now=T0) == []


async def test_count_sessions_counts_those_not_ended_and_not_expired(store: Store) -> None:
    assert await store.count_sessions(T0) == 0
    await store.create_session(visit("a", "r1", ttl=HOUR), max_devices=1, now=T0)
    await store.create_session(visit("b", "r2", ttl=2 * HOUR), max_devices=1, now=T0)
    await store.create_session(visit("c", "r3", ttl=3 * HOUR), max_devices=1, now=T0)
    await store.create_session(visit("d", "r3", ttl=3 * HOUR), max_devices=1, now=T0)  # evicts c

    assert await store.count_sessions(T0) == 3
    assert await store.count_sessions(T0 + HOUR) == 2  # expiry at exactly `now` is expired
    await store.end_sessions("r2")
    assert await store.count_sessions(T0 + HOUR / 2) == 2
    assert await store.count_sessions(T0 + 3 * HOUR) == 0


async def test_count_sessions_of_one_registrant(store: Store) -> None:
    await store.create_session(visit("a", "r1", ttl=HOUR), max_devices=3, now=T0)
    await store.create_session(visit("b", "r1", ttl=2 * HOUR), max_devices=3, now=T0)
    await store.create_session(visit("c", "r2", ttl=2 * HOUR), max_devices=3, now=T0)

    assert await store.count_sessions(T0, registrant_id="r1") == 2
    assert await store.count_sessions(T0 + HOUR, registrant_id="r1") == 1  # a expired
    assert await store.count_sessions(T0, registrant_id="nobody") == 0
    await store.end_sessions("r1")
    assert await store.count_sessions(T0, registrant_id="r1") == 0
    assert await store.count_sessions(T0, registrant_id="r2") == 1


async def test_concurrent_create_session_from_two_instances_keeps_at_most_max_devices(
    make_store: MakeStore,
) -> None:
    stores = [make_store(), make_store()]
    ids = [f"s{i:02}" for i in range(30)]
    ended: list[str] = []

    async def create(i: int) -> None:
        at = T0 + dt.timedelta(seconds=i)
        ended.extend(
            await stores[i % 2].create_session(visit(ids[i], at=at), max_devices=2, now=T0)
        )

    async with anyio.create_task_group() as group:
        for i in range(30):
            group.start_soon(create, i)

    assert await live_ids(stores[0], ids) == {"s28", "s29"}  # the newest two, whatever the order
    assert sorted(ended) == ids[:28]  # each other session ended exactly once
    assert await stores[1].count_sessions(T0) == 2


# Live segment dates


def dated(start: dt.datetime, duration: float = 2.0, early: float = 0.0) -> Dated:
    return Dated(start, duration, early)


async def test_date_segments_first_writer_wins(store: Store) -> None:
    first = await store.date_segments({"a.ts@1:ab": dated(T0), "b.ts@1:cd": dated(T0 + HOUR)})
    second = await store.date_segments({"b.ts@1:cd": dated(T0), "c.ts#0-9@9:ef": dated(T0)})

    assert first == {"a.ts@1:ab": dated(T0), "b.ts@1:cd": dated(T0 + HOUR)}
    assert second == {"b.ts@1:cd": dated(T0 + HOUR), "c.ts#0-9@9:ef": dated(T0)}
    assert await store.date_segments({}) == {}


async def test_segment_dates_round_trip_exactly_and_omit_unknown_keys(store: Store) -> None:
    helsinki = T0.astimezone(ZoneInfo("Europe/Helsinki")) + dt.timedelta(microseconds=7)
    kept = Dated(helsinki, 2.002, 3.0000001)
    await store.date_segments({"a.ts@1:ab": kept})

    found = await store.segment_dates(["zz.ts@1:ab", "a.ts@1:ab", "a.ts@2:ab"])

    assert found == {"a.ts@1:ab": kept} and found["a.ts@1:ab"].start.tzinfo == dt.UTC
    assert await store.segment_dates([]) == {}
    refused = Dated(helsinki, 2.0, REFUSED)  # kept for good, like any date
    assert await store.date_segments({"b.ts@1:ab": refused}) == {"b.ts@1:ab": refused}


# Audit log


async def test_append_audit_seals_a_chain_from_genesis_and_reads_it_back(store: Store) -> None:
    events = [await store.append_audit(draft(n)) for n in range(5)]

    assert [e.seq for e in events] == [1, 2, 3, 4, 5] and events[0].prev == chain.GENESIS
    assert await store.audit_events() == events
    assert chain.first_break(events) is None
    assert await store.audit_events(after_seq=2) == events[2:]
    assert await store.audit_events(after_seq=1, limit=2) == events[1:3]
    assert await store.audit_events(after_seq=5) == []
    assert await store.audit_events(limit=0) == []
    assert events[0].detail == {"n": 0, "text": "Ålesund ✓"}


async def test_concurrent_append_audit_from_two_instances_is_one_gap_free_chain(
    make_store: MakeStore,
) -> None:
    stores = [make_store(), make_store()]

    async def append(n: int) -> None:
        await stores[n % 2].append_audit(draft(n))

    async with anyio.create_task_group() as group:
        for n in range(40):
            group.start_soon(append, n)

    events = await stores[1].audit_events()
    assert [e.seq for e in events] == list(range(1, 41))
    assert chain.first_break(events) is None
    assert sorted(e.detail["n"] for e in events) == list(range(40))


async def test_mark_once_is_true_the_first_time_only(store: Store) -> None:
    assert await store.mark_once("refusal:r1:outside_window")
    assert not await store.mark_once("refusal:r1:outside_window")
    assert await store.mark_once("refusal:r2:outside_window")


# Small named values


async def test_values_get_set_and_setdefault(store: Store) -> None:
    assert await store.get_value("secret") is None
    assert await store.setdefault_value("secret", "first") == "first"
    assert await store.setdefault_value("secret", "second") == "first"
    await store.set_value("secret", "third")
    assert await store.get_value("secret") == "third"
    assert await store.get_value("other") is None


async def test_replace_value_only_over_what_was_read(store: Store) -> None:
    assert await store.replace_value("parts", None, "one")  # none expected, none there
    assert not await store.replace_value("parts", None, "two")  # one is there now
    assert not await store.replace_value("parts", "stale", "two")
    assert await store.get_value("parts") == "one"
    assert await store.replace_value("parts", "one", "two")
    assert await store.get_value("parts") == "two"
    assert await store.replace_value("parts", "two", "")  # an empty value is a value
    assert not await store.replace_value("parts", None, "three")
    assert await store.replace_value("parts", "", "three")


# Two instances on one backend


async def test_two_instances_see_each_others_writes(make_store: MakeStore) -> None:
    server, cli = make_store(), make_store()

    await cli.add_registrant(person(1))
    assert await server.registrant_by_email("PERSON1@example.org") == person(1)
    await server.create_session(visit("s1"), max_devices=2, now=T0)
    assert await cli.end_sessions("r1") == ["s1"]
    assert await server.session("s1") is None
    await cli.set_value("stop", "1")
    assert await server.get_value("stop") == "1"
    event = await server.append_audit(draft(1))
    assert await cli.audit_events() == [event]
    assert await server.mark_once("k") and not await cli.mark_once("k")


async def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        await store.date_segments({"a.ts@1:ab": dated(dt.datetime(2021, 11, 18, 10))})


# Unreachable stores


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.mark.parametrize("answers", ["refused", "silent"])
async def test_redis_unreachable_raises_store_unavailable_quickly(
    answers: str, request: pytest.FixtureRequest
) -> None:
    port = free_port() if answers == "refused" else request.getfixturevalue("silent_port")
    store = RedisStore(f"redis://127.0.0.1:{port}/0", timeout=0.3)
    try:
        for call in (
            store.ping,
            lambda: store.registrant("r1"),
            lambda: store.append_audit(draft(1)),
        ):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await call()
            assert time.monotonic() - started < 2
    finally:
        await store.close()


async def test_sqlite_path_inside_a_file_raises_store_unavailable(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("not a folder")
    store = SqliteStore(str(tmp_path / "plain-file" / "gateway.db"))
    try:
        with pytest.raises(StoreUnavailable):
            await store.ping()
        with pytest.raises(StoreUnavailable):
            await store.registrant("r1")
    finally:
        await store.close()


async def test_open_store_routes_urls_to_the_backends(tmp_path: Path) -> None:
    sqlite_store = open_store(f"sqlite:///{tmp_path / 'gateway.db'}")
    redis_store = open_store("redis://127.0.0.1:6379/0")
    try:
        assert isinstance(sqlite_store, SqliteStore)
        assert sqlite_store.path == str(tmp_path / "gateway.db")
        assert isinstance(redis_store, RedisStore)
    finally:
        await sqlite_store.close()
        await redis_store.close()
