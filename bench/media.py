"""The benchmark's origin files: real H.264 segments padded to 1 MB, ~1 KB playlists.

`gateway.teststream.LiveEncoder` encodes a few real 4 s MPEG-TS segments (~160 KB
at its ~500 kbit/s); each is padded with MPEG-TS null packets (PID 0x1FFF, which
every demuxer drops) to 1 000 160 bytes (5 320 packets): the size of a 4 s
segment of a 2 Mbit/s stream, still a valid, playable segment.

`write_static` writes a fixed folder (12 segments, one playlist) for the wrk
rows; `LiveWriter` adds a new segment every 4 s to a sliding 12-segment live
playlist, as an encoder would, for the viewer rows (row j: every 2 s, 500 KB:
`STACK_SECONDS`, `STACK_BYTES`).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

from gateway.core.clock import system_clock

TS_PACKET = 188
SEGMENT_BYTES = 5_320 * TS_PACKET  # 1 000 160 bytes: 2 Mbit/s x 4 s
SEGMENT_SECONDS = 4.0
WINDOW = 12  # segments listed: ~1 KB playlist
KEEP = 40  # segments kept on disk in the live folder
STACK_SECONDS = 2.0  # row j's stream: 2 s segments of a 2 Mbit/s stream
STACK_BYTES = 2_660 * TS_PACKET  # 500 080 bytes
NULL_PACKET = bytes([0x47, 0x1F, 0xFF, 0x10]) + b"\xff" * (TS_PACKET - 4)


def pad(segment: bytes, size: int = SEGMENT_BYTES) -> bytes:
    """`segment` followed by MPEG-TS null packets up to `size` bytes."""
    if len(segment) % TS_PACKET or segment[:1] != b"\x47":
        raise ValueError("not an MPEG-TS segment")
    if len(segment) > size:
        raise ValueError(f"segment is {len(segment)} bytes, over {size}")
    return segment + NULL_PACKET * ((size - len(segment)) // TS_PACKET)


def encode_templates(
    folder: Path, count: int = 4, seconds: float = SEGMENT_SECONDS, size: int = SEGMENT_BYTES
) -> list[bytes]:
    """Encode `count` real H.264/AAC segments of `seconds` with the test stream, padded."""
    from gateway.teststream import LiveEncoder

    folder.mkdir(parents=True, exist_ok=True)
    encoder = LiveEncoder(folder, segment_seconds=seconds, window=count, keep=count)
    encoder.write_once(count, system_clock())
    names = sorted(p for p in folder.iterdir() if p.suffix == ".ts")
    return [pad(p.read_bytes(), size) for p in names[-count:]]


def _iso(date: dt.datetime) -> str:
    return date.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def playlist(
    first_seq: int, dates: list[dt.datetime], prefix: str = "seg", seconds: float = SEGMENT_SECONDS
) -> str:
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{round(seconds)}",
        f"#EXT-X-MEDIA-SEQUENCE:{first_seq}",
    ]
    for i, date in enumerate(dates):
        lines += [
            f"#EXT-X-PROGRAM-DATE-TIME:{_iso(date)}",
            f"#EXTINF:{seconds:.3f},",
            segment_name(first_seq + i, prefix),
        ]
    return "\n".join(lines) + "\n"


def segment_name(seq: int, prefix: str = "seg") -> str:
    return f"{prefix}{seq:06d}.ts"


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_static(folder: Path, templates: list[bytes], now: dt.datetime) -> str:
    """A fixed folder: WINDOW segments dated just before `now`; returns the one wrk asks for."""
    folder.mkdir(parents=True, exist_ok=True)
    step = dt.timedelta(seconds=SEGMENT_SECONDS)
    dates = [now - (WINDOW - i) * step for i in range(WINDOW)]
    for i in range(WINDOW):
        _replace(folder / segment_name(i, "static"), templates[i % len(templates)])
    _replace(folder / "index.m3u8", playlist(0, dates, "static").encode())
    return segment_name(WINDOW - 1, "static")


class LiveWriter:
    """A new segment (a template) every `seconds` (aligned to the wall clock), a sliding
    ~1 KB playlist.

    Runs in a thread; stops by itself after `max_seconds` even if nobody stops it.
    """

    def __init__(
        self,
        folder: Path,
        templates: list[bytes],
        max_seconds: float,
        seconds: float = SEGMENT_SECONDS,
    ) -> None:
        self.folder = folder
        self.seconds = seconds
        self.templates = templates
        self.max_seconds = max_seconds
        self.stop_event = threading.Event()
        self.written = 0
        self._seq = 0
        self._dates: list[dt.datetime] = []
        self._thread = threading.Thread(target=self._run, name="live-writer", daemon=True)

    def prime(self) -> None:
        """WINDOW segments dated in the last WINDOW x 4 s, so viewers find a full playlist."""
        self.folder.mkdir(parents=True, exist_ok=True)
        now = system_clock()
        step = dt.timedelta(seconds=self.seconds)
        slot = self._slot(now)
        for k in range(WINDOW, 0, -1):
            self._write(slot - k * step)

    def _slot(self, now: dt.datetime) -> dt.datetime:
        epoch = now.timestamp()
        return dt.datetime.fromtimestamp(epoch - epoch % self.seconds, dt.UTC)

    def _write(self, date: dt.datetime) -> None:
        seq = self._seq
        _replace(self.folder / segment_name(seq), self.templates[seq % len(self.templates)])
        self._dates = [*self._dates, date][-WINDOW:]
        first = seq - len(self._dates) + 1
        text = playlist(first, self._dates, seconds=self.seconds)
        _replace(self.folder / "index.m3u8", text.encode())
        old = self.folder / segment_name(seq - KEEP)
        old.unlink(missing_ok=True)
        self._seq += 1
        self.written += 1

    def _run(self) -> None:
        step = dt.timedelta(seconds=self.seconds)
        began = system_clock()
        slot = self._slot(began)
        while not self.stop_event.is_set():
            due = slot + step  # a segment dated `slot` is complete when its time is over
            left = (due - system_clock()).total_seconds()
            if left > 0 and self.stop_event.wait(min(left, 1.0)):
                return
            if left > 0:
                continue
            if (system_clock() - began).total_seconds() > self.max_seconds:
                return
            self._write(slot)
            slot += step

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self._thread.join(timeout=10)
