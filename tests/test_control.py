"""Ops' changes to the day and the kill switch: checked, audited, seen by every replica."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.audit.log import AuditLog
from gateway.core.clock import FrozenClock
from gateway.core.errors import AccessRefused, StoreUnavailable
from gateway.core.schedule import Part, Schedule, live_window, status
from gateway.sessions.controls import (
    ControlState,
    ScheduleRefused,
    consequences,
    plan_change,
    with_parts,
)
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SqliteStore
from tests.conftest import REDIS_URL, OwnRedis, helsinki
from tests.core.test_schedule import GRACE, SEMINAR
from tests.support.counting import CountingStore

pytestmark = pytest.mark.anyio


def moved(name: str, start: str, end: str, streamed: bool = True) -> tuple[Part, ...]:
    return tuple(
        Part(name, helsinki(start), helsinki(end), streamed) if p.name == name else p
        for p in SEMINAR.parts
    )


def test_moving_the_end_of_a_running_part_says_when_viewers_are_cut_off() -> None:
    new = with_parts(
        SEMINAR,
        moved("Part I", "2021-11-18T10:00", "2021-11-18T12:55")[:1]
        + (
            Part("Part II", helsinki("2021-11-18T12:55"), helsinki("2021-11-18T17:10"), False),
            SEMINAR.parts[2],
        ),
    )
    said = consequences(SEMINAR, new, helsinki("2021-11-18T12:30"))
    assert said == [
        "Viewers of Part I keep watching until 12:55 (was 12:45).",
        "Part II will start at 12:55 (was 12:45).",
    ]
    assert status(new, helsinki("2021-11-18T12:50")).part == "Part I"


def test_past_ends_are_immediate_gaps_are_shown_and_a_reopened_part_goes_live() -> None:
    shorter = with_parts(SEMINAR, moved("Part I", "2021-11-18T10:00", "2021-11-18T12:20"))
    said = consequences(SEMINAR, shorter, helsinki("2021-11-18T12:30"))
    assert said[0] == (
        "At once: Viewers of Part I are cut off immediately: "
        "the new end, 12:20, has already passed."
    )
    assert said[1] == "Nothing runs from 12:20 to 12:45: the gap this change leaves before Part II."
    later = consequences(SEMINAR, shorter, helsinki("2021-11-18T11:00"))
    assert later[0] == "Viewers of Part I will be cut off at 12:20 (was 12:45)."
    longer_three = with_parts(SEMINAR, moved("Part III", "2021-11-18T17:10", "2021-11-18T18:30"))
    reopened = consequences(SEMINAR, longer_three, helsinki("2021-11-18T18:25"))
    assert (
        reopened[0] == "At once: Part III goes live again now, until 18:30 (it had ended at 18:20)."
    )


def test_streaming_the_part_running_now_is_said_in_red() -> None:
    """Part II made streamed while it ran was said as "Part II will be streamed.", with no
    warning: its viewers see it at once."""
    exposed = with_parts(SEMINAR, moved("Part II", "2021-11-18T12:45", "2021-11-18T17:10"))
    said = consequences(SEMINAR, exposed, helsinki("2021-11-18T14:00"))
    assert said == ["At once: Part II is streamed from now: viewers see it at once."]
    later = consequences(SEMINAR, exposed, helsinki("2021-11-18T11:00"))
    assert later == ["Part II will be streamed."]


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        (moved("Part I", "2021-11-18T10:00", "2021-11-18T13:00"), "overlap"),
        (moved("Part III", "2021-11-18T18:00", "2021-11-18T17:50"), "before it starts"),
        (moved("Part III", "2021-11-18T17:10", "2021-12-19T10:00"), "recording would close"),
    ],
)
def test_impossible_days_are_refused(parts: tuple[Part, ...], reason: str) -> None:
    with pytest.raises(ScheduleRefused, match=reason):
        with_parts(SEMINAR, parts)


def test_a_late_last_part_pushes_the_recording_back() -> None:
    new = with_parts(SEMINAR, moved("Part III", "2021-11-18T17:10", "2021-11-18T18:40"))
    assert new.recording_from == helsinki("2021-11-18T18:40")


def test_a_recording_the_config_opens_early_stays_where_the_config_put_it() -> None:
    """Found by a black-box pass: `recording.available_from` before the last part's end
    (accepted at start: a recording of an earlier edition, say) jumped to the end of
    the day on any change from the console, closing the recording to everyone."""
    early = replace(SEMINAR, recording_from=helsinki("2021-11-18T09:00"))
    new = with_parts(early, moved("Part I", "2021-11-18T10:00", "2021-11-18T12:40"))
    assert new.recording_from == helsinki("2021-11-18T09:00")
    later = with_parts(early, moved("Part III", "2021-11-18T17:10", "2021-11-18T18:40"))
    assert later.recording_from == helsinki("2021-11-18T09:00")


def test_a_part_extended_into_the_next_can_move_the_next_start_with_it() -> None:
    longer = Part("Part I", helsinki("2021-11-18T10:00"), helsinki("2021-11-18T13:05"), True)
    with pytest.raises(ScheduleRefused, match="overlap"):
        plan_change(SEMINAR, SEMINAR, longer)  # not asked to move Part II: refused
    schedule, moved = plan_change(SEMINAR, SEMINAR, longer, move_next=True)
    assert moved == Part(
        "Part II", helsinki("2021-11-18T13:05"), helsinki("2021-11-18T17:10"), False
    )
    assert schedule.parts == (longer, moved, SEMINAR.parts[2])
    shorter = Part("Part I", helsinki("2021-11-18T10:00"), helsinki("2021-11-18T12:30"), True)
    assert plan_change(SEMINAR, SEMINAR, shorter, move_next=True)[1] is None  # no overlap
    past = Part("Part I", helsinki("2021-11-18T10:00"), helsinki("2021-11-18T17:30"), True)
    with pytest.raises(ScheduleRefused, match="past the end of Part II"):
        plan_change(SEMINAR, SEMINAR, past, move_next=True)
    with pytest.raises(ScheduleRefused, match="no part named"):
        plan_change(SEMINAR, SEMINAR, Part("Part IX", longer.start, longer.end, True))


async def test_moving_the_next_part_with_one_is_one_change_audited_for_both(
    tmp_path: Path,
) -> None:
    clock = FrozenClock(helsinki("2021-11-18T12:30"))
    store = SqliteStore(str(tmp_path / "gateway.db"))
    try:
        ops = ControlState(SEMINAR, store, AuditLog(store, clock), clock)
        seen = await ops.version()
        await ops.change_part(
            "Part I",
            start=helsinki("2021-11-18T10:00"),
            end=helsinki("2021-11-18T13:05"),
            streamed=True,
            actor="ops@x",
            expected=seen,
            move_next=True,
        )
        now = await ops.current()
        assert now.schedule.parts[1].start == helsinki("2021-11-18T13:05")
        assert now.changed == {"Part I", "Part II"}
        first, second = await store.audit_events()
        assert (first.detail["part"], second.detail["part"]) == ("Part I", "Part II")
        assert second.detail["moved_with"] == "Part I" and "moved_with" not in first.detail
        assert second.detail["before"]["start"] == "2021-11-18T12:45:00+02:00"
        assert second.detail["after"]["start"] == "2021-11-18T13:05:00+02:00"
        with pytest.raises(ScheduleRefused, match="changed by ops@x at 12:30"):
            await ops.change_part(  # the same preview applied twice: refused, not doubled
                "Part I",
                start=helsinki("2021-11-18T10:00"),
                end=helsinki("2021-11-18T13:05"),
                streamed=True,
                actor="ops@y",
                expected=seen,
                move_next=True,
            )
    finally:
        await store.close()


async def test_a_refresh_begun_before_a_change_here_never_caches_the_old_parts(
    tmp_path: Path,
) -> None:
    """The background refresh read the store just before ops' change was written, and
    finished after it: the page after the change must show the change, not the read."""
    clock = FrozenClock(helsinki("2021-11-18T12:30"))
    store = SqliteStore(str(tmp_path / "gateway.db"))
    try:
        ops = ControlState(SEMINAR, store, AuditLog(store, clock), clock)
        read_done, release = asyncio.Event(), asyncio.Event()
        real_get = store.get_value

        async def slow_get(key: str) -> str | None:
            value = await real_get(key)  # the old parts...
            read_done.set()
            await release.wait()  # ...returned only after the change below
            return value

        store.get_value = slow_get  # type: ignore[method-assign]
        refresh = asyncio.create_task(ops.current())
        await read_done.wait()
        store.get_value = real_get  # type: ignore[method-assign]
        await ops.change_part(
            "Part I",
            start=helsinki("2021-11-18T10:00"),
            end=helsinki("2021-11-18T12:35"),
            streamed=True,
            actor="ops@x",
        )
        release.set()
        await refresh
        assert (await ops.current()).changed == {"Part I"}
    finally:
        await store.close()


@pytest.fixture
async def one_node(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, FrozenClock]]:
    """One node's store, and a clock at 12:30 on the day."""
    store = SqliteStore(str(tmp_path / "gateway.db"))
    yield store, FrozenClock(helsinki("2021-11-18T12:30"))
    await store.close()


def _part(name: str, start: str, end: str, streamed: bool) -> Part:
    return Part(name, helsinki(f"2021-11-18T{start}"), helsinki(f"2021-11-18T{end}"), streamed)


async def test_a_config_edited_after_an_ops_change_wins_where_it_was_edited(
    one_node: tuple[SqliteStore, FrozenClock], caplog: pytest.LogCaptureFixture
) -> None:
    """The config edited after ops moved a part (and the gateway started again on it): the
    stored part list stood whole over it, so a part the config then stopped streaming or
    cancelled was still streamed, and a part it added was nowhere. Now ops' changes are
    kept where the config did not change since, and the config wins where it did."""
    store, clock = one_node

    async def in_force(config: Schedule) -> tuple[Part, ...]:
        return (
            await ControlState(config, store, AuditLog(store, clock), clock).current()
        ).schedule.parts

    ops = ControlState(SEMINAR, store, AuditLog(store, clock), clock)
    await ops.change_part(
        "Part III",
        start=helsinki("2021-11-18T17:30"),
        end=helsinki("2021-11-18T18:40"),
        streamed=True,
        actor="ops@x",
    )
    edited = replace(
        SEMINAR,
        parts=(
            _part("Part I", "09:30", "12:45", True),  # (ops did not touch it)
            SEMINAR.parts[1],
            _part("Part III", "17:10", "18:20", False),  # no longer streamed
            _part("Part IV", "19:00", "19:30", True),  # added
        ),
        recording_from=helsinki("2021-11-18T19:30"),
    )
    assert await in_force(edited) == (
        edited.parts[0],
        SEMINAR.parts[1],
        _part("Part III", "17:30", "18:40", False),  # ops' times, the config's streaming
        edited.parts[3],
    )
    assert [p.name for p in await in_force(replace(SEMINAR, parts=SEMINAR.parts[:2]))] == [
        "Part I",
        "Part II",
    ]  # cancelled in the config
    assert await in_force(SEMINAR) == (
        *SEMINAR.parts[:2],
        _part("Part III", "17:30", "18:40", True),
    )
    # Ops' change no longer fits the edited config: the config's day is in force, said.
    crowded = replace(
        SEMINAR,
        parts=(*SEMINAR.parts, _part("Part IV", "18:30", "19:00", True)),
        recording_from=helsinki("2021-11-18T19:00"),
    )
    with caplog.at_level(logging.WARNING):
        assert await in_force(crowded) == crowded.parts
    assert "Part III and Part IV would overlap" in caplog.text


async def test_a_change_that_changes_nothing_is_refused_and_not_audited(
    one_node: tuple[SqliteStore, FrozenClock],
) -> None:
    store, clock = one_node
    ops = ControlState(SEMINAR, store, AuditLog(store, clock), clock)
    three = SEMINAR.parts[2]
    with pytest.raises(ScheduleRefused, match="nothing to change"):
        await ops.change_part(
            three.name, start=three.start, end=three.end, streamed=True, actor="ops@x"
        )
    assert await store.audit_events() == [] and await ops.sequence() == 0


async def test_parts_stored_before_the_config_was_kept_with_them_are_read_as_before(
    one_node: tuple[SqliteStore, FrozenClock],
) -> None:
    store, clock = one_node
    parts = moved("Part I", "2021-11-18T10:00", "2021-11-18T12:35")
    await store.set_value(
        "control.parts",
        json.dumps([
            {"name": p.name, "start": p.start.isoformat(), "end": p.end.isoformat(),
             "streamed": p.streamed}
            for p in parts
        ]),
    )  # fmt: skip
    controls = await ControlState(SEMINAR, store, AuditLog(store, clock), clock).current()
    assert controls.schedule.parts == parts and controls.changed == {"Part I"}


async def test_changes_are_stored_audited_and_seen_by_another_replica(
    redis_prefix: str,
) -> None:
    clock = FrozenClock(helsinki("2021-11-18T12:30"))
    one, two = (RedisStore(REDIS_URL, prefix=redis_prefix) for _ in range(2))
    try:
        ops = ControlState(SEMINAR, one, AuditLog(one, clock), clock)
        other = ControlState(SEMINAR, two, AuditLog(two, clock), clock)
        assert (await other.current()).schedule == SEMINAR
        await ops.change_part(
            "Part I",
            start=helsinki("2021-11-18T10:00"),
            end=helsinki("2021-11-18T12:35"),
            streamed=True,
            actor="ops@x",
        )
        clock.advance(seconds=1)  # the other replica's cache is at most 1 s old
        seen = await other.current()
        assert seen.changed == {"Part I"}
        with pytest.raises(AccessRefused):  # past the new end and its grace
            live_window(seen.schedule, helsinki("2021-11-18T12:36"), GRACE)
        await ops.set_stopped(True, actor="ops@x")
        clock.advance(seconds=1)
        assert (await other.current()).stopped
        await ops.set_stopped(False, actor="ops@x")
        events = await one.audit_events()
        assert [e.type for e in events] == ["schedule.changed", "live.stopped", "live.resumed"]
        change = events[0]
        assert change.actor == "ops@x" and change.detail["part"] == "Part I"
        assert change.detail["before"]["end"] == "2021-11-18T12:45:00+02:00"
        assert change.detail["after"]["end"] == "2021-11-18T12:35:00+02:00"
    finally:
        await one.close()
        await two.close()


async def test_the_last_known_state_stands_when_the_store_is_down(own_redis: OwnRedis) -> None:
    clock = FrozenClock(helsinki("2021-11-18T12:30"))
    store = RedisStore(own_redis.url, timeout=0.3)
    try:
        controls = ControlState(SEMINAR, store, AuditLog(store, clock), clock)
        await controls.set_stopped(True, actor="ops")
        assert (await controls.current()).stopped
        own_redis.stop()
        clock.advance(seconds=5)
        assert (await controls.current()).stopped  # the last known state
        fresh = ControlState(SEMINAR, store, AuditLog(store, clock), clock)
        with pytest.raises(StoreUnavailable):  # nothing known: no guess
            await fresh.current()
    finally:
        await store.close()


class Replicas:
    """Two replicas' controls over one SQLite file, their stores counted; a frozen clock."""

    def __init__(self, folder: Path) -> None:
        self.clock = FrozenClock(helsinki("2021-11-18T12:30"))
        self.stores = [CountingStore(SqliteStore(str(folder / "gateway.db"))) for _ in range(2)]
        self.one, self.two = (
            ControlState(SEMINAR, store, AuditLog(store, self.clock), self.clock)
            for store in self.stores
        )


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[Replicas]:
    made = Replicas(tmp_path)
    yield made
    for store in made.stores:
        await store.close()


async def test_one_read_per_refresh_however_many_requests_ask(replicas: Replicas) -> None:
    controls, store = replicas.one, replicas.stores[0]
    await asyncio.gather(*(controls.current() for _ in range(50)))
    assert store.calls["get_value"] == 2  # the parts and the kill switch, once
    replicas.clock.advance(seconds=1)
    await asyncio.gather(*(controls.current() for _ in range(50)))
    assert store.calls["get_value"] == 4


async def test_kept_fresh_in_the_background_requests_find_the_change_in_memory(
    replicas: Replicas,
) -> None:
    controls, clock = replicas.one, replicas.clock
    keeping = asyncio.create_task(controls.keep_fresh(interval=0.01))
    try:
        await asyncio.sleep(0.05)
        assert controls.cached(clock()) is not None
        await replicas.two.set_stopped(True, actor="ops@x")  # on another replica
        clock.advance(seconds=1)
        await asyncio.sleep(0.05)  # a background read, not a request's
        cached = controls.cached(clock())
        assert cached is not None and cached.stopped
    finally:
        keeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeping


async def test_two_ops_changing_parts_at_once_on_two_replicas_both_take_effect(
    replicas: Replicas,
) -> None:
    async def change(controls: ControlState, part: str, start: str, end: str, who: str) -> None:
        await controls.change_part(
            part, start=helsinki(start), end=helsinki(end), streamed=True, actor=who
        )

    async def meanwhile() -> None:  # after the first has read the parts, before it writes
        await change(replicas.two, "Part III", "2021-11-18T17:20", "2021-11-18T18:30", "ops-b")

    replicas.stores[0].after["get_value"] = meanwhile
    await change(replicas.one, "Part I", "2021-11-18T10:00", "2021-11-18T12:40", "ops-a")
    replicas.clock.advance(seconds=1)
    parts = {p.name: p for p in (await replicas.two.current()).schedule.parts}
    assert parts["Part I"].end == helsinki("2021-11-18T12:40")  # ops-a's change
    assert parts["Part III"].start == helsinki("2021-11-18T17:20")  # and ops-b's
    # The parts read twice (again once, over ops-b's), and the change count once.
    assert replicas.stores[0].calls["get_value"] == 3
    assert await replicas.one.sequence() == 2  # both changes counted: calendars move
    events = await replicas.stores[0].audit_events()
    assert sorted(e.actor for e in events if e.type == "schedule.changed") == ["ops-a", "ops-b"]
