"""A local, playable H.264 HLS test stream, for `gateway demo`, browser tests and benchmarks.

`write_recording` writes a finished (VOD) recording whose picture shows a title
and the position in the recording (`write_captions` gives it English captions as
a subtitles rendition); `LiveEncoder` writes a sliding live
playlist in real time whose picture shows the UTC wall clock, a frame counter
and a moving bar, and whose segments carry `#EXT-X-PROGRAM-DATE-TIME`. Video is
H.264 (libx264, constrained baseline, yuv420p, ~500 kbit/s) and audio AAC
(a quiet 880 Hz beep on each second of the timeline), muxed into MPEG-TS
segments that each start with an IDR frame; one pair of encoders lives across
segments, so timestamps run on seamlessly from one segment to the next (live
timestamps are derived from the wall clock, so a restarted stream stays on the
same timeline). Encoding uses PyAV, whose wheels bundle FFmpeg: no network and
no system ffmpeg. PyAV and Pillow come with the `demo` extra and are imported
only when a stream is written, so this module imports without them.
"""

from __future__ import annotations

import array
import datetime as dt
import math
import os
import re
import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.core.clock import Clock, system_clock

if TYPE_CHECKING:
    from av.audio.codeccontext import AudioCodecContext
    from av.packet import Packet
    from av.stream import Stream
    from av.video.codeccontext import VideoCodecContext
    from PIL.Image import Image

MISSING = "the test stream needs the 'demo' extra: pip install 'stream-gateway[demo]'"
PLAYLIST = "index.m3u8"
_RATE = 48_000  # audio samples per second
_RECORDING_START = 1  # seconds: keeps the AAC priming packet's timestamp above zero
_LIVE_NAME = re.compile(r"live([0-9]{6,})\.ts")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
Texts = Callable[[int], tuple[str, str, str]]


def _require() -> None:
    try:
        import av  # noqa: F401
        import PIL.ImageFont  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(MISSING) from exc


def _frames_per_segment(segment_seconds: float, fps: int) -> int:
    frames = round(segment_seconds * fps)
    if frames < 1 or abs(frames - segment_seconds * fps) > 1e-6:
        raise ValueError(f"segment_seconds * fps must be a whole number of frames, got {frames}")
    return frames


def _one_second_of_audio() -> bytes:
    """Planar float samples: an 880 Hz beep of 0.1 s with soft edges, then silence."""
    beep = _RATE // 10
    samples = array.array("f", [0.0] * _RATE)
    for i in range(beep):
        envelope = math.sin(math.pi * i / beep)
        samples[i] = 0.08 * envelope * math.sin(2 * math.pi * 880 * i / _RATE)
    return samples.tobytes()


class _Encoder:
    """One H.264 and one AAC encoder that live across segments; one MPEG-TS file per call."""

    def __init__(self, width: int, height: int, fps: int, frames: int) -> None:
        _require()
        import av
        from PIL import ImageFont

        self.width, self.height, self.fps, self.frames = width, height, fps, frames
        self.video: VideoCodecContext = av.CodecContext.create("libx264", "w")
        self.video.width, self.video.height, self.video.pix_fmt = width, height, "yuv420p"
        self.video.time_base, self.video.framerate = Fraction(1, fps), Fraction(fps)
        self.video.gop_size, self.video.bit_rate = frames, 500_000
        self.video.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",  # no B-frames, no lookahead: a packet out per frame in
            "profile": "baseline",
            "forced-idr": "1",
            "x264-params": f"keyint={frames}:min-keyint={frames}:scenecut=0",
        }
        self.audio: AudioCodecContext = av.CodecContext.create("aac", "w")
        self.audio.sample_rate, self.audio.layout, self.audio.format = _RATE, "mono", "fltp"
        self.audio.bit_rate, self.audio.time_base = 48_000, Fraction(1, _RATE)
        self.second = _one_second_of_audio()
        self.fonts = [ImageFont.load_default(size=height * s // 100) for s in (9, 25, 7)]

    def segment(self, path: Path, first: int, count: int, texts: Texts, last: bool) -> None:
        """Write frames `first` .. `first + count - 1` of the timeline to `path`, atomically.

        `texts(i)` gives the title, big and small lines of the segment's `i`th frame;
        `last` flushes the encoders into this segment (they cannot be used after it).
        """
        import av

        tmp = path.with_name(path.name + ".tmp")
        with av.open(str(tmp), "w", format="mpegts") as out:
            video = out.add_mux_stream("h264", rate=self.fps, width=self.width, height=self.height)
            audio = out.add_mux_stream("aac", rate=_RATE)
            for i in range(count):
                image = self._paint(*texts(i), (first + i) % self.fps)
                frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
                frame.pts = first + i
                if i == 0:
                    frame.pict_type = av.video.frame.PictureType.I
                out.mux([self._stamped(p, video) for p in self.video.encode(frame)])
            start, end = first * _RATE // self.fps, (first + count) * _RATE // self.fps
            sound = av.AudioFrame(format="fltp", layout="mono", samples=end - start)
            sound.planes[0].update(self._samples(start, end))
            sound.sample_rate, sound.time_base, sound.pts = _RATE, Fraction(1, _RATE), start
            coded = self.audio.encode(sound)
            if last:
                coded += self.audio.encode(None)
                out.mux([self._stamped(p, video) for p in self.video.encode(None)])
            out.mux([self._adts(p, audio) for p in coded])
        os.replace(tmp, path)

    def _samples(self, start: int, end: int) -> bytes:
        size = 4  # bytes per float sample
        chunks, at = [], start
        while at < end:
            offset = at % _RATE
            take = min(end - at, _RATE - offset)
            chunks.append(self.second[offset * size : (offset + take) * size])
            at += take
        return b"".join(chunks)

    @staticmethod
    def _stamped(packet: Packet[Stream], stream: Stream) -> Packet[Stream]:
        packet.stream = stream
        return packet

    @staticmethod
    def _adts(packet: Packet[Stream], stream: Stream) -> Packet[Stream]:
        """The raw AAC frame behind an ADTS header, as MPEG-TS carries it."""
        import av

        payload = bytes(packet)
        n = len(payload) + 7  # AAC LC, 48 kHz (index 3), mono, no CRC
        header = bytes([0xFF, 0xF1, 0x4C, 0x40 | n >> 11, n >> 3 & 0xFF, (n & 7) << 5 | 0x1F, 0xFC])
        framed = av.Packet(header + payload)
        framed.pts, framed.dts, framed.time_base = packet.pts, packet.dts, packet.time_base
        framed.stream = stream
        return framed

    def _paint(self, title: str, big: str, small: str, tick: int) -> Image:
        from PIL import Image, ImageDraw

        w, h = self.width, self.height
        image = Image.new("RGB", (w, h), (16, 20, 32))
        draw = ImageDraw.Draw(image)
        draw.text((w // 20, h // 12), title, font=self.fonts[0], fill=(200, 200, 210))
        draw.text((w // 2, h // 2), big, font=self.fonts[1], fill="white", anchor="mm")
        draw.text((w // 20, h * 3 // 4), small, font=self.fonts[2], fill=(170, 170, 180))
        bar = w // 10
        x = (w - bar) * tick // max(self.fps - 1, 1)
        draw.rectangle((x, h - h // 12, x + bar, h - h // 24), fill=(230, 60, 60))
        return image


def write_recording(
    folder: Path, *, seconds: float = 24.0, segment_seconds: float = 2.0, title: str = "Recording"
) -> None:
    """Write a finished (VOD) HLS recording to `folder`: `index.m3u8` and `rec00000.ts`...

    The picture shows `title` and the position in the recording (mm:ss). Rewrites
    the folder's playlist and segments, removing `rec*.ts` segments left over from
    a longer recording. Raises RuntimeError without the `demo` extra.
    """
    fps = 25
    frames = _frames_per_segment(segment_seconds, fps)
    total = max(1, round(seconds * fps))
    encoder = _Encoder(640, 360, fps, frames)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{math.ceil(segment_seconds)}"]
    lines += ["#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-MEDIA-SEQUENCE:0"]
    names: list[str] = []
    for begin in range(0, total, frames):
        count, name = min(frames, total - begin), f"rec{len(names):05d}.ts"
        texts = _recording_texts(title, fps, begin)
        encoder.segment(
            folder / name, _RECORDING_START * fps + begin, count, texts, begin + count >= total
        )
        lines += [f"#EXTINF:{count / fps:.3f},", name]
        names.append(name)
    _write_text(folder / PLAYLIST, "\n".join([*lines, "#EXT-X-ENDLIST", ""]))
    for stale in folder.glob("rec*.ts"):
        if re.fullmatch(r"rec[0-9]{5}\.ts", stale.name) and stale.name not in names:
            stale.unlink(missing_ok=True)


CAPTION_LINES = (
    "Welcome to the seminar on best practice in anti-trafficking work.",
    "This is the recording of the day, with English captions.",
    "The picture shows the position in the recording.",
    "Each caption stays on the screen for two seconds.",
)
VARIANT = "video.m3u8"  # the recording's media playlist once index.m3u8 is multivariant


def write_captions(folder: Path, seconds: float = 24.0, *, cue_seconds: float = 2.0) -> None:
    """Give the recording in `folder` English captions as an HLS subtitles rendition.

    Writes `subs/en.vtt` (cues of `cue_seconds` back to back over `seconds`,
    timed like the recording's segments: its video starts at MPEG-TS time
    90000), the subtitles media playlist `subs/en.m3u8`, and a multivariant
    `index.m3u8` whose `#EXT-X-MEDIA:TYPE=SUBTITLES` rendition (English,
    DEFAULT=YES) points to it; the recording's media playlist moves to
    `video.m3u8`. Pure text: needs no 'demo' extra. Run it again after
    `write_recording`, which writes a media `index.m3u8` again.
    """
    folder.mkdir(parents=True, exist_ok=True)
    index = folder / PLAYLIST
    if index.exists() and "#EXT-X-STREAM-INF" not in index.read_text(encoding="utf-8"):
        _write_text(folder / VARIANT, index.read_text(encoding="utf-8"))
    cues, at, number = [], 0.0, 0
    while at < seconds:
        end = min(seconds, at + cue_seconds)
        line = CAPTION_LINES[number % len(CAPTION_LINES)]
        cues.append(f"{number + 1}\n{_vtt_time(at)} --> {_vtt_time(end)}\n{line}\n")
        at, number = end, number + 1
    subs = folder / "subs"
    subs.mkdir(exist_ok=True)
    header = f"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{_RECORDING_START * 90_000},LOCAL:00:00:00.000\n"
    _write_text(subs / "en.vtt", "\n".join([header, *cues]))
    _write_text(
        subs / "en.m3u8",
        "\n".join(
            [
                "#EXTM3U",
                "#EXT-X-VERSION:3",
                f"#EXT-X-TARGETDURATION:{math.ceil(seconds)}",
                "#EXT-X-PLAYLIST-TYPE:VOD",
                "#EXT-X-MEDIA-SEQUENCE:0",
                f"#EXTINF:{seconds:.3f},",
                "en.vtt",
                "#EXT-X-ENDLIST",
                "",
            ]
        ),
    )
    _write_text(
        index,
        "\n".join(
            [
                "#EXTM3U",
                "#EXT-X-VERSION:3",
                '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",'
                'DEFAULT=YES,AUTOSELECT=YES,FORCED=NO,URI="subs/en.m3u8"',
                "#EXT-X-STREAM-INF:BANDWIDTH=600000,RESOLUTION=640x360,"
                'CODECS="avc1.42c01e,mp4a.40.2",SUBTITLES="subs"',
                VARIANT,
                "",
            ]
        ),
    )


def _vtt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _recording_texts(title: str, fps: int, begin: int) -> Texts:
    def texts(i: int) -> tuple[str, str, str]:
        second = (begin + i) // fps
        return title, f"{second // 60:02d}:{second % 60:02d}", f"frame {begin + i}"

    return texts


def _write_text(path: Path, text: str) -> None:
    """Replace `path` atomically: a reader sees the old file or the new one, never a part."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _micros(date: dt.datetime) -> int:
    return (date - _EPOCH) // _MICROSECOND


def _iso(date: dt.datetime) -> str:
    return date.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LiveEncoder:
    """Writes a live HLS stream into `folder`: `liveNNNNNN.ts` segments and a sliding `index.m3u8`.

    Each segment shows the UTC wall-clock time of its frames; the playlist lists the
    last `window` segments, each with its `#EXT-X-PROGRAM-DATE-TIME`, and segments
    older than `keep` are deleted. Sequence numbers continue after the highest
    `liveNNNNNN.ts` already in the folder. Raises RuntimeError without the `demo` extra.
    """

    def __init__(
        self,
        folder: Path,
        *,
        segment_seconds: float = 2.0,
        window: int = 6,
        keep: int = 60,
        width: int = 640,
        height: int = 360,
        fps: int = 25,
        clock: Clock = system_clock,
    ) -> None:
        if window < 1 or keep < window:
            raise ValueError("need 1 <= window <= keep")
        self.folder, self.segment_seconds, self.clock = folder, segment_seconds, clock
        self.window, self.keep, self.fps = window, keep, fps
        self._step = dt.timedelta(seconds=segment_seconds)
        self._encoder = _Encoder(width, height, fps, _frames_per_segment(segment_seconds, fps))
        folder.mkdir(parents=True, exist_ok=True)
        self._next = max(self._existing(), default=-1) + 1
        self._listed: list[tuple[int, dt.datetime]] = []  # (sequence, date), oldest first

    def write_once(self, count: int, start: dt.datetime) -> None:
        """Write `count` segments now, without waiting, the first dated `start`."""
        for k in range(count):
            self._write(start + k * self._step)

    def run(self, stop: threading.Event) -> None:
        """Write a segment as each `segment_seconds` slot of the clock ends, until `stop` is set.

        Slots are aligned to multiples of `segment_seconds` since the epoch and waited
        for by absolute time, so the stream never drifts; after a stall of more than
        `window` slots it skips ahead to the current slot instead of catching up.
        """
        step = self._step // _MICROSECOND
        slot = _micros(self.clock()) // step
        while True:
            start = _EPOCH + slot * step * _MICROSECOND
            if not self._wait_until(start + self._step, stop):
                return
            self._write(start)
            slot += 1
            if _micros(self.clock()) // step - slot > self.window:
                slot = _micros(self.clock()) // step

    def _wait_until(self, due: dt.datetime, stop: threading.Event) -> bool:
        while not stop.is_set():
            left = (due - self.clock()).total_seconds()
            if left <= 0:
                return True
            stop.wait(min(left, 1.0))  # re-read the clock now and then: it may be stepped
        return False

    def _existing(self) -> list[int]:
        return [int(m[1]) for p in self.folder.iterdir() if (m := _LIVE_NAME.fullmatch(p.name))]

    def _write(self, start: dt.datetime) -> None:
        sequence, first = self._next, _micros(start) * self.fps // 1_000_000
        name = f"live{sequence:06d}.ts"

        def texts(i: int) -> tuple[str, str, str]:
            when = start + dt.timedelta(seconds=i / self.fps)
            frame = f"frame {(first + i) % self.fps:02d}/{self.fps}"
            return "LIVE  test stream", f"{when:%H:%M:%S}", f"{when:%Y-%m-%d} UTC   {frame}"

        self._encoder.segment(self.folder / name, first, self._encoder.frames, texts, False)
        self._next += 1
        self._listed = [*self._listed, (sequence, start)][-self.window :]
        lines = ["#EXTM3U", "#EXT-X-VERSION:3"]
        lines += [f"#EXT-X-TARGETDURATION:{math.ceil(self.segment_seconds)}"]
        lines += [f"#EXT-X-MEDIA-SEQUENCE:{self._listed[0][0]}"]
        for listed, date in self._listed:
            lines += [f"#EXT-X-PROGRAM-DATE-TIME:{_iso(date)}"]
            lines += [f"#EXTINF:{self.segment_seconds:.3f},", f"live{listed:06d}.ts"]
        _write_text(self.folder / PLAYLIST, "\n".join([*lines, ""]))
        for old in self._existing():
            if old <= sequence - self.keep:
                (self.folder / f"live{old:06d}.ts").unlink(missing_ok=True)
