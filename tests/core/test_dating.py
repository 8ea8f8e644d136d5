"""Dating live segments: from the encoder's PDT when it agrees, else back from the live edge."""

from __future__ import annotations

import datetime as dt

from gateway.core import dating
from gateway.core.dating import Dated, Look, Sighting
from gateway.core.playlists import MediaPlaylist, parse

T0 = dt.datetime(2021, 11, 18, 15, 10, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def playlist(*segments: str) -> MediaPlaylist:
    """Segments as `name[:duration][!pdt-seconds][|]`: `|` puts a discontinuity before it."""
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2"]
    for spec in segments:
        if spec.startswith("|"):
            lines.append("#EXT-X-DISCONTINUITY")
            spec = spec[1:]
        spec, _, pdt = spec.partition("!")
        name, _, duration = spec.partition(":")
        if pdt:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{at(float(pdt)).isoformat()}")
        lines += [f"#EXTINF:{duration or '2.0'},", name]
    parsed = parse("\n".join(lines) + "\n", "index.m3u8")
    assert isinstance(parsed, MediaPlaylist)
    return parsed


def date(
    listed: MediaPlaylist,
    look: Look,
    *,
    known: dict[int, Dated] | None = None,
    new: int = 0,
    first_seen: dict[int, float] | None = None,
) -> list[Dated | None]:
    """Date `listed` at `look`: its last `new` segments appeared since the look before;
    the others were first seen at `first_seen` (default: now, on a first look)."""
    count = len(listed.segments)
    now = (look.now - T0).total_seconds()
    seen = [
        Sighting(look.now, look.previous)
        if i >= count - new
        else Sighting(at((first_seen or {}).get(i, now)))
        for i in range(count)
    ]
    return dating.date(listed.segments, [(known or {}).get(i) for i in range(count)], seen, look)


def test_a_first_look_dates_nothing_without_pdt() -> None:
    assert date(playlist("a", "b", "c"), Look(at(10), None), new=3) == [None, None, None]


def test_a_growing_playlist_is_dated_back_from_where_the_new_segments_began() -> None:
    dated = date(playlist("a", "b:3.0", "c"), Look(at(10), at(9)), new=1, first_seen={0: 9, 1: 9})
    early = 1.0 + dating.ENCODER_LAG  # since the previous look, and the encoder's lag
    assert dated == [Dated(at(3), 2.0, early), Dated(at(5), 3.0, early), Dated(at(8), 2.0, early)]


def test_the_walk_stops_at_a_known_date_a_discontinuity_and_an_impossible_gap() -> None:
    known = {0: Dated(at(-100), 2.0)}
    dated = date(playlist("a", "b", "c"), Look(at(10), at(9)), known=known, new=1)
    assert dated[0] == known[0] and dated[1] is not None  # a stored date never moves

    across = date(playlist("a", "|b", "c"), Look(at(10), at(9)), new=1)
    assert across[0] is None and across[1] is not None  # the far side of a discontinuity

    # b was listed at 3 s: it cannot have ended at 8 s, as the walk from c would say. The
    # encoder stalled after b (no discontinuity written): b and a stay undated.
    stalled = date(playlist("a", "b", "c"), Look(at(10), at(9)), new=1, first_seen={0: 3, 1: 3})
    assert stalled[:2] == [None, None] and stalled[2] is not None


def test_nothing_is_dated_when_the_newest_segment_is_not_new_or_the_look_is_not_recent() -> None:
    assert date(playlist("a", "b"), Look(at(10), at(9)), new=0) == [None, None]
    assert date(playlist("a", "b"), Look(at(10), None), new=2) == [None, None]


def test_the_walk_goes_back_at_most_backfill_segments() -> None:
    many = playlist(*(f"s{i}" for i in range(dating.BACKFILL + 5)))
    dated = date(many, Look(at(10_000), at(9_999)), new=1)
    assert dated[4] is None and all(d is not None for d in dated[5:])  # the last BACKFILL


def test_a_pdt_that_agrees_with_what_was_seen_is_used_exactly() -> None:
    # c appeared between the looks at 9 s and 10 s; its PDT says it ran 7.5 s to 9.5 s.
    dated = date(playlist("a!3.5", "b!5.5", "c!7.5"), Look(at(10), at(9)), new=1)
    assert dated == [Dated(at(3.5), 2.0), Dated(at(5.5), 2.0), Dated(at(7.5), 2.0)]


def test_a_pdt_that_disagrees_with_what_was_seen_leaves_the_segment_undated() -> None:
    ahead = date(playlist("a!3.5", "b!60"), Look(at(10), at(9)), new=1)
    # The clock jumped, or the listing lies: refused for good (stored, so a gateway
    # that first sees it after a restart does not believe it either).
    assert ahead == [Dated(at(3.5), 2.0), Dated(at(60), 2.0, dating.REFUSED)]
    behind = date(playlist("a!3.5", "b!-600"), Look(at(10), at(9)), new=1)
    assert behind == [Dated(at(3.5), 2.0), Dated(at(-600), 2.0, dating.REFUSED)]
    # Listed before its PDT says it ended: whenever it appeared, that cannot be.
    [future] = date(playlist("a!30"), Look(at(10), None), new=1)
    assert future is not None and not future.known and not future.inside(at(-999), at(999))


def test_segments_listed_at_once_are_each_dated_as_ending_by_now() -> None:
    # An encoder restarting lists three new segments at once: each may have been made just
    # now, so none is walked back (one after another) into the past.
    dated = date(playlist("r0", "r1", "r2"), Look(at(10), at(9)), new=3)
    assert dated == [Dated(at(8), 2.0, 1.0 + dating.ENCODER_LAG)] * 3


def test_a_clock_that_went_back_dates_nothing_by_watching() -> None:
    assert date(playlist("a", "b"), Look(at(10), at(12)), new=1) == [None, None]


def test_a_pdt_that_disagreed_when_it_appeared_is_never_believed_later() -> None:
    later = Look(at(20), at(19))
    seen = [Sighting(at(10), at(9)), Sighting(at(20), at(19))]
    listed = playlist("a!-600", "b")
    [refused, _] = dating.date(listed.segments, [None, None], seen, later)
    assert refused is not None and not refused.known


def test_whole_inside_means_however_early_it_may_have_begun() -> None:
    part = (at(0), at(100))
    assert Dated(at(0), 2.0).inside(*part)
    assert Dated(at(98.5), 2.0).inside(*part)  # half a second's tolerance for rounding
    assert not Dated(at(99), 10.0).inside(*part)  # straddles the end: 9 s of the next part
    assert not Dated(at(-1), 2.0).inside(*part)
    assert not Dated(at(2), 2.0, early=3.0).inside(*part)  # may have begun at -1 s
    assert Dated(at(3), 2.0, early=3.0).inside(*part)


def test_identity_tells_content_apart_from_its_size_and_edges() -> None:
    body = bytes(range(256)) * 64
    assert dating.identity(body) == dating.identity(bytes(body))
    assert dating.identity(body) != dating.identity(body[:-1] + b"\x00")
    assert dating.identity(body) != dating.identity(b"\x01" + body[1:])
    assert dating.identity(b"") == dating.identity_of_edges(0, b"", b"")
    (head_at, head), (tail_at, tail) = dating.edges(len(body))
    assert dating.identity(body) == dating.identity_of_edges(
        len(body), body[head_at : head_at + head], body[tail_at : tail_at + tail]
    )
    assert dating.segment_key("v/a.ts", (10, 20), "4:ab") == "v/a.ts#10-20@4:ab"
