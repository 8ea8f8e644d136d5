"""Who may see what, now: the access decision.

`decide` is pure: from the schedule, `now` and a session's state it returns a
`Grant` or raises a domain error; it never reads a clock or a store. What feeds
it (links, cookies, the session cache, the audit log) is
`gateway.sessions.gatekeeper`.
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import NamedTuple

from gateway.core.errors import AccessRefused, NoSession, Revoked
from gateway.core.records import Registrant, Session
from gateway.core.schedule import LiveWindow, Schedule, check_recording, live_window

AREAS = ("live", "recording")


class Grant(NamedTuple):  # a tuple: made on every stream request, 2x cheaper than a dataclass
    area: str
    registrant: str
    session: str
    window: LiveWindow | None  # for live: which segments may be shown


FAR = dt.datetime.max.replace(tzinfo=dt.UTC)  # no change ahead


def next_change(schedule: Schedule, now: dt.datetime, grace: dt.timedelta) -> dt.datetime:
    """The first moment after `now` at which the schedule alone could change a decision:
    a part's start, end or end of grace, the recording's opening or close (or far away)."""
    edges = schedule.boundaries(grace)
    found = bisect.bisect_right(edges, now)
    return edges[found] if found < len(edges) else FAR


SHARED = 1  # s: the longest a filtered playlist is shared by every viewer (nginx's cache)


def shared_for(schedule: Schedule, now: dt.datetime, grace: dt.timedelta) -> int:
    """How many whole seconds a playlist answered at `now` stays true for every viewer
    (nginx's `X-Accel-Expires`): `SHARED`, or 0 when the schedule could change what it
    lists sooner (a part's edge, its grace's end), so no cached answer crosses an edge.
    nginx counts whole seconds from the second it caches in: the answer lives at most
    `SHARED` seconds from now."""
    left = (next_change(schedule, now, grace) - now).total_seconds()
    return SHARED if left >= SHARED else 0


def check_session(
    session: Session | None, registrant: Registrant | None, now: dt.datetime
) -> tuple[Session, Registrant]:
    """The session and its registrant if the session is valid at `now`.

    Raises NoSession (none, expired, ended, or opened with a link since
    superseded by a reissue) or Revoked.
    """
    if session is None or registrant is None or session.expires_at <= now:
        raise NoSession()
    if registrant.revoked:
        raise Revoked(registrant.id)
    if session.link_version != registrant.link_version:
        raise NoSession()
    return session, registrant


def decide(
    area: str,
    schedule: Schedule,
    now: dt.datetime,
    *,
    session: Session | None,
    registrant: Registrant | None,
    grace: dt.timedelta,
    stopped: bool = False,
) -> Grant:
    """Decide whether this session may see `area` ("live" or "recording") at `now`.

    Raises NoSession (none, expired, ended, or opened with a superseded link),
    Revoked, AccessRefused (outside a window, a part not streamed, recording not
    yet open, stopped by ops) or RecordingExpired. Never reads a clock.
    """
    session, registrant = check_session(session, registrant, now)
    if area == "recording":
        check_recording(schedule, now)
        return Grant(area, registrant.id, session.id, None)
    if stopped:
        part = schedule.part_at(now)
        raise AccessRefused("stopped_by_ops", part=part.name if part else None)
    return Grant(area, registrant.id, session.id, live_window(schedule, now, grace))
