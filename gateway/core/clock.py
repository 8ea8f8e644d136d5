"""The one place that reads the wall clock.

Core functions take `now` as a value; stateful parts take a `Clock` (a callable
returning an aware UTC datetime) that defaults to `system_clock`. Tests pass a
fixed or movable clock instead of patching time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)  # noqa: TID251 - the edge that reads the clock


class FrozenClock:
    """A clock that stays where it is put; `advance` moves it. For tests and rehearsals."""

    def __init__(self, now: dt.datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self.now = now.astimezone(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)
