"""The archive: the streamed parts' live segments, kept as they first pass.

With `recording.archive`, one replica at a time (the holder of a lease in the
store, `Lease`) copies every segment the live origin lists that is dated whole
inside a streamed part into `recording.archive_dir`: through `LiveStream.segment`,
the very check that serves it to viewers, so the bytes kept are the bytes that
were dated. A segment of a part that is not streamed, or an undated one, is
never read and never written: the recording cannot hold what was never stored.
Each copy is written whole (a temporary file renamed) and then listed in its
playlist's manifest (`.archive/<playlist>.jsonl`, one JSON line per segment).
A replica that takes the lease over (within `LEASE` of the holder's last step)
reads the manifests and copies whatever the origin still lists and they lack;
nothing is listed twice. A copy written but not yet listed when its writer died
is written again, whole, and listed.

When the last streamed part is over (and its last segments had time to be
listed, `SETTLE`), the holder writes the recording (`vod.build`), audited as
`recording.built`; again should a late segment of it still be copied.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gateway.audit.log import AuditLog
from gateway.core import playlists
from gateway.core.clock import Clock
from gateway.core.dating import ENCODER_LAG
from gateway.core.errors import GatewayError, StoreUnavailable
from gateway.core.playlists import MediaPlaylist, Segment
from gateway.core.schedule import LiveWindow, Part, Schedule
from gateway.store import Store, ValueStore
from gateway.stream import vod
from gateway.stream.live import LiveStream
from gateway.stream.vod import META, Entry, write_whole

log = logging.getLogger(__name__)
LEASE_KEY = "archive:lease"
BUILT_KEY = "archive:built"  # the end of the day whose recording was written
LEASE = dt.timedelta(seconds=6)  # a dead holder's lease lapses: another takes over in < 10 s
# After the last streamed part: its last segments are listed up to ENCODER_LAG after its
# end, and seen at the next look; then the recording is written.
SETTLE = dt.timedelta(seconds=ENCODER_LAG + 1)


class Lease:
    """One holder at a time for a job shared by replicas: `owner|expires` under `key`,
    taken when free or lapsed, renewed by its holder at each step (compare-and-set)."""

    def __init__(
        self, store: ValueStore, key: str, clock: Clock, *, owner: str, length: dt.timedelta
    ) -> None:
        self.store = store
        self.key = key
        self.clock = clock
        self.owner = owner
        self.length = length

    async def hold(self) -> bool:
        """Take or renew the lease; whether this owner holds it now."""
        now = self.clock()
        current = await self.store.get_value(self.key)
        if current is not None:
            owner, _, until = current.partition("|")
            try:
                lapsed = dt.datetime.fromisoformat(until) <= now
            except ValueError:
                lapsed = True
            if owner != self.owner and not lapsed:
                return False
        mine = f"{self.owner}|{(now + self.length).isoformat()}"
        return await self.store.replace_value(self.key, current, mine)


def file_for(segment: Segment) -> str | None:
    """Where a segment is kept, relative to the folder: its name, with its byte range
    when it is part of a resource (`seg.ts` → `seg.1000-500.ts`)."""
    if segment.name is None:
        return None
    if segment.byterange is None:
        return segment.name
    stem, dot, suffix = segment.name.rpartition(".")
    offset, length = segment.byterange
    return f"{stem}.{offset}-{length}{dot}{suffix}" if dot else f"{suffix}.{offset}-{length}"


def manifest(folder: Path, playlist: str) -> Path:
    return folder / META / f"{playlist}.jsonl"


def manifests(folder: Path) -> list[Path]:
    """Every manifest in the archive `folder`, in order."""
    meta = folder / META
    return sorted(meta.rglob("*.jsonl")) if meta.is_dir() else []


def entries(folder: Path) -> dict[str, list[Entry]]:
    """Every manifest's entries by playlist; a line cut short by a crash is skipped."""
    found: dict[str, list[Entry]] = {}
    meta = folder / META
    for path in manifests(folder):
        playlist = str(path.relative_to(meta))[: -len(".jsonl")]
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = _entry(line)
            if entry is not None:
                found.setdefault(playlist, []).append(entry)
    return found


def manifest_line(entry: Entry) -> str:
    """The line a manifest gains for a kept segment (`_entry` reads it back)."""
    return json.dumps(asdict(entry)) + "\n"


def _entry(line: str) -> Entry | None:
    """A manifest line's entry; None for a line cut short by a crash."""
    try:
        return Entry(**json.loads(line))
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class ArchiveStatus:
    """What the dashboard says: segments kept, their bytes, and the gaps (segments of a
    streamed part the origin stopped listing before they were kept)."""

    segments: int
    size: int
    missed: int


def status(folder: Path) -> ArchiveStatus:
    """The archive's counts, every manifest read whole (a `Tally` keeps them up to date)."""
    return Tally(folder).status()


@dataclass
class _Read:
    """What one manifest has said so far, up to `offset` (whole lines only)."""

    inode: int
    offset: int = 0
    segments: int = 0
    size: int = 0
    sequences: dict[str, set[int]] = field(default_factory=dict)  # by part

    def add(self, folder: Path, line: str) -> None:
        """One manifest line; one cut short by a crash is skipped."""
        entry = _entry(line)
        if entry is None:
            return
        self.segments += 1
        for kept in (folder / entry.file, folder / vod.CUT / entry.file):  # (trimmed: cut)
            if kept.is_file():
                self.size += kept.stat().st_size
                break
        self.sequences.setdefault(entry.part, set()).add(entry.sequence)

    def missed(self) -> int:
        """Sequence numbers a part skipped: between its first and last, those not kept."""
        return sum(max(seen) - min(seen) + 1 - len(seen) for seen in self.sequences.values())


class Tally:
    """The archive's `ArchiveStatus`, kept by reading only what each manifest gained since
    the last look: the archiver only ever appends whole lines to them (`Archiver._note`).
    The console's dashboard asks every 15 s; read whole, a day's manifests (21,000
    segments in three renditions) took half a second of the GIL a look. A manifest that
    is another file now, or shorter than what was read, is read again whole; bytes
    changed in place before its end would go unseen (nothing writes them so). Safe to
    call from worker threads."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._reads: dict[Path, _Read] = {}
        self._lock = threading.Lock()

    def status(self) -> ArchiveStatus:
        with self._lock:
            reads = {
                path: self._read(path, self._reads.get(path)) for path in manifests(self.folder)
            }
            self._reads = {path: read for path, read in reads.items() if read is not None}
            kept = self._reads.values()
            return ArchiveStatus(
                sum(r.segments for r in kept),
                sum(r.size for r in kept),
                sum(r.missed() for r in kept),
            )

    def _read(self, path: Path, known: _Read | None) -> _Read | None:
        try:
            info = path.stat()
        except FileNotFoundError:
            return None
        if known is None or known.inode != info.st_ino or info.st_size < known.offset:
            known = _Read(info.st_ino)
        if info.st_size > known.offset:
            with path.open("rb") as file:
                file.seek(known.offset)
                gained = file.read(info.st_size - known.offset)
            whole = gained[: gained.rfind(b"\n") + 1]  # a line still being written: next time
            known.offset += len(whole)
            for line in whole.decode("utf-8", errors="replace").splitlines():
                known.add(self.folder, line)
        return known


class Archiver:
    """`step` once a second in every replica (`run`); the lease's holder does the work."""

    def __init__(
        self,
        live: LiveStream,
        store: Store,
        folder: Path,
        schedule: Callable[[], Awaitable[Schedule]],
        clock: Clock,
        *,
        audit: AuditLog | None = None,
        owner: str | None = None,
        describe: Callable[[str], str] | None = None,
    ) -> None:
        self.live = live
        self.store = store
        self.folder = folder
        self.schedule = schedule
        self.clock = clock
        self.audit = audit
        self.describe = describe  # a part's description, for the chapters
        self.tally = Tally(folder)  # the dashboard's archive line
        owner = owner or f"replica-{secrets.token_hex(4)}"
        self.lease = Lease(store, LEASE_KEY, clock, owner=owner, length=LEASE)
        self._kept: set[str] | None = None  # the files listed, read when the lease is taken

    async def run(self, interval: float = 1.0) -> None:
        """`step` every `interval` s until cancelled; a failing step is logged, never fatal."""
        while True:
            try:
                await self.step()
            except StoreUnavailable:
                pass  # no lease without the store: the next step tries again
            except OSError as exc:
                log.warning("archive: cannot write to %s: %s", self.folder, exc)
            await asyncio.sleep(interval)

    async def step(self) -> int:
        """If this replica holds the lease: copy what is new, and write the recording once
        the day's streaming is over (`SETTLE` after the last streamed part; again if a late
        segment of it was copied since). How many segments were copied."""
        if not await self.lease.hold():
            self._kept = None  # another replica writes: read the manifests when it is ours
            return 0
        schedule = await self.schedule()
        copied = await self.copy(schedule)
        streamed = [p for p in schedule.parts if p.streamed]
        if streamed and self.clock() >= streamed[-1].end + SETTLE:
            day = streamed[-1].end.isoformat()  # a rehearsal's recording is not the day's
            if copied or await self.store.get_value(BUILT_KEY) != day:
                await self.build(schedule, actor="gateway")
        return copied

    async def copy(self, schedule: Schedule) -> int:
        """Copy every listed segment dated whole in a streamed part that the folder lacks."""
        parts = [p for p in schedule.parts if p.streamed]
        root = self.live.root_text()
        if root is not None and not (self.folder / META / "root.m3u8").exists():
            write_whole(self.folder / META / "root.m3u8", root)
        if self._kept is None:
            found = await asyncio.to_thread(entries, self.folder)
            self._kept = {e.file for listed in found.values() for e in listed}
        kept = self._kept
        copied = 0
        for playlist, listed, dated in self.live.listed():
            context: list[str] = []  # the KEY and MAP lines in effect
            for segment, when in zip(listed.segments, dated, strict=True):
                context = playlists.context_after(context, segment)
                part = next((p for p in parts if when and when.inside(p.start, p.end)), None)
                name = file_for(segment)
                if name is None or when is None or part is None:
                    continue  # not streamed, or not dated: never read, never kept
                if name in kept:
                    continue
                if not await self.lease.hold():  # a step slower than the lease: let go
                    self._kept = None
                    return copied
                entry = Entry(
                    name,
                    playlist,
                    part.name,
                    when.start.isoformat(),
                    segment.duration,
                    segment.sequence,
                    segment.discontinuous,
                    context,
                )
                if await self._copy_one(segment, entry, part, listed, playlist):
                    kept.add(name)
                    copied += 1
        return copied

    async def _copy_one(
        self, segment: Segment, entry: Entry, part: Part, listed: MediaPlaylist, playlist: str
    ) -> bool:
        """The segment's bytes, checked as they would be served, and what it needs to play
        (its init section, its key), written whole; then listed in the manifest."""
        window = LiveWindow(part.name, part.start, part.end, ended=False)
        ranged = None
        if segment.byterange is not None:
            offset, length = segment.byterange
            ranged = f"bytes={offset}-{offset + length - 1}"
        try:
            piece = await self.live.segment(segment.name or entry.file, window, ranged)
            for support in playlists.support_names(listed, playlist):
                if not (self.folder / support).exists():
                    data = await self.live.origin.fetch(support)
                    await asyncio.to_thread(write_whole, self.folder / support, data)
        except GatewayError as exc:
            log.info("archive: %s not copied: %s", entry.file, exc)
            return False
        await asyncio.to_thread(write_whole, self.folder / entry.file, piece.body)
        await asyncio.to_thread(self._note, entry)
        return True

    def _note(self, entry: Entry) -> None:
        path = manifest(self.folder, entry.playlist)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as file:
            file.write(manifest_line(entry))

    async def build(self, schedule: Schedule, *, actor: str) -> vod.Built:
        return await write_recording(
            self.folder,
            schedule,
            self.store,
            self.audit,
            self.clock,
            actor=actor,
            describe=self.describe,
        )


async def write_recording(
    folder: Path,
    schedule: Schedule,
    store: ValueStore,
    audit: AuditLog | None,
    clock: Clock,
    *,
    actor: str,
    trims: dict[str, tuple[float, float | None]] | None = None,
    describe: Callable[[str], str] | None = None,
) -> vod.Built:
    """Write the recording from the archive in `folder` (see `vod.build`), audited as
    `recording.built` with each part's duration (and the trims, if any)."""
    built = await asyncio.to_thread(
        vod.build, folder, schedule, entries(folder), trims or {}, describe
    )
    streamed = [p for p in schedule.parts if p.streamed]
    if streamed:
        await store.set_value(BUILT_KEY, streamed[-1].end.isoformat())
    if audit is not None:
        detail: dict[str, Any] = {
            "parts": {name: round(seconds, 3) for name, seconds in built.parts.items()},
            "segments": built.segments,
        }
        if trims:
            detail["trim"] = {name: list(span) for name, span in trims.items()}
        await audit.record("recording.built", actor=actor, **detail)
    log.info("recording written: %s", built)
    return built
