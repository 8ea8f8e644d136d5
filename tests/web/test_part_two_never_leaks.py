"""Part II never leaks, with a frozen clock: byte ranges, reused names, segments that
straddle a part's end, and what an undated segment leaves in /metrics and the audit log.

The same findings with real `gateway serve` processes and a real clock:
tests/e2e/test_part_two_never_leaks.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.conftest import helsinki
from tests.support.hls import listed, segment_bytes
from tests.web.conftest import Gateway, encoder


def chunk(n: int) -> bytes:
    """The n-th chunk appended to a single-file stream (each its own bytes)."""
    return hashlib.sha256(b"chunk%d" % n).digest() * (20 + n)


class SingleFile:
    """An encoder appending 2 s chunks to one `stream.ts`, listed with #EXT-X-BYTERANGE."""

    def __init__(self, live: Path) -> None:
        live.mkdir(parents=True, exist_ok=True)
        self.live = live
        self.spans: list[tuple[int, int]] = []

    def write(self, count: int) -> None:
        data = b"".join(chunk(n) for n in range(count))
        (self.live / "stream.ts").write_bytes(data)
        self.spans, offset = [], 0
        lines = ["#EXTM3U", "#EXT-X-VERSION:4", "#EXT-X-TARGETDURATION:2"]
        for n in range(count):
            self.spans.append((offset, len(chunk(n))))
            lines += ["#EXTINF:2.0,", f"#EXT-X-BYTERANGE:{len(chunk(n))}@{offset}", "stream.ts"]
            offset += len(chunk(n))
        (self.live / "index.m3u8").write_text("\n".join(lines) + "\n")

    def bytes_of(self, first: int, last: int) -> str:
        """The Range header for chunks first..last."""
        start = self.spans[first][0]
        end = self.spans[last][0] + self.spans[last][1] - 1
        return f"bytes={start}-{end}"


def test_a_byte_range_playlist_serves_only_part_one_ranges_in_the_grace(gateway: Gateway) -> None:
    gw = gateway
    stream = SingleFile(gw.tmp / "live")
    viewer = gw.login()
    # A chunk written at T holds T-2 s .. T. Part I ends at 12:45:00.
    for count, at in [(2, "12:44:50"), (3, "12:44:52"), (5, "12:44:56"), (7, "12:45:00")]:
        gw.clock.now = helsinki(f"2021-11-18T{at}")
        stream.write(count)
        gw.observe()
    for count, at in [(8, "12:45:02"), (9, "12:45:04")]:  # Part II
        gw.clock.now = helsinki(f"2021-11-18T{at}")
        stream.write(count)
        gw.observe()

    gw.clock.now = helsinki("2021-11-18T12:45:10")  # the grace after Part I
    playlist = viewer.get("/live/index.m3u8").text
    ranges = [line for line in playlist.splitlines() if line.startswith("#EXT-X-BYTERANGE")]
    assert ranges == [f"#EXT-X-BYTERANGE:{n}@{o}" for o, n in stream.spans[:7]]
    inside = viewer.get("/live/stream.ts", headers={"Range": stream.bytes_of(3, 4)})
    assert inside.status_code == 206
    assert inside.content == chunk(3) + chunk(4)
    size = sum(n for _, n in stream.spans)
    first, last = stream.bytes_of(3, 4).removeprefix("bytes=").split("-")
    assert inside.headers["content-range"] == f"bytes {first}-{last}/{size}"
    for refused in (
        {},  # the whole file holds Part II
        {"Range": stream.bytes_of(6, 7)},  # reaches into the first Part II chunk
        {"Range": f"bytes={stream.spans[8][0]}-"},
        {"Range": f"bytes=-{stream.spans[8][1]}"},
    ):
        assert viewer.get("/live/stream.ts", headers=refused).status_code == 403
    assert viewer.get("/live/stream.ts", headers={"Range": f"bytes={size}-"}).status_code == 416
    assert viewer.get("/live/stream.ts", headers={"Range": "bytes=0-1,5-9"}).status_code == 416

    def auth(range_header: str) -> int:
        headers = {"X-Original-URI": "/live/stream.ts", "Range": range_header}
        return viewer.get("/auth", headers=headers).status_code

    assert auth(stream.bytes_of(0, 6)) == 204  # nginx sends these bytes itself
    assert auth(stream.bytes_of(0, 7)) == 403


def test_an_init_section_in_the_media_file_is_always_allowed(gateway: Gateway) -> None:
    gw = gateway
    live = gw.tmp / "live"
    live.mkdir()
    init, media = b"I" * 100, [b"A" * 300, b"B" * 300]
    (live / "all.mp4").write_bytes(init + b"".join(media))
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:2"]
    lines.append('#EXT-X-MAP:URI="all.mp4",BYTERANGE="100@0"')
    lines.append("#EXT-X-PROGRAM-DATE-TIME:2021-11-18T10:29:50+02:00")
    for n in range(2):
        lines += ["#EXTINF:2.0,", f"#EXT-X-BYTERANGE:300@{100 + 300 * n}", "all.mp4"]
    (live / "index.m3u8").write_text("\n".join(lines) + "\n")
    viewer = gw.login()
    assert listed(viewer.get("/live/index.m3u8").text) == ["all.mp4", "all.mp4"]
    assert viewer.get("/live/all.mp4", headers={"Range": "bytes=0-99"}).content == init
    assert viewer.get("/live/all.mp4").content == init + b"".join(media)  # all of it allowed


def test_reused_names_with_part_two_content_are_refused_in_the_grace(gateway: Gateway) -> None:
    gw = gateway
    viewer = gw.login()
    for count, at in [(1, "12:44:52"), (2, "12:44:54"), (3, "12:44:56")]:
        gw.clock.now = helsinki(f"2021-11-18T{at}")
        encoder(gw.tmp, "2021-11-18T00:00", count, dates=False, prefix="r", duration=2.0)
        gw.observe()
    assert listed(viewer.get("/live/index.m3u8").text) == ["r0.ts", "r1.ts", "r2.ts"]

    # 3 s into Part II the encoder restarts: r0-r2 again, the same playlist, Part II inside.
    gw.clock.now = helsinki("2021-11-18T12:45:03")
    for n in range(3):
        (gw.tmp / "live" / f"r{n}.ts").write_bytes(b"part two %d" % n * 100)
    gw.observe()
    gw.clock.now = helsinki("2021-11-18T12:45:05")  # the grace
    for n in range(3):
        refused = viewer.get(f"/live/r{n}.ts")
        assert refused.status_code == 403, refused.content[:40]
    assert refused.json()["error"] == "segment_undated"
    # The next look reads every listed name again: the new content is dated, in Part II.
    gw.observe()
    assert listed(viewer.get("/live/index.m3u8").text) == []
    refused = viewer.get("/live/r0.ts").json()
    assert refused["error"] == "outside_window"
    # (it said "Nothing is streamed right now. No more live parts today." in Part I's grace)
    assert refused["message"] == "This piece of the stream is not from Part I: it is not shown."


def test_names_relisted_all_at_once_in_part_two_are_not_walked_back_into_part_one(
    gateway: Gateway,
) -> None:
    """The end-to-end rehearsal's finding (renumbered): r0-r2 played in Part I; 3 s into
    Part II a restarted encoder lists all three again at once, with new content, from
    sequence 0 where it had counted from 3. Dated one after another back from now, r0
    would have been placed before Part I's end; each new one ended after the last look."""
    gw = gateway
    live = gw.tmp / "live"
    live.mkdir()

    def listing(count: int, sequence: int) -> None:
        (live / "index.m3u8").write_text(
            f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{sequence}\n"
            + "".join(f"#EXTINF:2.0,\nr{n}.ts\n" for n in range(count))
        )

    viewer = gw.login()
    for count, at in [(1, "12:44:52"), (2, "12:44:54"), (3, "12:44:56")]:
        gw.clock.now = helsinki(f"2021-11-18T{at}")
        (live / f"r{count - 1}.ts").write_bytes(b"part one %d" % count * 100)
        listing(count, 3)
        gw.observe()
    assert listed(viewer.get("/live/index.m3u8").text) == ["r0.ts", "r1.ts", "r2.ts"]
    gw.clock.now = helsinki("2021-11-18T12:45:02")
    gw.observe()
    gw.clock.now = helsinki("2021-11-18T12:45:03")
    for n in range(3):
        (live / f"r{n}.ts").write_bytes(b"part two %d" % n * 100)
    listing(3, 0)
    gw.observe()
    gw.clock.now = helsinki("2021-11-18T12:45:05")  # the grace
    assert listed(viewer.get("/live/index.m3u8").text) == []
    for n in range(3):
        assert viewer.get(f"/live/r{n}.ts").json()["error"] == "outside_window"


def test_an_encoder_restarting_its_playlist_has_its_names_read_again(gateway: Gateway) -> None:
    gw = gateway
    viewer = gw.login()
    for count, at in [(2, "12:44:50"), (4, "12:44:54")]:
        gw.clock.now = helsinki(f"2021-11-18T{at}")
        encoder(gw.tmp, "2021-11-18T00:00", count, dates=False, prefix="r", duration=2.0)
        gw.observe()
    gw.clock.now = helsinki("2021-11-18T12:45:04")  # restarted: r0 anew, the playlist too
    (gw.tmp / "live" / "r0.ts").write_bytes(b"part two" * 100)
    (gw.tmp / "live" / "index.m3u8").write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nr0.ts\n"
    )
    gw.observe()
    gw.clock.now = helsinki("2021-11-18T12:45:05")
    assert listed(viewer.get("/live/index.m3u8").text) == []
    assert viewer.get("/live/r0.ts").status_code == 403


def test_a_segment_straddling_the_end_of_part_one_is_not_listed_or_served(
    any_gateway: Gateway,
) -> None:
    gw = any_gateway
    live = gw.tmp / "live"
    names = ["a.ts", "b.ts", "late.ts"]
    starts = ["12:44:39", "12:44:49", "12:44:59"]  # 10 s each: late.ts holds 9 s of Part II
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:10"]
    live.mkdir()
    for name, start in zip(names, starts, strict=True):
        (live / name).write_bytes(segment_bytes(name))
        lines += [f"#EXT-X-PROGRAM-DATE-TIME:2021-11-18T{start}+02:00", "#EXTINF:10,", name]
    (live / "index.m3u8").write_text("\n".join(lines) + "\n")
    viewer = gw.login()
    gw.clock.now = helsinki("2021-11-18T12:45:10")  # the grace; late.ts has ended
    assert listed(viewer.get("/live/index.m3u8").text) == ["a.ts", "b.ts"]
    assert viewer.get("/live/b.ts").content == segment_bytes("b.ts")
    assert viewer.get("/live/late.ts").status_code == 403


def test_undated_segments_are_counted_and_audited_once_per_part(gateway: Gateway) -> None:
    gw = gateway
    viewer = gw.login()
    gw.clock.now = helsinki("2021-11-18T10:40:00")
    encoder(gw.tmp, "2021-11-18T00:00", 3, dates=False, duration=2.0)
    gw.observe()  # a first look: nothing dated yet
    # It grows, but across a discontinuity: when seg0-2 were made cannot be told.
    gw.clock.now = helsinki("2021-11-18T10:40:02")
    playlist = gw.tmp / "live" / "index.m3u8"
    (gw.tmp / "live" / "new0.ts").write_bytes(b"after the restart")
    playlist.write_text(playlist.read_text() + "#EXT-X-DISCONTINUITY\n#EXTINF:2.0,\nnew0.ts\n")
    gw.observe()
    gw.clock.now = helsinki("2021-11-18T10:40:10")
    for _ in range(2):
        assert listed(viewer.get("/live/index.m3u8").text) == ["new0.ts"]
        assert viewer.get("/live/seg0.ts").json()["error"] == "segment_undated"
    assert "gateway_segments_undated_total 3.0" in gw.client.get("/metrics").text
    refused = [
        e
        for e in gw.call(gw.services.store.audit_events)
        if e.type == "access.refused" and e.detail.get("reason") == "segment_undated"
    ]
    assert len(refused) == 1 and refused[0].detail["part"] == "Part I"
