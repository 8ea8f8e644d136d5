"""The archive and the recording written from it (issue 18): a simulated encoder writes a
sliding live playlist through a short day (Part I, Part II not streamed, Part III) on a
frozen clock; the archiver keeps Part I and Part III as they pass, never Part II, once
across replicas, and writes a VOD playlist with a discontinuity between the parts."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.core.clock import FrozenClock
from gateway.core.playlists import MediaPlaylist, parse
from gateway.core.schedule import LiveWindow, Part, Schedule
from gateway.store.sqlite import SqliteStore
from gateway.stream import vod
from gateway.stream.archive import (
    LEASE,
    Archiver,
    ArchiveStatus,
    Tally,
    entries,
    manifest,
    manifest_line,
    status,
    write_recording,
)
from gateway.stream.live import LiveStream
from gateway.stream.origins import make_origin
from tests.conftest import helsinki

pytestmark = pytest.mark.anyio

T0 = helsinki("2021-11-18T10:00")
SEGMENT = 2.0
PART = dt.timedelta(seconds=20)


def day() -> Schedule:
    return Schedule(
        T0.tzinfo,  # type: ignore[arg-type]
        (
            Part("Part I", T0, T0 + PART, True),
            Part("Part II", T0 + PART, T0 + 2 * PART, False),
            Part("Part III", T0 + 2 * PART, T0 + 3 * PART, True),
        ),
        T0 + 3 * PART,
        T0 + dt.timedelta(days=30),
    )


@dataclass
class Encoder:
    """Segments of SEGMENT s from T0 - 6 s, each listed once whole; the playlist keeps
    the last `window` (a sliding live playlist), with or without PROGRAM-DATE-TIME."""

    folder: Path
    pdt: bool
    window: int = 6
    fmp4: bool = False  # fragmented MP4: .m4s segments after an init section (EXT-X-MAP)
    made: list[tuple[str, dt.datetime, bytes]] = field(default_factory=list)

    def tick(self, now: dt.datetime) -> None:
        while True:
            start = T0 - dt.timedelta(seconds=6) + dt.timedelta(seconds=SEGMENT * len(self.made))
            if start + dt.timedelta(seconds=SEGMENT) > now:
                break
            name = f"seg{len(self.made)}.{'m4s' if self.fmp4 else 'ts'}"
            body = hashlib.sha256(str(self.folder / name).encode()).digest() * 300
            (self.folder / name).write_bytes(body)
            self.made.append((name, start, body))
        listed = self.made[-self.window :]
        first = len(self.made) - len(listed)
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2"]
        lines.append(f"#EXT-X-MEDIA-SEQUENCE:{first}")
        if self.fmp4:
            (self.folder / "init.mp4").write_bytes(b"init of " + str(self.folder).encode())
            lines.append('#EXT-X-MAP:URI="init.mp4"')
        for name, start, _ in listed:
            if self.pdt:
                lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{start.isoformat(timespec='milliseconds')}")
            lines += [f"#EXTINF:{SEGMENT:.3f},", name]
        (self.folder / "index.m3u8.tmp").write_text("\n".join(lines) + "\n")
        (self.folder / "index.m3u8.tmp").replace(self.folder / "index.m3u8")

    def of(self, part: Part) -> dict[str, bytes]:
        """The segments made whole inside `part`."""
        end = dt.timedelta(seconds=SEGMENT)
        return {n: b for n, s, b in self.made if part.start <= s and s + end <= part.end}


@dataclass
class Rig:
    clock: FrozenClock
    store: SqliteStore
    encoder: Encoder
    archive: Path
    live: Path

    def replica(self, owner: str) -> tuple[LiveStream, Archiver]:
        live = LiveStream(make_origin(f"file://{self.live}", timeout=1.0), self.store, self.clock)

        async def schedule() -> Schedule:
            return day()

        archiver = Archiver(live, self.store, self.archive, schedule, self.clock, owner=owner)
        return live, archiver


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    (tmp_path / "live").mkdir()
    store = SqliteStore(str(tmp_path / "gateway.db"))
    clock = FrozenClock(T0 - dt.timedelta(seconds=4))
    yield Rig(
        clock, store, Encoder(tmp_path / "live", pdt=True), tmp_path / "archive", tmp_path / "live"
    )
    await store.close()


async def run_day(rig: Rig, replicas: list[tuple[LiveStream, Archiver]], until: float = 70) -> None:
    """Through the day a second at a time: the encoder writes, every replica looks, steps."""
    while rig.clock() < T0 + dt.timedelta(seconds=until):
        rig.encoder.tick(rig.clock())
        for live, archiver in replicas:
            await live.look()
            await archiver.step()
        rig.clock.advance(seconds=1)


@pytest.mark.parametrize("pdt", [True, False], ids=["dated-by-pdt", "dated-by-watching"])
async def test_the_recording_holds_part_one_and_three_byte_for_byte_and_never_part_two(
    rig: Rig, pdt: bool
) -> None:
    rig.encoder.pdt = pdt
    await run_day(rig, [rig.replica("a")])
    one, two, three = day().parts
    wanted = {**rig.encoder.of(one), **rig.encoder.of(three)}
    if not pdt:
        # Dated by watching, a segment is known to have started up to ENCODER_LAG + a look
        # earlier than it was listed: each part's first two might hold what came before
        # it, so they were not served live, and they are not kept either.
        late = [dict(list(rig.encoder.of(p).items())[2:]) for p in (one, three)]
        wanted = {**late[0], **late[1]}
    kept = {p.name: p.read_bytes() for p in rig.archive.glob("*.ts")}
    assert kept == wanted  # byte-identical, each of them, and nothing else
    assert not set(kept) & set(rig.encoder.of(two))  # Part II was never written
    text = (rig.archive / "index.m3u8").read_text()
    playlist = parse(text, "index.m3u8")
    assert isinstance(playlist, MediaPlaylist) and playlist.ended
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
    assert [s.name for s in playlist.segments] == sorted(wanted, key=lambda n: int(n[3:-3]))
    assert text.count("#EXT-X-PROGRAM-DATE-TIME") == 2  # each part's first segment
    total = sum(s.duration for s in playlist.segments)
    assert abs(total - 40) <= (2 if pdt else 4) * SEGMENT  # the two parts' lengths
    chapters = (rig.archive / vod.CHAPTERS).read_text()
    assert "Part I\n" in chapters and "Part III\n" in chapters and "Part II\n" not in chapters
    assert "00:00:00.000 --> 00:00:" in chapters
    assert status(rig.archive).missed == 0 and status(rig.archive).segments == len(wanted)


async def test_two_replicas_archive_each_segment_once_and_one_takes_over_when_the_other_dies(
    rig: Rig,
) -> None:
    a, b = rig.replica("a"), rig.replica("b")
    await run_day(rig, [a, b], until=10)  # a holds the lease: b only looks
    assert {e.file for es in entries(rig.archive).values() for e in es}
    lines = [line for es in entries(rig.archive).values() for line in es]
    assert len(lines) == len({e.file for e in lines})
    # a dies (stops stepping): b takes over within the lease, and misses nothing listed
    died, took_over = rig.clock(), None
    while rig.clock() < T0 + dt.timedelta(seconds=70):
        rig.encoder.tick(rig.clock())
        await b[0].look()
        if await b[1].step() and took_over is None:
            took_over = rig.clock()
        rig.clock.advance(seconds=1)
    assert took_over is not None and took_over - died <= LEASE < dt.timedelta(seconds=10)
    one, _, three = day().parts
    wanted = {**rig.encoder.of(one), **rig.encoder.of(three)}
    found = [e.file for es in entries(rig.archive).values() for e in es]
    assert sorted(found) == sorted(wanted)  # each exactly once, none missed
    assert (rig.archive / "index.m3u8").exists()


async def test_a_copy_written_but_not_listed_when_its_writer_died_is_listed_once(
    rig: Rig,
) -> None:
    rig.encoder.window = 12  # the origin still lists it when the other replica takes over
    live, archiver = rig.replica("a")
    await run_day(rig, [(live, archiver)], until=12)
    manifest = rig.archive / ".archive" / "index.m3u8.jsonl"
    lines = manifest.read_text().splitlines()
    last = json.loads(lines[-1])["file"]
    manifest.write_text("\n".join(lines[:-1]) + "\n")  # died after the file, before the line
    (rig.archive / last).write_bytes(b"half")  # (and the file half-written, say)
    rig.clock.advance(seconds=LEASE.total_seconds())  # a's lease lapses
    await run_day(rig, [rig.replica("b")], until=22)
    files = [e.file for es in entries(rig.archive).values() for e in es]
    assert files.count(last) == 1 and len(files) == len(set(files))
    assert (rig.archive / last).read_bytes() == dict(rig.encoder.of(day().parts[0]))[last]


async def test_a_trim_cuts_the_pre_show(rig: Rig) -> None:
    live, archiver = rig.replica("a")
    await run_day(rig, [(live, archiver)])
    before = status(rig.archive)
    trims: dict[str, tuple[float, float | None]] = {"Part I": (10.0, None)}
    built = await write_recording(
        rig.archive, day(), rig.store, None, rig.clock, actor="ops", trims=trims
    )
    assert built.parts["Part I"] == pytest.approx(10.0)
    assert built.parts["Part III"] == pytest.approx(20.0)
    playlist = parse((rig.archive / "index.m3u8").read_text(), "index.m3u8")
    assert isinstance(playlist, MediaPlaylist) and len(playlist.segments) == 5 + 10
    assert status(rig.archive) == before  # what a trim cuts is still archived, out of sight


async def test_a_multivariant_fmp4_origin_is_archived_rendition_by_rendition(
    tmp_path: Path,
) -> None:
    """Two renditions of fragmented MP4: each archived with its init section, each written
    as a VOD under the live root's names, the root itself kept."""
    live = tmp_path / "live"
    renditions = {name: Encoder(live / name, pdt=True, fmp4=True) for name in ("hi", "lo")}
    for encoder in renditions.values():
        encoder.folder.mkdir(parents=True)
    (live / "index.m3u8").write_text(
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2000000\nhi/index.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=500000\nlo/index.m3u8\n"
    )
    store = SqliteStore(str(tmp_path / "gateway.db"))
    clock = FrozenClock(T0 - dt.timedelta(seconds=4))
    rig = Rig(clock, store, renditions["hi"], tmp_path / "archive", live)
    live_stream, archiver = rig.replica("a")
    try:
        while clock() < T0 + dt.timedelta(seconds=64):
            for encoder in renditions.values():
                encoder.tick(clock())
            await live_stream.look()
            await archiver.step()
            clock.advance(seconds=1)
    finally:
        await store.close()
    assert (rig.archive / "index.m3u8").read_text() == (live / "index.m3u8").read_text()
    one, two, three = day().parts
    for name, encoder in renditions.items():
        text = (rig.archive / name / "index.m3u8").read_text()
        playlist = parse(text, f"{name}/index.m3u8")
        assert isinstance(playlist, MediaPlaylist) and playlist.ended
        assert "#EXT-X-VERSION:6" in text and text.count('#EXT-X-MAP:URI="init.mp4"') == 2
        assert (rig.archive / name / "init.mp4").read_bytes() == (
            live / name / "init.mp4"
        ).read_bytes()
        wanted = {**encoder.of(one), **encoder.of(three)}
        kept = {p.name: p.read_bytes() for p in (rig.archive / name).glob("*.m4s")}
        assert kept == wanted and not set(kept) & set(encoder.of(two))


async def test_segment_bodies_kept_for_the_memos_stay_within_their_byte_budget(
    rig: Rig,
) -> None:
    """The live stream remembers, per name, the body it dated and decided, so that the
    next viewer of the same bytes costs nothing. It kept up to 4,096 bodies whatever
    their size: a replica's memory grew by every segment of the day (the 10-minute soak
    of `make bench`: 101 -> 221 MB). Now bodies are kept within a byte budget, the
    oldest forgotten first, and answers do not change."""
    live = LiveStream(
        make_origin(f"file://{rig.live}", timeout=1.0), rig.store, rig.clock, memo_bytes=40_000
    )
    window = LiveWindow("Part I", T0, T0 + PART, False)
    served = 0
    while rig.clock() < T0 + PART:
        rig.encoder.tick(rig.clock())
        await live.look()
        for name, start, body in rig.encoder.made[-1:]:
            if T0 <= start and start + dt.timedelta(seconds=SEGMENT) <= T0 + PART:
                piece = await live.segment(name, window)
                assert piece.body == body
                assert (await live.segment(name, window)).body == body  # from the memo
                served += 1
        assert live.memo_bytes <= 2 * 40_000  # two memos, each within its budget
        rig.clock.advance(seconds=1)
    assert served >= 8 and served * len(rig.encoder.made[0][2]) > 2 * 40_000


def _manifest_line(number: int, part: str = "Part I") -> str:
    entry = vod.Entry(
        f"v/seg{number}.ts", "v/index.m3u8", part, "2021-11-18T10:00:00+02:00", 2.0, number
    )
    return manifest_line(entry)


def test_the_dashboards_archive_line_reads_only_what_the_manifests_gained(tmp_path: Path) -> None:
    """The console's dashboard refreshes every 15 s; read whole, a day's manifests (21,000
    segments in three renditions) cost half a second of the GIL a look on a replica that
    serves viewers. The tally reads what each manifest gained since its last look (they
    are append-only), and says what `status` says."""
    (tmp_path / "v").mkdir()
    for number in range(10):
        (tmp_path / f"v/seg{number}.ts").write_bytes(b"x" * (number + 1))
    path = manifest(tmp_path, "v/index.m3u8")
    path.parent.mkdir(parents=True)
    path.write_text("".join(_manifest_line(n) for n in (0, 1, 2)))
    tally = Tally(tmp_path)
    assert tally.status() == status(tmp_path) == ArchiveStatus(3, 6, 0)
    with path.open("a") as file:  # two more, one after a gap, and half a line
        file.write(_manifest_line(3) + _manifest_line(6) + _manifest_line(7)[:20])
    assert tally.status() == status(tmp_path) == ArchiveStatus(5, 17, 2)
    with path.open("a") as file:  # the rest of the line arrives
        file.write(_manifest_line(7)[20:] + _manifest_line(0, "Part III"))
    assert tally.status() == status(tmp_path) == ArchiveStatus(7, 26, 2)
    # What was read is not read again: bytes changed in place before the end go unseen...
    text = path.read_text()
    path.write_text(text.replace('{"file"', '["file"', 1))  # the first line unreadable
    assert tally.status() == ArchiveStatus(7, 26, 2) != status(tmp_path)
    # ...but a manifest written anew (another file, or a shorter one) is read again whole.
    path.write_text("".join(_manifest_line(n) for n in (0, 1)))
    assert tally.status() == status(tmp_path) == ArchiveStatus(2, 3, 0)
    path.unlink()
    assert tally.status() == status(tmp_path) == ArchiveStatus(0, 0, 0)
