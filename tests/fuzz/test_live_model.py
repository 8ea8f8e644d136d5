"""A stateful model of the encoder against the live stream: Part II never leaks, whatever fails.

The session model (test_model.py) drives who may watch; this one drives what
they may see. Hypothesis plays an encoder (segments of 1-4 s, with or without
PROGRAM-DATE-TIME, published up to `ENCODER_LAG` after they end; pauses, each
marked with a discontinuity; restarts that reuse names with new content; one
growing file listed in byte ranges; bursts of segments listed at once; clock
jumps of 30 s or more that make its PDT wrong) and a
gateway (`LiveStream` on a file origin and a SQLite store, driven in process:
looks at the playlist, gaps in looking, restarts with the store kept or lost),
and viewers who fetch the playlist, every segment it lists and every name ever
written, whole or in byte ranges. After every request, each byte served must
come from content made inside the streamed part of the window (half a second
of `TOLERANCE` at each edge).

The cases it leaves out are the documented ones (README, live playlists): a
PDT that was wrong before any gateway watched it, read on a first look, is
believed (such segments are marked and not checked), and a PDT wrong by less
than the look interval and `ENCODER_LAG` cannot be told from a right one (the
jumps drawn are larger).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from gateway.core import dating
from gateway.core.clock import FrozenClock
from gateway.core.errors import AccessRefused, GatewayError
from gateway.core.schedule import LiveWindow, Part, Schedule, live_window
from gateway.store.sqlite import SqliteStore
from gateway.stream.live import LiveStream
from gateway.stream.origins import make_origin
from tests.conftest import helsinki

T0 = helsinki("2021-11-18T10:00")
GRACE = dt.timedelta(seconds=20)
SCHEDULE = Schedule(
    ZoneInfo("Europe/Helsinki"),
    (
        Part("Part I", T0, T0 + dt.timedelta(seconds=60), True),
        Part("Part II", T0 + dt.timedelta(seconds=60), T0 + dt.timedelta(seconds=120), False),
        Part("Part III", T0 + dt.timedelta(seconds=120), T0 + dt.timedelta(seconds=200), True),
    ),
    T0 + dt.timedelta(hours=2),
    T0 + dt.timedelta(days=30),
)
TOLERANCE = dt.timedelta(seconds=dating.TOLERANCE)


def seconds(value: float) -> dt.timedelta:
    return dt.timedelta(seconds=value)


@dataclass
class Made:
    """A segment as the encoder made it: when it truly ran, and where its bytes are."""

    name: str
    span: tuple[int, int] | None
    start: dt.datetime
    end: dt.datetime
    content: bytes
    pdt_wrong: bool  # its PDT is off (a clock jump)
    believed: bool = False  # a wrong PDT first read on a first look: the documented case
    tags: list[str] = field(default_factory=list)  # its lines in the playlist, but the URI


@dataclass
class Encoder:
    folder: Path
    single_file: bool
    pdt: bool
    made_until: dt.datetime = T0 - seconds(30)
    offset: float = 0.0  # the encoder's clock error, seconds
    sequence: int = 0
    serial: int = 0
    discontinuity_next: bool = False
    listed: list[Made] = field(default_factory=list)  # the playlist, in order
    published: list[Made] = field(default_factory=list)  # what the playlist file lists now
    pending: list[Made] = field(default_factory=list)  # made, not yet listed
    made: list[Made] = field(default_factory=list)  # everything ever made

    def make(self, duration: float) -> Made:
        self.serial += 1
        start, end = self.made_until, self.made_until + seconds(duration)
        self.made_until = end
        content = (b"<%d>" % self.serial) * (40 + self.serial % 7)
        if self.single_file:
            path = self.folder / "stream.ts"
            offset = path.stat().st_size if path.exists() else 0
            with path.open("ab") as file:
                file.write(content)
            made = Made("stream.ts", (offset, len(content)), start, end, content, self.offset != 0)
        else:
            name = f"s{self.sequence + len(self.pending)}.ts"
            (self.folder / name).write_bytes(content)
            made = Made(name, None, start, end, content, self.offset != 0)
        tags = made.tags
        if self.discontinuity_next:
            tags.append("#EXT-X-DISCONTINUITY")
        self.discontinuity_next = False
        if self.pdt:
            stamp = (start + seconds(self.offset)).isoformat(timespec="milliseconds")
            tags.append(f"#EXT-X-PROGRAM-DATE-TIME:{stamp}")
        tags.append(f"#EXTINF:{duration:.3f},")
        if made.span is not None:
            tags.append(f"#EXT-X-BYTERANGE:{made.span[1]}@{made.span[0]}")
        self.pending.append(made)
        self.made.append(made)
        return made

    def publish(self) -> None:
        self.listed += self.pending
        self.published = list(self.listed)
        self.sequence += len(self.pending)
        self.pending = []
        first = self.sequence - len(self.listed)
        lines = ["#EXTM3U", "#EXT-X-VERSION:4", "#EXT-X-TARGETDURATION:4"]
        lines.append(f"#EXT-X-MEDIA-SEQUENCE:{first}")
        for made in self.listed:
            lines += [*made.tags, made.name]
        temporary = self.folder / "index.m3u8.tmp"
        temporary.write_text("\n".join(lines) + "\n")
        temporary.replace(self.folder / "index.m3u8")

    def restart(self) -> None:
        """Start again: a new playlist from sequence 0, the same names (or file) reused."""
        self.listed, self.pending, self.sequence = [], [], 0
        if self.single_file:
            (self.folder / "stream.ts").write_bytes(b"")


class LiveModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.tmp = Path(tempfile.mkdtemp(prefix="gw-live-model-", dir=shm))
        (self.tmp / "live").mkdir()
        self.loop = asyncio.new_event_loop()
        self.clock = FrozenClock(T0 - seconds(10))
        self.encoder: Encoder | None = None
        self.stores = 0
        self.store = self._new_store()
        self.live = self._new_live()
        self.last_look: dt.datetime | None = None
        self.watched: set[int] = set()  # made segments a warm look saw listed (and dated)

    def _new_store(self) -> SqliteStore:
        self.stores += 1
        return SqliteStore(str(self.tmp / f"store{self.stores}.db"))

    def _new_live(self) -> LiveStream:
        origin = make_origin(f"file://{self.tmp / 'live'}", timeout=1.0)
        return LiveStream(origin, self.store, self.clock)

    def run(self, coroutine: object) -> object:
        return self.loop.run_until_complete(coroutine)  # type: ignore[arg-type]

    # The encoder

    @initialize(single_file=st.booleans(), pdt=st.booleans())
    def start_encoder(self, single_file: bool, pdt: bool) -> None:
        self.encoder = Encoder(self.tmp / "live", single_file, pdt, made_until=self.clock.now)

    @rule(steps=st.integers(1, 12), lag=st.sampled_from([0.0, 0.5, dating.ENCODER_LAG]))
    def run_steadily(self, steps: int, lag: float) -> None:
        """The usual day: a 2 s segment at a time, the watcher looking every second."""
        for _ in range(steps):
            self.encode(2.0, lag, 1)
            self.look()
            self.clock.now += seconds(1)
            self.look()

    @rule(data=st.data(), edge=st.sampled_from([60.0, 120.0, 200.0]))
    def to_an_edge(self, data: st.DataObject, edge: float) -> None:
        """Time passes (the encoder making nothing) to a few seconds before a part's edge."""
        before = seconds(data.draw(st.sampled_from([1.0, 3.0, 7.0, 15.0])))
        self.clock.now = max(self.clock.now, T0 + seconds(edge) - before)

    @rule(
        duration=st.sampled_from([1.0, 2.0, 4.0]),
        lag=st.sampled_from([0.0, 0.5, dating.ENCODER_LAG]),
        count=st.integers(1, 3),
    )
    def encode(self, duration: float, lag: float, count: int) -> None:
        """`count` segments made from now on, listed `lag` s after the last one ended."""
        assert self.encoder is not None
        if self.encoder.made_until < self.clock.now - seconds(4):  # it made nothing: a gap
            self.encoder.made_until = self.clock.now
            self.encoder.discontinuity_next = bool(self.encoder.made)
        for _ in range(count):
            made = self.encoder.make(duration)
        self.clock.now = max(self.clock.now, made.end + seconds(lag))
        self.encoder.publish()

    @rule(pause=st.sampled_from([3.0, 30.0, 90.0]))
    def pause(self, pause: float) -> None:
        """The encoder makes nothing for a while; its next segment says so (a discontinuity)."""
        assert self.encoder is not None
        self.encoder.made_until += seconds(pause)
        self.encoder.discontinuity_next = True
        self.clock.now = max(self.clock.now, self.encoder.made_until)

    @rule()
    def restart_encoder(self) -> None:
        assert self.encoder is not None
        self.encoder.restart()

    @rule(count=st.integers(2, 4))
    def burst(self, count: int) -> None:
        """Several segments listed at once, all made just now (an encoder restarting with
        content it made faster than real time): nothing says they ran one after another."""
        assert self.encoder is not None
        self.encoder.discontinuity_next = bool(self.encoder.listed)  # not one after those
        for _ in range(count):
            made = self.encoder.make(2.0)
            made.start, made.end = self.clock.now - seconds(2), self.clock.now
            made.pdt_wrong = self.encoder.pdt  # its PDT says one after another
        self.encoder.made_until = self.clock.now
        self.encoder.publish()

    @precondition(lambda self: self.encoder is not None and self.encoder.pdt)
    @rule(offset=st.sampled_from([0.0, -600.0, -30.0, 30.0, 600.0]))
    def clock_jump(self, offset: float) -> None:
        assert self.encoder is not None
        self.encoder.offset = offset

    # The gateway

    @rule()
    def look(self) -> None:
        """The watcher's look (a failing origin, e.g. no playlist yet, is a look that failed)."""
        cold = self._looking()
        try:
            self.run(self.live.observe())
        except GatewayError:
            return
        self._looked(cold)

    def _looking(self) -> bool:
        """Before any look (the watcher's or a viewer's): whether it is a first one, and
        which wrong PDTs it will believe."""
        cold = self.last_look is None or self.clock.now - self.last_look > seconds(8)
        for made in self.encoder.published if self.encoder is not None else []:
            if cold and made.pdt_wrong and id(made) not in self.watched:
                made.believed = True  # the documented case: see the module doc
        return cold

    def _looked(self, cold: bool) -> None:
        self.last_look = self.clock.now
        if not cold and self.encoder is not None:
            self.watched.update(id(made) for made in self.encoder.published)

    @rule(lose_store=st.booleans())
    def restart_gateway(self, lose_store: bool) -> None:
        self.run(self.live.origin.close())
        if lose_store:
            self.run(self.store.close())
            self.store = self._new_store()
            self.watched.clear()
        self.live = self._new_live()
        self.last_look = None

    @rule(wait=st.sampled_from([1.0, 2.0, 10.0, 60.0]))
    def time_passes(self, wait: float) -> None:
        self.clock.now += seconds(wait)

    # Viewers

    @rule(data=st.data())
    def watch(self, data: st.DataObject) -> None:
        window = self._window()
        if window is None or self.encoder is None:
            return
        cold = self._looking()
        try:
            text = self.run(self.live.playlist("index.m3u8", window))
        except GatewayError:
            return
        self._looked(cold)
        assert isinstance(text, bytes)
        event(f"watched {window.part}{' (grace)' if window.ended else ''}")
        names = {line for line in text.decode().splitlines() if line and line[0] != "#"}
        names |= {made.name for made in self.encoder.made}
        for name in sorted(names):
            self._fetch(name, window, None)
            file = self.tmp / "live" / name
            size = file.stat().st_size if file.exists() else 0
            if size:
                first = data.draw(st.integers(0, size - 1))
                last = data.draw(st.integers(first, size - 1))
                self._fetch(name, window, f"bytes={first}-{last}")

    def _fetch(self, name: str, window: LiveWindow, ranged: str | None) -> None:
        try:
            piece = self.run(self.live.segment(name, window, ranged))
        except (AccessRefused, GatewayError):
            return
        event(f"served {'a range' if ranged else 'a whole'} in {window.part}")
        first = piece.span[0] if piece.span else 0  # type: ignore[attr-defined]
        body = piece.body  # type: ignore[attr-defined]
        self._check(name, window, first, body)

    def _check(self, name: str, window: LiveWindow, first: int, body: bytes) -> None:
        """Every byte served comes from content made inside the window's part."""
        assert self.encoder is not None
        owners = [m for m in reversed(self.encoder.made) if m.name == name]  # newest first
        position, end = first, first + len(body)
        while position < end:
            made = next((m for m in owners if _holds(m, position, body, first)), None)
            assert made is not None, f"{name}@{position}: bytes the encoder never made"
            if not (made.pdt_wrong and made.believed):
                assert made.start >= window.start - TOLERANCE, (name, made, window)
                assert made.end <= window.end + TOLERANCE, (name, made, window)
            position = end if made.span is None else made.span[0] + made.span[1]

    def _window(self) -> LiveWindow | None:
        try:
            return live_window(SCHEDULE, self.clock.now, GRACE)
        except AccessRefused:
            return None

    def teardown(self) -> None:
        self.run(self.live.origin.close())
        self.run(self.store.close())
        self.loop.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _holds(made: Made, position: int, body: bytes, first: int) -> bool:
    """Whether the served `body` (from byte `first`) holds `made`'s bytes at `position`."""
    start = made.span[0] if made.span is not None else 0
    if not start <= position < start + len(made.content):
        return False
    length = min(start + len(made.content), first + len(body)) - position
    served = body[position - first : position - first + length]
    return served == made.content[position - start : position - start + length]


TestLiveModel = LiveModel.TestCase
TestLiveModel.settings = settings(
    max_examples=int(os.environ.get("GATEWAY_MODEL_EXAMPLES", "100")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
pytestmark = pytest.mark.timeout(180)
