"""What ops change on the day: part times and streaming, and the kill switch.

Changes are stored over the config (the store is shared, so every replica
sees them) and read through a short cache: a change takes effect everywhere
within `MAX_AGE` (1 s, well inside the 2 s promised). A background task
(`keep_fresh`) reads them twice per `MAX_AGE`, so requests find them in memory;
should it fall behind, one request reads for all. When the store does not
answer, the last known state stands. Every change is audited with who made it
and the values before and after.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, replace

from gateway.audit.log import AuditLog
from gateway.core.clock import Clock
from gateway.core.errors import GatewayError, StoreUnavailable
from gateway.core.schedule import Part, Schedule, part_problems
from gateway.core.times import in_zone, iso
from gateway.store import ValueStore

PARTS_KEY = "control.parts"
CHANGED_BY_KEY = "control.parts.changed_by"  # who made the last change, and when (JSON)
WRITE_TRIES = 5  # a change made over others' changes made meanwhile, at most this often
SEQUENCE_KEY = "control.parts.sequence"  # how many schedule changes: calendars' SEQUENCE
STOPPED_KEY = "control.stopped"
STOPPED_BY_KEY = "control.stopped_by"  # who stopped or resumed last, when and why (JSON)
log = logging.getLogger(__name__)
MAX_AGE = dt.timedelta(seconds=1)


@dataclass
class ScheduleRefused(GatewayError):
    """A change that would make the day impossible (answered 400 with the reason)."""

    reason: str

    def __str__(self) -> str:
        return self.reason


class NothingToChange(ScheduleRefused):
    """A change that leaves the parts as they are: neither applied nor audited (the command
    line says so and exits 0; the console refuses it)."""


@dataclass(frozen=True)
class Controls:
    schedule: Schedule
    stopped: bool
    changed: frozenset[str]  # names of parts ops have changed from the config


def _listed(parts: tuple[Part, ...]) -> list[dict[str, object]]:
    return [
        {
            "name": p.name,
            "start": p.start.isoformat(),
            "end": p.end.isoformat(),
            "streamed": p.streamed,
        }
        for p in parts
    ]


def _parts(listed: list[dict[str, object]]) -> tuple[Part, ...]:
    return tuple(
        Part(
            str(p["name"]),
            dt.datetime.fromisoformat(str(p["start"])),
            dt.datetime.fromisoformat(str(p["end"])),
            bool(p["streamed"]),
        )
        for p in listed
    )


def _encode(parts: tuple[Part, ...], config: tuple[Part, ...]) -> str:
    """Ops' parts, with the config's they were made over (`rebase` reads both)."""
    return json.dumps({"parts": _listed(parts), "config": _listed(config)})


def _decode(text: str) -> tuple[tuple[Part, ...], tuple[Part, ...] | None]:
    """Ops' parts and the config's they were made over (None: stored before that was kept)."""
    data = json.loads(text)
    if isinstance(data, list):
        return _parts(data), None
    return _parts(data["parts"]), _parts(data["config"])


def rebase(
    config: Schedule, parts: tuple[Part, ...], over: tuple[Part, ...] | None
) -> tuple[Schedule, str | None]:
    """Ops' `parts` (made over the config's parts `over`) over the config in force now:
    the schedule, and why ops' changes were set aside, if they were.

    Unless the config was edited since, that is ops' parts. If it was (and the gateway
    started again on it), each field the edit changed is the config's and the others
    stay as ops left them: a part the config no longer streams is not streamed, one it
    cancelled is gone, one it added is there. Should ops' changes no longer fit the
    edited config (two parts overlapping, say), the config's schedule is in force.
    """
    if over is None or over == config.parts:
        return with_parts(config, parts), None
    was = {p.name: p for p in over}
    mine = {p.name: p for p in parts}
    merged = []
    for part in config.parts:
        old, new = was.get(part.name), mine.get(part.name)
        if old is None or new is None:  # added to the config since
            merged.append(part)
            continue
        merged.append(
            Part(
                part.name,
                part.start if part.start != old.start else new.start,
                part.end if part.end != old.end else new.end,
                part.streamed if part.streamed != old.streamed else new.streamed,
            )
        )
    try:
        return with_parts(config, tuple(merged)), None
    except ScheduleRefused as exc:
        return (
            config,
            f"ops' changes do not fit the edited config ({exc}): the config's parts are in force",
        )


def _version(stored: str | None) -> str:
    return hashlib.sha256((stored or "config").encode()).hexdigest()[:16]


def with_parts(base: Schedule, parts: tuple[Part, ...]) -> Schedule:
    """`base` with these parts, checked: each ends after it starts, none overlap.

    A recording that opens after the day (the default: at the last part's end) never
    opens before the last part has ended, so a late last part pushes it back; one the
    config opens earlier on purpose stays where the config put it. Raises ScheduleRefused.
    """
    ordered = tuple(sorted(parts, key=lambda p: p.start))
    problems = part_problems(ordered)
    if problems:  # the first one is enough to refuse
        problem = problems[0]
        if problem.kind == "backwards":
            raise ScheduleRefused(f"{problem.part.name} would end before it starts")
        assert problem.other is not None  # an overlap names the part before
        raise ScheduleRefused(
            f"{problem.other.name} and {problem.part.name} would overlap "
            f"(ends {in_zone(problem.other.end, base.timezone)})"
        )
    opens = base.recording_from
    if opens >= max(p.end for p in base.parts):  # after the day as configured: as moved too
        opens = max(opens, ordered[-1].end)
    if opens >= base.recording_until:
        raise ScheduleRefused("the recording would close before the last part ends")
    return replace(base, parts=ordered, recording_from=opens)


def plan_change(
    config: Schedule, current: Schedule, changed: Part, *, move_next: bool = False
) -> tuple[Schedule, Part | None]:
    """The parts of `current` with one part changed, checked (`with_parts` over `config`):
    the new schedule, and the part moved with it if any. With `move_next`, a part extended
    into the one after it moves that one's start to its new end (its end stays), as one
    change. Raises ScheduleRefused (NothingToChange for a change that changes nothing)."""
    if changed.name not in {p.name for p in current.parts}:
        raise ScheduleRefused(f"there is no part named {changed.name!r}")
    parts = {p.name: p for p in current.parts}
    parts[changed.name] = changed
    after = next_part(current, changed.name)
    if move_next and after is not None and after.start < changed.end:
        if changed.end >= after.end:
            raise ScheduleRefused(
                f"{changed.name} would run past the end of {after.name} "
                f"({in_zone(after.end, current.timezone)}): move {after.name} first"
            )
        parts[after.name] = moved = replace(after, start=changed.end)
    else:
        moved = None
    planned = with_parts(config, tuple(parts.values()))
    if planned.parts == current.parts:  # (was applied, and audited with before = after)
        raise NothingToChange(f"nothing to change: {changed.name} is so already")
    return planned, moved


def next_part(schedule: Schedule, name: str) -> Part | None:
    """The part after `name` in time, if any."""
    names = [p.name for p in schedule.parts]
    at = names.index(name) if name in names else len(names)
    return schedule.parts[at + 1] if at + 1 < len(names) else None


AT_ONCE = "At once: "
NOT_PREVIEWED = "this change does not match its preview (missing or altered): review it again"


def consequences(old: Schedule, new: Schedule, now: dt.datetime) -> list[str]:
    """What a change means for viewers, in sentences for the confirmation page; those
    that start with AT_ONCE are said in red (something happens as soon as it is applied)."""
    tz = old.timezone
    said: list[str] = []
    before = {p.name: p for p in old.parts}
    for part in new.parts:
        was = before.get(part.name)
        if was is None or was == part:
            continue
        if part.streamed and was.holds(now) and part.end > was.end:
            said.append(
                f"Viewers of {part.name} keep watching until "
                f"{part.end.astimezone(tz):%H:%M} (was {was.end.astimezone(tz):%H:%M})."
            )
        elif part.streamed and was.holds(now) and part.end != was.end:
            if part.end <= now:
                said.append(
                    f"{AT_ONCE}Viewers of {part.name} are cut off immediately: the new end, "
                    f"{part.end.astimezone(tz):%H:%M}, has already passed."
                )
            else:
                said.append(
                    f"Viewers of {part.name} will be cut off at "
                    f"{part.end.astimezone(tz):%H:%M} (was {was.end.astimezone(tz):%H:%M})."
                )
        elif part.streamed and was.end <= now < part.end and part.start <= now:
            said.append(
                f"{AT_ONCE}{part.name} goes live again now, until "
                f"{part.end.astimezone(tz):%H:%M} (it had ended at {was.end.astimezone(tz):%H:%M})."
            )
        elif part.streamed and part.start != was.start:
            said.append(
                f"{part.name} will open at {in_zone(part.start, tz)} "
                f"(was {was.start.astimezone(tz):%H:%M})."
            )
        elif part.end != was.end:
            said.append(
                f"{part.name} will end at {in_zone(part.end, tz)} "
                f"(was {was.end.astimezone(tz):%H:%M})."
            )
        elif part.start != was.start:
            said.append(
                f"{part.name} will start at {part.start.astimezone(tz):%H:%M} "
                f"(was {was.start.astimezone(tz):%H:%M})."
            )
        if part.end < was.end:
            following = next((p for p in new.parts if p.start >= was.end), None)
            gap_end = following.start if following is not None else was.end
            said.append(
                f"Nothing runs from {part.end.astimezone(tz):%H:%M} to "
                f"{gap_end.astimezone(tz):%H:%M}: the gap this change leaves"
                + (f" before {following.name}." if following is not None else ".")
            )
        if part.streamed and not was.streamed and part.holds(now):
            said.append(f"{AT_ONCE}{part.name} is streamed from now: viewers see it at once.")
        elif part.streamed != was.streamed:
            said.append(
                f"{part.name} will {'be' if part.streamed else 'NOT be'} streamed"
                + (
                    " — live viewers are cut off at once."
                    if was.holds(now) and not part.streamed
                    else "."
                )
            )
    if new.recording_from != old.recording_from:
        said.append(f"The recording will open at {in_zone(new.recording_from, tz)}.")
    return said or ["Nothing changes for viewers."]


class ControlState:
    def __init__(self, config: Schedule, store: ValueStore, audit: AuditLog, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.audit = audit
        self.clock = clock
        self._cached: tuple[Controls, dt.datetime] | None = None
        self._reading = asyncio.Lock()
        self._changes = 0  # changes made through this object: a read begun before one is stale
        self._set_aside: str | None = None  # the stored parts last set aside (logged once)

    def cached(self, now: dt.datetime) -> Controls | None:
        """`current`'s answer if it comes from memory (the hot path: no coroutine)."""
        cached = self._cached
        if cached is not None and now - cached[1] < MAX_AGE:
            return cached[0]
        return None

    def known(self) -> Controls | None:
        """The controls last read, however long ago: for what is not a decision (a deadline
        counted from when the recording opens), never for access."""
        return None if self._cached is None else self._cached[0]

    async def current(self, now: dt.datetime | None = None) -> Controls:
        """The schedule and kill switch in force at `now` (the clock's reading if not
        given), at most MAX_AGE old."""
        now = now or self.clock()
        found = self.cached(now)
        if found is not None:
            return found
        async with self._reading:  # one read per refresh however many requests ask
            found = self.cached(now)
            if found is not None:
                return found
            return await self._refresh(now)

    async def keep_fresh(self, interval: float = MAX_AGE.total_seconds() / 2) -> None:
        """Read the store every `interval` s until cancelled, so requests find the
        controls current and never wait for a read (they still do should this fall behind)."""
        while True:
            try:
                async with self._reading:
                    await self._refresh(self.clock())
            except StoreUnavailable:
                pass  # nothing known yet: requests get 503 until the store answers
            except Exception:  # a bug, not an outage: log, go on
                log.exception("reading the ops controls failed")
            await asyncio.sleep(interval)

    async def _refresh(self, now: dt.datetime) -> Controls:
        for _ in range(WRITE_TRIES):
            changes = self._changes
            try:
                controls = await self._read()
            except StoreUnavailable:
                if self._cached is None:
                    raise
                # The last known state stands during an outage; the store is asked again
                # in MAX_AGE, not by every request meanwhile.
                controls = self._cached[0]
            if changes == self._changes:
                break  # else a change made here while reading: the read is stale, again
        self._cached = (controls, now)
        return controls

    def _changed(self) -> None:
        """A change was made through this object: forget what was read before it."""
        self._changes += 1
        self._cached = None

    async def _read(self) -> Controls:
        stored = await self.store.get_value(PARTS_KEY)
        stopped = await self.store.get_value(STOPPED_KEY) == "1"
        schedule = self._in_force(stored)
        config_parts = {p.name: p for p in self.config.parts}
        changed = frozenset(p.name for p in schedule.parts if config_parts.get(p.name) != p)
        return Controls(schedule, stopped, changed)

    def _in_force(self, stored: str | None) -> Schedule:
        """The schedule the stored parts make over the config (`rebase`); ops' changes set
        aside are logged once for each stored value, not at every read."""
        if stored is None:
            return self.config
        schedule, aside = rebase(self.config, *_decode(stored))
        if aside is not None and self._set_aside != stored:
            log.warning("schedule: %s", aside)
        self._set_aside = stored if aside is not None else None
        return schedule

    async def version(self) -> str:
        """A name for the parts in force now: a change previewed against it is applied only
        if they are still the same (`change_part(expected=...)`)."""
        return _version(await self.store.get_value(PARTS_KEY))

    async def change_part(
        self,
        name: str,
        *,
        start: dt.datetime,
        end: dt.datetime,
        streamed: bool,
        actor: str,
        expected: str | None = None,
        move_next: bool = False,
    ) -> Schedule:
        """Move a part or change whether it is streamed (with `move_next`, also the start
        of the part it now runs into: `plan_change`); each part changed is audited.
        ScheduleRefused if impossible.

        The parts are written over exactly the ones read (`Store.replace_value`):
        should another ops person change a part in between, on any replica, the
        parts are read again and this change checked and made over theirs, so
        neither is lost. With `expected` (a `version()` taken when the change was
        previewed), a change by anyone since is refused instead, naming who and when.
        """
        for _ in range(WRITE_TRIES):
            stored = await self.store.get_value(PARTS_KEY)
            if expected is not None and _version(stored) != expected:
                raise ScheduleRefused(await self._changed_since())
            current = self._in_force(stored)
            schedule, moved = plan_change(
                self.config, current, Part(name, start, end, streamed), move_next=move_next
            )
            written = _encode(schedule.parts, self.config.parts)
            if await self.store.replace_value(PARTS_KEY, stored, written):
                break
        else:
            raise ScheduleRefused("the schedule kept changing meanwhile: look at it again")
        self._changed()
        await self._count_change()
        changed_by = {"actor": actor, "at": iso(self.clock(), current.timezone)}
        await self.store.set_value(CHANGED_BY_KEY, json.dumps(changed_by))
        tz = current.timezone
        before = {p.name: p for p in current.parts}

        def fields(part: Part) -> dict[str, object]:
            return {
                "start": iso(part.start, tz),
                "end": iso(part.end, tz),
                "streamed": part.streamed,
            }

        asked = next(p for p in schedule.parts if p.name == name)
        for part in (asked, moved) if moved else (asked,):  # and the one moved with it
            await self.audit.record(
                "schedule.changed",
                actor=actor,
                part=part.name,
                before=fields(before[part.name]),
                after=fields(part),
                **({"moved_with": name} if part.name != name else {}),
            )
        return schedule

    async def day(self) -> tuple[Schedule, int]:
        """The schedule in force and its number of changes: what a mail sent now says."""
        return (await self.current()).schedule, await self.sequence()

    async def sequence(self) -> int:
        """How many schedule changes ops made: a calendar's SEQUENCE, which must rise with
        each so that calendar apps take the new times over the old."""
        return int(await self.store.get_value(SEQUENCE_KEY) or 0)

    async def _count_change(self) -> None:
        for _ in range(WRITE_TRIES * 4):  # compare-and-set: no two changes share a number
            seen = await self.store.get_value(SEQUENCE_KEY)
            if await self.store.replace_value(SEQUENCE_KEY, seen, str(int(seen or 0) + 1)):
                return
        log.warning("the schedule's change count was not raised: it kept changing")

    async def _changed_since(self) -> str:
        raw = await self.store.get_value(CHANGED_BY_KEY)
        who = json.loads(raw) if raw else {}
        if "at" not in who or "actor" not in who:  # nobody changed it: the preview is amiss
            return NOT_PREVIEWED
        at = dt.datetime.fromisoformat(who["at"]).strftime("%H:%M")
        return (
            f"the schedule was changed by {who['actor']} at {at} since you looked: review the "
            "change again"
        )

    async def set_stopped(self, stopped: bool, *, actor: str, reason: str | None = None) -> bool:
        """The kill switch: stop live serving now, or resume it; audited (with `reason`).

        Whether it changed anything: stopping what is stopped (a double submit, a stale
        page, a colleague first) or resuming what runs changes nothing, is not audited,
        and leaves who stopped it and why as they were. Compare-and-set, so of two
        replicas flipping it at once one changes it and the other finds it done."""
        for _ in range(WRITE_TRIES * 4):
            seen = await self.store.get_value(STOPPED_KEY)
            if (seen == "1") == stopped:
                return False
            if await self.store.replace_value(STOPPED_KEY, seen, "1" if stopped else "0"):
                break
        else:
            log.warning("the kill switch was not set: it kept changing")
            return False
        self._changed()
        by = {"actor": actor, "at": iso(self.clock(), self.config.timezone), "reason": reason}
        await self.store.set_value(STOPPED_BY_KEY, json.dumps(by))
        why = {"reason": reason} if reason else {}
        await self.audit.record("live.stopped" if stopped else "live.resumed", actor=actor, **why)
        return True

    async def stopped_by(self) -> tuple[str, dt.datetime, str | None] | None:
        """Who last stopped or resumed live serving, when, and why (None: nobody has)."""
        raw = await self.store.get_value(STOPPED_BY_KEY)
        if raw is None:
            return None
        by = json.loads(raw)
        return by["actor"], dt.datetime.fromisoformat(by["at"]), by.get("reason")
