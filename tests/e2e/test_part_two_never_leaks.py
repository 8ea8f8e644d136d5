"""End to end: what an encoder writes while Part II runs never reaches a viewer (issue 14).

Real `gateway serve` processes on the real clock, over real files: a simulated encoder
(a thread, `Encoder`) writes segments into the live origin's folder every 2 s, each
segment's bytes unique and saying when they were written, and replaces `index.m3u8`
atomically after each. The tests place Part I, the unstreamed Part II and Part III
around the real clock. A segment *of Part II* is one written while Part II ran
(`Written.at` in [Part II's start, its end)): whatever the gateway's dating, such bytes
are never listed and are refused when asked for by name or by byte range.

A test waits only for moments it placed itself (`_until`), with at least a second
between any window edge and what happens around it, and polls with a deadline where
it waits for the gateway. Findings are collected per test and reported together, so
one run shows every way a test fails.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import functools
import itertools
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import httpx2
import pytest

from tests.e2e.conftest import Server, local, run_cli, stop
from tests.support import config
from tests.support.hls import listed

PERIOD = 2.0  # s between two segments, and each one's #EXTINF
SIZE = 3000  # bytes of a segment (or of a byte-range chunk)
GRACE = 60  # origin.end_grace_seconds
REFUSED = (403, 404)
Schedule = Iterable[tuple[float, Callable[[], object]]]


def _wall() -> float:
    return time.time()  # noqa: TID251 - end-to-end tests run on the real clock


def _start() -> float:
    """T: a whole second (a config's times have none smaller) about a second from now."""
    return float(math.ceil(_wall()) + 1)


def _moment(at: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(at, dt.UTC)


def _until(at: float) -> None:
    """Sleep until the wall-clock moment `at`, one the test placed."""
    delay = at - _wall()
    if delay > 0:
        time.sleep(delay)


# The encoder


@dataclass(frozen=True)
class Written:
    """What the encoder wrote: `body` into `name` (at `offset`, for a chunk) at `at`."""

    name: str
    at: float
    body: bytes
    offset: int = 0

    def since(self, t: float) -> str:
        return f"{self.name}@{self.offset} written at T{self.at - t:+.2f}s"


def _unique(name: str, at: float) -> bytes:
    head = f"written-at:{at:.6f} {name}\n".encode()
    return head + b"." * (SIZE - len(head))


def _atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


class LiveOrigin:
    """The live folder as an encoder leaves it: a file, then `index.m3u8` listing it
    replaced atomically. An EVENT playlist: every segment stays listed until `restart`."""

    def __init__(self, folder: Path, *, sequence: int = 0, target: int = 2) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.sequence = sequence
        self.target = target
        self._entries: list[list[str]] = []
        self._written: list[Written] = []
        self._lock = threading.Lock()

    def log(self) -> list[Written]:
        with self._lock:
            return list(self._written)

    def segment(
        self,
        name: str,
        *,
        date: dt.datetime | None = None,
        duration: float = PERIOD,
        listed: bool = True,
    ) -> Written:
        """Write `name` with new bytes; list it (with `date` as its PDT) and publish."""
        at = _wall()
        written = Written(name, at, _unique(name, at))
        _atomic(self.folder / name, written.body)
        with self._lock:
            self._written.append(written)
            if listed:
                stamp = date.isoformat(timespec="milliseconds") if date else None
                pdt = [f"#EXT-X-PROGRAM-DATE-TIME:{stamp}"] if stamp else []
                self._entries.append([*pdt, f"#EXTINF:{duration:.3f},", name])
        if listed:
            self.publish()
        return written

    def unlisted(self, name: str) -> Written:
        """Write `name` without listing it (or publishing the playlist)."""
        return self.segment(name, listed=False)

    def chunk(self, name: str) -> Written:
        """Append new bytes to `name`, list them as a byte range, and publish."""
        path = self.folder / name
        at = _wall()
        body = _unique(name, at)
        offset = path.stat().st_size if path.exists() else 0
        with path.open("ab") as file:
            file.write(body)
        written = Written(name, at, body, offset)
        with self._lock:
            self._written.append(written)
            self._entries.append(
                [f"#EXT-X-BYTERANGE:{len(body)}@{offset}", f"#EXTINF:{PERIOD:.3f},", name]
            )
        self.publish()
        return written

    def restart(self, *, sequence: int) -> None:
        """A restarted encoder: its playlist starts again, empty, at `sequence`."""
        with self._lock:
            self.sequence = sequence
            self._entries = []

    def rewrite(self, names: Sequence[str]) -> None:
        """Write each of `names` with new bytes and list them all, then publish once."""
        for name in names:
            at = _wall()
            written = Written(name, at, _unique(name, at))
            _atomic(self.folder / name, written.body)
            with self._lock:
                self._written.append(written)
                self._entries.append([f"#EXTINF:{PERIOD:.3f},", name])
        self.publish()

    def publish(self) -> None:
        with self._lock:
            lines = [
                "#EXTM3U",
                "#EXT-X-VERSION:4",
                f"#EXT-X-TARGETDURATION:{self.target}",
                "#EXT-X-PLAYLIST-TYPE:EVENT",
                f"#EXT-X-MEDIA-SEQUENCE:{self.sequence}",
                *itertools.chain.from_iterable(self._entries),
            ]
        _atomic(self.folder / "index.m3u8", ("\n".join(lines) + "\n").encode())


class Encoder:
    """A thread making each call of `schedule` at its wall-clock moment, every moment
    measured from one monotonic start (so it does not drift); a `with` block stops it."""

    def __init__(self, schedule: Schedule) -> None:
        self._schedule = iter(schedule)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="encoder", daemon=True)
        self._wall0, self._mono0 = _wall(), time.monotonic()

    def _run(self) -> None:
        for at, action in self._schedule:
            delay = self._mono0 + (at - self._wall0) - time.monotonic()
            if self._stopped.wait(max(0.0, delay)):
                return
            action()

    def __enter__(self) -> Encoder:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stopped.set()
        self._thread.join(10)


def every(first: float, action: Callable[[int], object], count: int | None = None) -> Schedule:
    """`action(i)` at `first + i * PERIOD`, for ever or `count` times."""
    numbers: Iterator[int] = itertools.count() if count is None else iter(range(count))
    for i in numbers:
        yield first + i * PERIOD, functools.partial(action, i)


# The gateway


def _config(
    folder: Path, live: Path, t: float, part_one_end: int, part_two_end: int, *, db: Path
) -> Path:
    """Part I [T-5 min, T+part_one_end), Part II up to T+part_two_end (not streamed),
    Part III on to T+15 min; the live origin `live`, the SQLite store `db`."""

    def at(seconds: int) -> str:
        return local(_moment(t + seconds))

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "event.toml"
    path.write_text(
        config.event_toml(
            title="Part II never leaks",
            public_url="http://127.0.0.1",
            parts=[
                config.part("Part I", at(-300), at(part_one_end)),
                config.part("Part II", at(part_one_end), at(part_two_end), streamed=False),
                config.part("Part III", at(part_two_end), at(900)),
            ],
            recording_until=at(86_400),
            live=f"file://{live}",
            recording="recording",
            store_url=f"sqlite:///{db}",
            end_grace_seconds=GRACE,
        )
    )
    return path


def _register(config_path: Path, email: str) -> str:
    """A personal link for `email` (added now, or the one it has)."""
    added = run_cli(config_path, "registrants", "add", "--email", email, "--name", "Viewer")
    return added.stdout.strip().splitlines()[-1]


def _viewer(server: Server, link: str) -> httpx2.Client:
    """A browser of its own, logged in with `link`."""
    browser = server.client()
    answer = browser.get(urlsplit(link).path, follow_redirects=False)
    assert answer.status_code == 303, (answer.status_code, answer.text[:200])
    return browser


def _playlist(viewer: httpx2.Client) -> str:
    answer = viewer.get("/live/index.m3u8")
    assert answer.status_code == 200, (answer.status_code, answer.text[:300])
    return answer.text


_BYTERANGE = re.compile(r"#EXT-X-BYTERANGE:([0-9]+)@([0-9]+)")


def _ranges(playlist: str) -> list[tuple[int, int]]:
    """The (offset, length) of each byte range a served playlist lists."""
    return [(int(m[2]), int(m[1])) for m in _BYTERANGE.finditer(playlist)]


class Findings:
    """What a test found wrong, each said once, asserted together at the end."""

    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def check(self, ok: bool, key: str, message: str) -> None:
        if not ok and key not in self.found:
            self.found[key] = message

    def assert_none(self) -> None:
        assert not self.found, "\n" + "\n".join(self.found.values())


# The tests


@pytest.mark.timeout(120)
def test_no_pdt_origin_restart_after_part_two_never_lists_part_two(
    tmp_path: Path, start_server: Callable[[Path], Server]
) -> None:
    """Two gateways watch one PDT-less origin in Part I and stop before Part II; both
    start again in Part III, A on its store, B on a new one. Neither lists or serves
    a segment written during Part II; both play what is written after they restart."""
    t = _start()
    part_two = (t + 8, t + 16)
    live = tmp_path / "live"
    origin = LiveOrigin(live)
    stores = {g: tmp_path / f"{g}.db" for g in "ab"}
    configs = {g: _config(tmp_path / g, live, t, 8, 16, db=stores[g]) for g in "ab"}

    def launch_all() -> dict[str, tuple[Server, float]]:
        def one(g: str) -> tuple[Server, float]:
            server = start_server(configs[g])
            return server, _wall()

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            return dict(zip("ab", pool.map(one, "ab"), strict=True))

    findings = Findings()
    # Segments at T+1, T+3, ...: a second from each edge (T+8, T+16).
    with Encoder(every(t + 1, lambda i: origin.segment(f"seg{i}.ts"))):
        _until(t)
        first = launch_all()
        _until(t + 5)
        for server, _ in first.values():
            stop(server)
        links = {"a": _register(configs["a"], "a@example.org")}
        _register(configs["b"], "b@example.org")
        for leftover in stores["b"].parent.glob("b.db*"):
            leftover.unlink()  # B's store, its -wal and -shm: gone
        links["b"] = _register(configs["b"], "b@example.org")  # registered again
        _until(t + 20)
        again = launch_all()
        viewers = {g: _viewer(server, links[g]) for g, (server, _) in again.items()}
        of_part_two = [w for w in origin.log() if part_two[0] <= w.at < part_two[1]]
        assert len(of_part_two) >= 3, [w.since(t) for w in origin.log()]
        played: dict[str, str] = {}
        last: dict[str, list[str]] = {}
        deadline = t + 34
        while (len(played) < 2 or _wall() < t + 27) and _wall() < deadline:
            for g, viewer in viewers.items():
                names = last[g] = listed(_playlist(viewer))
                for w in of_part_two:
                    findings.check(
                        w.name not in names,
                        f"{g} lists {w.name}",
                        f"gateway {g.upper()} lists {w.since(t)} (Part II) at "
                        f"T{_wall() - t:+.1f}s: {names}",
                    )
                    status = viewer.get(f"/live/{w.name}").status_code
                    findings.check(
                        status in REFUSED,
                        f"{g} serves {w.name}",
                        f"gateway {g.upper()} answers {status} for {w.since(t)} (Part II) at "
                        f"T{_wall() - t:+.1f}s",
                    )
                restarted = again[g][1]
                fresh = [w for w in origin.log() if w.at > restarted + 1 and w.name in names]
                if fresh and g not in played:
                    answer = viewer.get(f"/live/{fresh[0].name}")
                    findings.check(
                        (answer.status_code, answer.content) == (200, fresh[0].body),
                        f"{g} plays {fresh[0].name}",
                        f"gateway {g.upper()} answers {answer.status_code} for "
                        f"{fresh[0].since(t)}, listed after its restart, not its bytes",
                    )
                    played[g] = fresh[0].name
            time.sleep(0.5)
    for g in "ab":
        findings.check(
            g in played,
            f"{g} lists nothing new",
            f"gateway {g.upper()} (restarted T{again[g][1] - t:+.1f}s) listed no segment "
            f"written a second after its restart by T+34s: {last.get(g)}",
        )
    findings.assert_none()


def _byte_ranges(
    start_server: Callable[[Path], Server], t: float, tmp_path: Path, way: str
) -> Findings:
    """One file grows by a chunk every 2 s, each listed as a byte range. In the grace
    after Part I, only Part I's ranges are listed; one answers 206 with its bytes; the
    whole file and a range written in Part II are refused."""
    part_one_end = t + 6
    origin = LiveOrigin(tmp_path / "live")
    config_path = _config(tmp_path, tmp_path / "live", t, 6, 30, db=tmp_path / "gateway.db")
    findings = Findings()
    # Chunks at T+1, T+3, T+5 (Part I), T+7, T+9, ... (Part II).
    with Encoder(every(t + 1, lambda i: origin.chunk("stream.ts"))):
        server = start_server(config_path)  # before T: the ways start side by side
        viewer = _viewer(server, _register(config_path, "v@example.org"))
        _until(t)
        _until(t + 11)
        playlist = _playlist(viewer)
        chunks = {w.offset: w for w in origin.log()}
        ranges = _ranges(playlist)
        assert listed(playlist) == ["stream.ts"] * len(ranges), playlist
        assert ranges, f"no byte range listed in the grace: {playlist}"
        for offset, length in ranges:
            chunk = chunks.get(offset)
            findings.check(
                chunk is not None and len(chunk.body) == length and chunk.at < part_one_end,
                f"lists {offset}",
                f"lists bytes {offset}+{length}: "
                + (chunk.since(t) if chunk else "no chunk starts there")
                + f" (Part I ends at T+6s); served playlist:\n{playlist}",
            )
        offset, length = ranges[0]
        first = chunks[offset] if offset in chunks else None
        assert first is not None, f"no chunk starts at {offset}: {playlist}"
        span = f"bytes={offset}-{offset + length - 1}"
        inside = viewer.get("/live/stream.ts", headers={"Range": span})
        findings.check(
            (inside.status_code, inside.content) == (206, first.body),
            "206",
            f"a Range request ({span}) for the listed {first.since(t)} answers "
            f"{inside.status_code} ({len(inside.content)} bytes), not 206 with its {length} bytes",
        )
        whole = viewer.get("/live/stream.ts")
        findings.check(
            whole.status_code in (403, 416),
            "whole",
            f"a GET of the whole stream.ts (Part II chunks in it) answers {whole.status_code} "
            f"({len(whole.content)} bytes)",
        )
        of_part_two = [w for w in origin.log() if w.at >= part_one_end]
        assert of_part_two, [w.since(t) for w in origin.log()]
        for w in of_part_two:
            span = f"bytes={w.offset}-{w.offset + len(w.body) - 1}"
            answer = viewer.get("/live/stream.ts", headers={"Range": span})
            findings.check(
                answer.status_code in (403, 416),
                f"range {w.offset}",
                f"a Range request for {w.since(t)} (Part II) answers {answer.status_code}"
                + (" with its bytes" if w.body in answer.content else ""),
            )
    return findings


def _rewrites(origin: LiveOrigin, t: float, how: str) -> Schedule:
    """The restarted encoder, from T+9 (Part II): r0, r1, r2 with new bytes."""
    names = ["r0.ts", "r1.ts", "r2.ts"]
    yield t + 9, functools.partial(origin.restart, sequence=0)
    if how == "regrowing":  # listed again as it writes them, one every 2 s
        yield from every(t + 9, lambda i: origin.segment(names[i]), count=3)
    else:  # all three at once: the same playlist text, or renumbered from 3 back to 0
        yield t + 9, functools.partial(origin.rewrite, names)


Way = Callable[[Callable[[Path], Server], float, Path, str], Findings]


@pytest.mark.timeout(120)
def test_in_the_grace_after_part_one_no_byte_of_part_two_is_served(
    tmp_path: Path, start_server: Callable[[Path], Server]
) -> None:
    """Part I ends at T+6, Part II runs to T+30; each way below has its own encoder,
    folder and gateway, all on one timeline (the suite waits for the real windows once,
    not once per way): byte ranges, reused names (three ways), a segment straddling
    Part I's end (two ways). Every way's findings are reported together. The six
    gateways start before T, so T is further off than in the other tests."""
    t = _start() + 10
    ways: dict[str, Way] = {
        "byte_ranges": _byte_ranges,
        "same_text": _reused_names,
        "renumbered": _reused_names,
        "regrowing": _reused_names,
        "up_front": _straddling,
        "live": _straddling,
    }
    with concurrent.futures.ThreadPoolExecutor(len(ways)) as pool:
        found = list(pool.map(lambda way: ways[way](start_server, t, tmp_path / way, way), ways))
    findings = Findings()
    for each in found:
        findings.found.update(each.found)
    findings.assert_none()


def _reused_names(
    start_server: Callable[[Path], Server], t: float, tmp_path: Path, how: str
) -> Findings:
    """r0, r1, r2 are written in Part I (from T, one every 2 s, no PDT) and played;
    at T+9 (Part II) a restarted encoder writes them again with new bytes and lists
    them again: `same_text` the playlist byte for byte as before; `renumbered` all
    three at once from `#EXT-X-MEDIA-SEQUENCE:0` where the first encoder counted from
    3; `regrowing` one by one from sequence 0, as a restarted encoder does. In the
    grace, none of the new bytes is served, from half a second after the rewrite on."""
    origin = LiveOrigin(tmp_path / "live", sequence=3 if how == "renumbered" else 0)
    config_path = _config(tmp_path, tmp_path / "live", t, 6, 30, db=tmp_path / "gateway.db")
    findings = Findings()
    first = every(t, lambda i: origin.segment(f"r{i}.ts"), count=3)
    with Encoder(itertools.chain(first, _rewrites(origin, t, how))):
        server = start_server(config_path)  # before T: the ways start side by side
        viewer = _viewer(server, _register(config_path, "v@example.org"))
        _until(t)

        def plays_r0() -> bool:
            originals = {w.name: w for w in origin.log()}  # r0 is written at T
            answer = viewer.get("/live/r0.ts")
            wanted = (200, originals["r0.ts"].body) if "r0.ts" in originals else None
            return (answer.status_code, answer.content) == wanted

        played = plays_r0()
        while not played and _wall() < t + 5:  # Part I plays before the test goes on
            time.sleep(0.25)
            played = plays_r0()
        assert played, f"r0.ts did not play in Part I (by T{_wall() - t:+.1f}s)"
        _until(t + 5)  # r2 written at T+4
        originals = {w.name: w for w in origin.log()}
        assert sorted(originals) == ["r0.ts", "r1.ts", "r2.ts"]
        _until(t + 9.5)  # from just after the rewrite, as a player keeps asking
        while _wall() < t + 15:
            names = listed(_playlist(viewer))
            rewritten = {w.name: w for w in origin.log() if w.at > t + 8}
            for name, original in originals.items():
                answer = viewer.get(f"/live/{name}")
                new = rewritten.get(name)
                findings.check(
                    new is None or answer.content != new.body,
                    f"{name} new",
                    f"{how}: GET {name} answers {answer.status_code} with its bytes "
                    f"{new.since(t) if new else ''} (Part II) at T{_wall() - t:+.1f}s; "
                    f"the playlist listed {names}",
                )
                findings.check(
                    answer.status_code in REFUSED
                    or answer.content in (original.body, new.body if new else None),
                    f"{name} status",
                    f"{how}: GET {name} answers {answer.status_code} "
                    f"{answer.content[:60]!r} at T{_wall() - t:+.1f}s",
                )
            time.sleep(0.25)
    return findings


def _straddling(
    start_server: Callable[[Path], Server], t: float, tmp_path: Path, when: str
) -> Findings:
    """10 s segments with a PDT each; Part I ends at E = T+6. d0, d1 (dated E-41,
    E-31) are inside it and ended before the gateway started; d2 (E-11) ends at E-1;
    d3 (E-1) runs 9 s into Part II. `up_front`: all four listed before T; `live`: d2
    listed when it ends (T+5), d3's file written at T+2 but listed only when it ends
    (T+15). In Part I and in the grace, d3 is never listed and is refused; the
    segments inside Part I that ended before they were listed are listed and play."""
    e = t + 6
    helsinki = dt.timezone(dt.timedelta(hours=2))
    dates = {
        f"d{i}.ts": _moment(e + offset).astimezone(helsinki)
        for i, offset in enumerate((-41, -31, -11, -1))
    }
    origin = LiveOrigin(tmp_path / "live", target=10)
    config_path = _config(tmp_path, tmp_path / "live", t, 6, 30, db=tmp_path / "gateway.db")
    findings = Findings()
    segment = functools.partial(origin.segment, duration=10.0)
    schedule: list[tuple[float, Callable[[], object]]] = []
    if when == "up_front":
        for name, date in dates.items():
            segment(name, date=date)
    else:
        segment("d0.ts", date=dates["d0.ts"])
        segment("d1.ts", date=dates["d1.ts"])
        schedule = [
            (t + 2, functools.partial(origin.unlisted, "d3.ts")),
            (t + 5, functools.partial(segment, "d2.ts", date=dates["d2.ts"])),
            (t + 15, functools.partial(segment, "d3.ts", date=dates["d3.ts"])),
        ]

    def check(phase: str, start: float, end: float, must: set[str]) -> None:
        """From `start` to `end`: d3 never listed or served; `must` listed (once the
        gateway has caught up) and each listed segment plays."""
        _until(start)
        names: list[str] = []
        caught_up = False  # `must` listed at some look in the phase (a starved CPU is slow)
        while _wall() < end:
            names = listed(_playlist(viewer))
            caught_up = caught_up or must <= set(names)
            findings.check(
                set(names) <= {"d0.ts", "d1.ts", "d2.ts"},
                f"{phase} lists more",
                f"{phase}: listed {names} at T{_wall() - t:+.1f}s (nothing but d0, d1, d2)",
            )
            log = {w.name: w for w in origin.log()}  # the newest write of each
            findings.check(
                "d3.ts" not in names,
                f"{phase} lists d3",
                f"{phase}: d3.ts (dated E-1 s, 10 s long) listed at T{_wall() - t:+.1f}s: {names}",
            )
            if "d3.ts" in log:
                answer = viewer.get("/live/d3.ts")
                findings.check(
                    answer.status_code in REFUSED,
                    f"{phase} serves d3",
                    f"{phase}: GET d3.ts answers {answer.status_code} at T{_wall() - t:+.1f}s",
                )
            for name in names:
                answer = viewer.get(f"/live/{name}")
                findings.check(
                    (answer.status_code, answer.content) == (200, log[name].body),
                    f"{phase} plays {name}",
                    f"{phase}: GET {name} (listed) answers {answer.status_code}",
                )
            time.sleep(0.25)
        findings.check(
            caught_up,
            f"{phase} listing",
            f"{phase}: never listed {sorted(must)} from T{start - t:+.1f}s to "
            f"T{_wall() - t:+.1f}s (last: {names})",
        )

    with Encoder(schedule):
        server = start_server(config_path)  # before T: the ways start side by side
        viewer = _viewer(server, _register(config_path, "v@example.org"))
        _until(t)
        inside = {"d0.ts", "d1.ts"}
        check("Part I", t + 2, t + 4.5, inside)
        if when == "up_front":
            check("grace", t + 7.5, t + 10, inside)
        else:
            check("grace", t + 7.5, t + 10, inside | {"d2.ts"})
            check("grace after d3", t + 15.5, t + 19, inside | {"d2.ts"})
    return findings
