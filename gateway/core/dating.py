"""When each live segment was made, and whether it lies whole inside a part.

The other half of the live guarantee (`playlists` cuts the playlist): a
segment is listed and served only when it is *dated* and its whole duration
lies inside the streamed part. Pure: the caller observes the origin and gives
the moments; nothing here reads a clock or does I/O.

How a segment gets its date (the README's live-playlists section says the same
for ops):

- **From the encoder** (`#EXT-X-PROGRAM-DATE-TIME`): its start is the PDT, if
  the PDT agrees with what this replica saw: the segment cannot end after it
  was first listed (`TOLERANCE` allowed), and one that appeared while the
  replica watched cannot end before the previous look less `ENCODER_LAG`. A
  PDT that disagrees (the encoder's clock jumped, or it listed old content as
  new) leaves the segment undated for good (`REFUSED`, stored like a date so no
  replica believes it later): which of the two is wrong cannot be told.
- **From watching** (no PDT): when a replica that looked at the playlist a
  moment ago (`Look.previous`, at most two target durations back) sees new
  segments, each ended by now and after the previous look less `ENCODER_LAG`,
  however many came at once. The segments listed before them are dated
  backwards from where the new ones began: each ends where the next one starts
  (the next start minus its `#EXTINF`). That walk stops at a segment already
  dated, after a discontinuity, at a segment the replica saw listed before the
  walk says it ended (a gap the playlist does not show), at a PDT, and
  `BACKFILL` segments from the live edge. Such dates are the latest the segment
  can have started; `Dated.early` says how much earlier it may really have.
- Anything else is undated and never served live: a playlist first seen (or
  seen again after a gap) is dated only once it grows; one that never grows,
  a stalled one, the far side of a discontinuity stay undated.

A date is bound to the segment's content (`segment_key`: name, byte range and
`identity`): a name rewritten with new content is a new segment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.core.playlists import Range, Segment

REFUSED = math.inf  # `Dated.early` of a segment whose PDT disagreed: never inside a part
TOLERANCE = 0.5  # s: `#EXTINF` rounding, and clocks read on two machines
ENCODER_LAG = 2.0  # s: the longest a segment may take from its end to its listing
BACKFILL = 300  # segments dated backwards from one live edge (10 min of 2 s segments)
_EDGE_BYTES = 4096  # identity: the size and a hash of this many bytes at each end


@dataclass(frozen=True)
class Dated:
    """A segment's date: it started at `start`, or up to `early` seconds before, and
    lasts `duration` s (its `#EXTINF`)."""

    start: dt.datetime
    duration: float
    early: float = 0.0

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.duration)

    @property
    def known(self) -> bool:
        """False for a segment refused for good (`REFUSED`): its PDT once disagreed."""
        return math.isfinite(self.early)

    def inside(self, start: dt.datetime, end: dt.datetime) -> bool:
        """Whether the whole segment lies in `[start, end]`, however early it really
        began (`TOLERANCE` allowed at each edge)."""
        if not self.known:
            return False
        slack = dt.timedelta(seconds=TOLERANCE)
        earliest = self.start - dt.timedelta(seconds=self.early)
        return earliest >= start - slack and self.end <= end + slack


@dataclass(frozen=True)
class Look:
    """One look at a playlist by this replica: `now`; `previous`, the look before it if
    it was recent enough to bound what appeared since; `staleness`, how old the bytes
    read may be (a cache in front of an HTTP origin)."""

    now: dt.datetime
    previous: dt.datetime | None
    staleness: float = 0.0


@dataclass(frozen=True)
class Sighting:
    """When this replica first saw a segment listed (`first`), and the look before that
    one (`after`) if it was recent: then the segment ended in (after - lag, first]."""

    first: dt.datetime
    after: dt.datetime | None = None


def date(
    segments: Sequence[Segment],
    known: Sequence[Dated | None],
    seen: Sequence[Sighting],
    look: Look,
) -> list[Dated | None]:
    """Dates for every segment: `known`'s, and new ones where the module doc allows.

    Per segment (same order): `known` its date if it has one, `seen` when this
    replica first saw it listed (a segment new in this look: `look.now`, after
    `look.previous`).
    """
    if look.previous is not None and look.previous > look.now:  # the clock went back
        look = Look(look.now, None, look.staleness)
    lag = dt.timedelta(seconds=ENCODER_LAG + look.staleness)
    dated = list(known)
    for i, segment in enumerate(segments):
        if dated[i] is None and segment.date is not None:
            claimed = Dated(segment.date, segment.duration)
            # One that disagrees is refused for good, in the store too: a gateway seeing
            # it later for the first time (a restart) must not believe it.
            dated[i] = (
                claimed
                if _agrees(claimed, seen[i], lag)
                else Dated(segment.date, segment.duration, REFUSED)
            )
    if look.previous is None:
        return dated
    # Each segment new since the previous look ended in (previous - lag, now]: so it is
    # dated, however many came at once (an encoder may list a burst after a restart). A
    # segment whose own PDT disagrees is not: the clock or the listing is wrong.
    new = [s.first == look.now and s.after is not None for s in seen]
    early = (look.now - look.previous + lag).total_seconds()
    for i, segment in enumerate(segments):
        if dated[i] is None and new[i] and segment.date is None:
            start = look.now - dt.timedelta(seconds=segment.duration)
            dated[i] = Dated(start, segment.duration, early)
    # Older segments, listed before: back from where the new ones at the end began.
    newest = len(segments)
    while newest > 0 and new[newest - 1]:
        newest -= 1
    if newest == len(segments) or segments[newest].discontinuous:
        return dated
    end = look.now - dt.timedelta(seconds=sum(s.duration for s in segments[newest:]))
    for i in range(newest - 1, max(-1, len(segments) - 1 - BACKFILL), -1):
        late = end > seen[i].first + dt.timedelta(seconds=TOLERANCE)
        if dated[i] is not None or late or segments[i].date is not None:
            break
        duration = segments[i].duration
        start = end - dt.timedelta(seconds=duration)
        dated[i] = Dated(start, duration, early)
        if segments[i].discontinuous:
            break
        end = start
    return dated


def fits(dated: Sequence[Dated | None], start: dt.datetime, end: dt.datetime) -> list[bool]:
    """Per segment: dated, and whole inside `[start, end]`."""
    return [d is not None and d.inside(start, end) for d in dated]


def identity(body: bytes | memoryview) -> str:
    """What tells one content from another under the same name, cheaply: its size and a
    hash of its first and last `_EDGE_BYTES` (see `identity_of_edges`)."""
    view = memoryview(body)
    (head_at, head), (tail_at, tail) = edges(len(view))
    return identity_of_edges(
        len(view), view[head_at : head_at + head], view[tail_at : tail_at + tail]
    )


def identity_of_span(body: bytes, span: Range | None) -> str | None:
    """`identity` of the `span` (offset, length) of `body`, or of all of it; None when
    `body` does not reach that far (yet)."""
    if span is None:
        return identity(body)
    offset, length = span
    if offset + length > len(body):
        return None
    return identity(memoryview(body)[offset : offset + length])


def identity_of_edges(size: int, head: bytes | memoryview, tail: bytes | memoryview) -> str:
    """`identity` from the size and the edges alone (a file origin reads just those):
    `head` the first `_EDGE_BYTES`, `tail` the last ones that are not in `head`."""
    digest = hashlib.blake2b(head, digest_size=8)
    digest.update(tail)
    return f"{size}:{digest.hexdigest()}"


def edges(size: int) -> tuple[Range, Range]:
    """The (offset, length) of the head and tail `identity_of_edges` needs, for `size` bytes."""
    head = min(size, _EDGE_BYTES)
    tail_from = max(_EDGE_BYTES, size - _EDGE_BYTES)
    return (0, head), (tail_from, max(0, size - tail_from))


def segment_key(name: str, byterange: Range | None, content: str) -> str:
    """The store's key for a segment: its name, byte range and content `identity`."""
    span = "" if byterange is None else f"#{byterange[0]}-{byterange[1]}"
    return f"{name}{span}@{content}"


def _agrees(claimed: Dated, seen: Sighting, lag: dt.timedelta) -> bool:
    """Whether an encoder's PDT fits what this replica saw of the segment."""
    slack = dt.timedelta(seconds=TOLERANCE)
    if claimed.end > seen.first + slack:
        return False  # it cannot have ended after it was listed: the encoder's clock is ahead
    # One that appeared while watching cannot have ended long before: else the clock is behind.
    return seen.after is None or claimed.end >= seen.after - lag - slack
