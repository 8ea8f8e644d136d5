"""The store contract for attendance, counted sets, purging and deleting values,
run against SqliteStore and RedisStore alike.

Times are frozen in November 2021 (stores never read the clock), except for the one
test of a counted set's lifetime, which runs on the store's own clock (SQLite's or
the Redis server's) and so sleeps. The last test upgrades a version-2 SQLite file.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import pytest

from gateway.core.records import Registrant, Session
from gateway.store import Store
from gateway.store.sqlite import SCHEMA_VERSION, SqliteStore

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2021, 11, 18, 8, 0, tzinfo=dt.UTC)  # a minute start
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


def person(n: int, email: str | None = None, *, at: dt.datetime | None = None) -> Registrant:
    return Registrant(
        id=f"r{n}",
        email=email or f"Person{n}@Example.org",
        name=f"Person {n}",
        organisation="Nordic Council",
        created_at=T0 + n * MINUTE if at is None else at,
    )


# Attendance


async def test_attendance_is_empty_at_first(store: Store) -> None:
    assert await store.attendance() == {}
    await store.record_attendance({})
    await store.record_attendance({"r1": []})
    assert await store.attendance() == {}


async def test_record_attendance_is_idempotent_and_lists_minutes_sorted(store: Store) -> None:
    await store.record_attendance({"r1": [T0 + 2 * MINUTE, T0], "r2": {T0 + MINUTE}})
    await store.record_attendance({"r1": [T0, T0 + MINUTE, T0 + 2 * MINUTE, T0]})
    await store.record_attendance({"r2": [T0 + MINUTE]})

    assert await store.attendance() == {
        "r1": [T0, T0 + MINUTE, T0 + 2 * MINUTE],
        "r2": [T0 + MINUTE],
    }


async def test_attendance_minutes_round_trip_as_aware_utc_exactly(store: Store) -> None:
    helsinki = T0.astimezone(ZoneInfo("Europe/Helsinki"))
    early = dt.datetime(1969, 12, 31, 23, 59, tzinfo=dt.UTC)  # before the epoch
    late = dt.datetime(2999, 1, 1, tzinfo=dt.UTC)
    await store.record_attendance({"r1": [helsinki, late, early]})

    watched = (await store.attendance())["r1"]

    assert watched == [early, T0, late]
    assert all(m.tzinfo == dt.UTC for m in watched)
    assert [m.isoformat() for m in watched] == [early.isoformat(), T0.isoformat(), late.isoformat()]


async def test_record_attendance_refuses_naive_times_and_times_within_a_minute(
    store: Store,
) -> None:
    with pytest.raises(ValueError, match="naive"):
        await store.record_attendance({"r1": [T0.replace(tzinfo=None)]})
    with pytest.raises(ValueError, match="start of a minute"):
        await store.record_attendance({"r1": [T0 + dt.timedelta(seconds=1)]})
    with pytest.raises(ValueError, match="start of a minute"):
        await store.record_attendance({"r1": [T0, T0 + dt.timedelta(microseconds=1)]})
    assert await store.attendance() == {}


# Counted sets


async def test_add_member_counts_distinct_members_per_key(store: Store) -> None:
    sizes = [await store.add_member("k1", member, ttl=HOUR) for member in ("a", "b", "a", "c", "b")]
    assert sizes == [1, 2, 2, 3, 3]
    assert await store.add_member("k2", "a", ttl=HOUR) == 1
    assert await store.add_member("k1", "d", ttl=HOUR) == 4


async def test_add_member_refuses_a_lifetime_that_is_not_positive(store: Store) -> None:
    for ttl in (dt.timedelta(0), -HOUR):
        with pytest.raises(ValueError, match="positive"):
            await store.add_member("k", "a", ttl=ttl)


async def test_a_counted_set_expires_after_its_ttl_which_additions_do_not_extend(
    store: Store,
) -> None:
    # The one test on the store's own clock: created at 0 s with a 1 s lifetime, added to
    # at 0.7 s (an extended lifetime would last until 1.7 s), gone at 1.3 s.
    ttl = dt.timedelta(seconds=1)
    assert await store.add_member("k", "a", ttl=ttl) == 1
    assert await store.add_member("other", "a", ttl=HOUR) == 1
    await anyio.sleep(0.7)
    assert await store.add_member("k", "b", ttl=ttl) == 2
    await anyio.sleep(0.6)

    assert await store.add_member("k", "c", ttl=ttl) == 1  # a new set
    assert await store.add_member("other", "b", ttl=HOUR) == 2  # unaffected


# Purging personal data


async def test_purge_erases_those_created_before_the_date_only(store: Store) -> None:
    registrants = [person(n) for n in range(1, 5)]
    for r in registrants:
        await store.add_registrant(r)

    purged = await store.purge_registrants(T0 + 3 * MINUTE)  # r3 is created exactly then

    assert purged == ["r1", "r2"]
    for r in registrants[:2]:
        erased = Registrant(r.id, "", "", "", r.created_at)
        assert await store.registrant(r.id) == erased
        assert await store.registrant_by_email(r.email) is None
        assert await store.registrant_by_email(r.email.lower()) is None
    assert await store.registrant("r3") == registrants[2]
    assert await store.registrant_by_email("person3@example.org") == registrants[2]
    assert [r.id for r in await store.registrants()] == ["r1", "r2", "r3", "r4"]
    assert (await store.registrants())[2:] == registrants[2:]


async def test_purge_returns_ids_in_creation_order_and_purges_nothing_twice(
    store: Store,
) -> None:
    # Creation order is the order of adding, whatever created_at says.
    for n, at in ((1, T0 + 2 * MINUTE), (2, T0), (3, T0 + MINUTE)):
        await store.add_registrant(person(n, at=at))

    assert await store.purge_registrants(T0 + MINUTE) == ["r2"]
    assert await store.purge_registrants(T0 + HOUR) == ["r1", "r3"]
    assert await store.purge_registrants(T0 + HOUR) == []
    assert await store.purge_registrants(T0 + 2 * HOUR) == []
    assert await store.purge_registrants(T0) == []
    assert [(r.id, r.email) for r in await store.registrants()] == [
        ("r1", ""),
        ("r2", ""),
        ("r3", ""),
    ]


async def test_purge_of_an_empty_store_or_before_everyone_is_empty(store: Store) -> None:
    assert await store.purge_registrants(T0 + HOUR) == []
    await store.add_registrant(person(1))
    assert await store.purge_registrants(T0) == []
    assert await store.registrant("r1") == person(1)


async def test_purge_compares_instants_not_local_times(store: Store) -> None:
    await store.add_registrant(person(1, at=T0))
    helsinki = ZoneInfo("Europe/Helsinki")  # UTC+2 in November: 10:00 local is T0

    assert await store.purge_registrants(T0.astimezone(helsinki)) == []
    assert await store.purge_registrants((T0 + dt.timedelta(microseconds=1)).astimezone(helsinki))
    assert (await store.registrant("r1")) == Registrant("r1", "", "", "", T0)


async def test_a_purged_address_registers_again_as_a_new_registrant(store: Store) -> None:
    await store.add_registrant(person(1, "Ann@Example.org"))
    await store.purge_registrants(T0 + HOUR)

    again = Registrant("r2", "ann@example.org", "Ann", "Org", T0 + 2 * HOUR)
    stored, created = await store.add_registrant(again)

    assert (stored, created) == (again, True)
    assert await store.registrant_by_email("ANN@example.org") == again
    assert await store.add_registrant(person(3, "Ann@EXAMPLE.org")) == (again, False)
    assert await store.purge_registrants(T0 + HOUR) == []  # r1 stays purged, r2 is newer
    assert await store.purge_registrants(T0 + 3 * HOUR) == ["r2"]
    assert await store.registrant_by_email("ann@example.org") is None
    assert [r.id for r in await store.registrants()] == ["r1", "r2"]


async def test_a_purged_registrant_keeps_its_link_version_and_sessions(store: Store) -> None:
    await store.add_registrant(person(1))
    await store.bump_link("r1", revoked=True)
    session = Session("s1", "r1", 2, T0, T0 + HOUR)
    await store.create_session(session, max_devices=2, now=T0)

    assert await store.purge_registrants(T0 + HOUR) == ["r1"]

    purged = await store.registrant("r1")
    assert purged == Registrant(
        "r1", "", "", "", T0 + MINUTE, link_version=2, revoked=True, revision=1
    )
    assert await store.session("s1") == session
    assert await store.bump_link("r1", revoked=False) == Registrant(
        "r1", "", "", "", T0 + MINUTE, link_version=3, revoked=False, revision=2
    )
    second = Session("s2", "r1", 3, T0 + MINUTE, T0 + HOUR)
    assert await store.create_session(second, max_devices=1, now=T0 + MINUTE) == ["s1"]
    assert await store.end_sessions("r1") == ["s2"]


async def test_purge_leaves_attendance_alone(store: Store) -> None:
    await store.add_registrant(person(1))
    await store.record_attendance({"r1": [T0]})
    await store.purge_registrants(T0 + HOUR)
    assert await store.attendance() == {"r1": [T0]}


async def test_purge_refuses_a_naive_date(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        await store.purge_registrants(T0.replace(tzinfo=None))


# Named values


async def test_delete_value_forgets_it_and_an_absent_key_is_fine(store: Store) -> None:
    await store.set_value("a", "1")
    await store.set_value("b", "2")

    await store.delete_value("a")
    await store.delete_value("a")
    await store.delete_value("never")

    assert await store.get_value("a") is None
    assert await store.get_value("b") == "2"
    assert await store.setdefault_value("a", "3") == "3"


# SQLite: an existing version-2 file is upgraded in place


async def test_sqlite_version_2_file_gains_attendance_and_counted_sets_and_keeps_its_data(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "gateway.db")
    registrant = person(1)
    old = SqliteStore(path)
    await old.add_registrant(registrant)
    await old.set_value("secret", "s")
    await old.close()
    conn = sqlite3.connect(path)  # back to what a version-2 gateway left behind
    for table in ("attendance", "member_sets", "members"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()

    store = SqliteStore(path)
    try:
        assert await store.registrants() == [registrant]
        assert await store.get_value("secret") == "s"
        await store.record_attendance({"r1": [T0]})
        assert await store.attendance() == {"r1": [T0]}
        assert await store.add_member("k", "a", ttl=HOUR) == 1
        assert await store.purge_registrants(T0 + HOUR) == ["r1"]
        assert await store.add_registrant(person(2, registrant.email)) == (
            person(2, registrant.email),
            True,
        )
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    finally:
        conn.close()


async def test_viewers_counts_registrants_in_any_of_the_minutes(store: Store) -> None:
    base = dt.datetime(2021, 11, 18, 8, 30, tzinfo=dt.UTC)
    minute = dt.timedelta(minutes=1)
    await store.record_attendance({"a": [base], "b": [base + minute], "c": [base - 5 * minute]})
    await store.record_attendance({"a": [base + minute]})
    assert await store.viewers([base, base + minute]) == 2
    assert await store.viewers([base + 2 * minute]) == 0
    assert await store.viewers([]) == 0


async def test_viewers_per_minute_counts_each_minute_zero_where_nobody_watched(
    store: Store,
) -> None:
    base = dt.datetime(2021, 11, 18, 8, 30, tzinfo=dt.UTC)
    minute = dt.timedelta(minutes=1)
    await store.record_attendance({"a": [base, base + minute], "b": [base + minute]})
    await store.record_attendance({"c": [base + 3 * minute, base - minute]})
    assert await store.viewers_per_minute(base, base + 3 * minute) == {
        base: 1,
        base + minute: 2,
        base + 2 * minute: 0,
    }
    assert await store.viewers_per_minute(base, base) == {}
    with pytest.raises(ValueError):
        await store.viewers_per_minute(base + dt.timedelta(seconds=1), base + minute)
    with pytest.raises(ValueError):  # more than a day
        await store.viewers_per_minute(base, base + dt.timedelta(days=1, minutes=1))
