"""Waiting for something another process does, bounded: the tests' one polling loop."""

from __future__ import annotations

import time
from collections.abc import Callable


def until(
    check: Callable[[], object], message: str, seconds: float = 20, every: float = 0.1
) -> None:
    """Return once `check()` is true; fail with `message` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{message} (within {seconds:g} s)"
        time.sleep(every)
